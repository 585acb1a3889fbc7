#!/usr/bin/env bash
# PyTorch for the side-by-side bench (`npm run bench -- models --vs pytorch`, bench/pytorch_models.py):
# installs Debian's python3-torch with apt-get when no Python the bench looks at can `import torch`,
# with OpenBLAS (libopenblas0-openmp): python3-torch only recommends it, and without recommends apt
# satisfies its BLAS dependency with the reference BLAS, many times slower (the bench prints which
# BLAS torch loaded). Debian's torch already there without OpenBLAS gets OpenBLAS added.
# Needs root. The bench uses $SPS_PYTHON when set, else python3 on PATH, else /usr/bin/python3 (where
# Debian's package lands when PATH's python3 is another one, e.g. pyenv's).
set -euo pipefail

die() { echo "install-torch: $*" >&2; exit 1; }

has_torch() {
  local py
  local candidates=(python3 /usr/bin/python3)
  [ -n "${SPS_PYTHON:-}" ] && candidates=("$SPS_PYTHON")
  for py in "${candidates[@]}"; do
    if command -v "$py" >/dev/null && "$py" -c 'import torch' >/dev/null 2>&1; then
      echo "install-torch: $py has torch $("$py" -c 'import torch; print(torch.__version__)')"
      return 0
    fi
  done
  return 1
}

openblas_missing() {
  # dpkg -s fails when any one of the three is absent, so read its output rather than its status.
  local status
  status=$(dpkg -s libopenblas0-openmp libopenblas0-pthread libopenblas0-serial 2>/dev/null || true)
  dpkg -s python3-torch >/dev/null 2>&1 && ! grep -q '^Status: install ok installed' <<<"$status"
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root: sudo apt-get install -y $2 (or sudo $0)"
}

if has_torch; then
  if openblas_missing; then
    need_root "Debian's torch runs on the reference BLAS; adding OpenBLAS" libopenblas0-openmp
    echo "install-torch: adding OpenBLAS (libopenblas0-openmp) for Debian's torch" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 libopenblas0-openmp >&2
  fi
  exit 0
fi
[ -z "${SPS_PYTHON:-}" ] || die "SPS_PYTHON=$SPS_PYTHON cannot import torch; install torch for it (pip install torch) or unset SPS_PYTHON to use Debian's python3-torch"
command -v apt-get >/dev/null || die "no apt-get here (not Debian/Ubuntu); install PyTorch for python3 some other way (pip install torch) and point SPS_PYTHON at that python"
need_root "torch is missing and installing it" "python3-torch libopenblas0-openmp"
echo "install-torch: installing python3-torch with apt-get" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 python3-torch libopenblas0-openmp >&2
has_torch || die "python3-torch is installed but no python imports torch (is /usr/bin/python3 Debian's?)"
