#!/usr/bin/env bash
# PyTorch for the side-by-side bench (`npm run bench -- models --vs pytorch`, bench/pytorch_models.py):
# installs Debian's python3-torch with apt-get when no Python the bench looks at can `import torch`.
# Needs root. The bench looks at $SPS_PYTHON, then python3 on PATH, then /usr/bin/python3 (where
# Debian's package lands when PATH's python3 is another one, e.g. pyenv's).
set -euo pipefail

die() { echo "install-torch: $*" >&2; exit 1; }

has_torch() {
  local py
  for py in ${SPS_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch' >/dev/null 2>&1; then
      echo "install-torch: $py has torch $("$py" -c 'import torch; print(torch.__version__)')"
      return 0
    fi
  done
  return 1
}

has_torch && exit 0
command -v apt-get >/dev/null || die "no apt-get here (not Debian/Ubuntu); install PyTorch for python3 some other way (pip install torch) and point SPS_PYTHON at that python"
[ "$(id -u)" -eq 0 ] || die "torch is missing and installing it needs root: sudo apt-get install -y python3-torch (or sudo $0)"
echo "install-torch: installing python3-torch with apt-get" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 python3-torch >&2
has_torch || die "python3-torch is installed but no python imports torch (is /usr/bin/python3 Debian's?)"
