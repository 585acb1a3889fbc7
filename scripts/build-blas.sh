#!/usr/bin/env bash
# Builds sps's native kernels (native/sps_blas.c: products and convolutions; sps_passes.c: one-pass kernels; sps_lstm.c; sps_crf.c) into native/build/sps_blas.node, the addon behind
# `--backend blas` (docs/backends.md). Plain gcc against Node's N-API header, OpenBLAS and oneDNN: no
# node-gyp, no download. When gcc or a library's headers are missing it installs them from Debian's
# packages (gcc, libc6-dev, libopenblas-openmp-dev, libdnnl-dev) with apt-get, as root; elsewhere it
# says what to install.
# Run again after editing the C source; a build that is newer than its source is kept.
# --if-possible (what `npm ci` runs): build only with what is installed, install nothing, and where
# that is not enough say so in one line and exit 0, so the install goes on without the fast back end.
set -euo pipefail
cd "$(dirname "$0")/.."

if_possible=0
[ "${1:-}" = "--if-possible" ] && { if_possible=1; shift; }
die() {
  if [ $if_possible -eq 1 ]; then
    echo "sps: the fast back end (blas) is not built: $*; sps runs on wasm until you run: npm run build:blas" >&2
    exit 0
  fi
  echo "build-blas: $*" >&2; exit 1
}
srcs=(native/sps_blas.c native/sps_passes.c native/sps_lstm.c native/sps_crf.c)
headers=(native/sps_napi.h)
out=native/build/sps_blas.node

node_include() {
  local d
  for d in "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node /usr/local/include/node; do
    [ -f "$d/node_api.h" ] && { echo "$d"; return 0; }
  done
  return 1
}

openblas_include() {
  local d
  for d in /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/x86_64-linux-gnu/openblas-pthread \
    /usr/include/aarch64-linux-gnu/openblas-openmp /usr/include/aarch64-linux-gnu/openblas-pthread /usr/include/openblas; do
    [ -f "$d/cblas.h" ] && { echo "$d"; return 0; }
  done
  if command -v pkg-config >/dev/null && pkg-config --exists openblas; then
    pkg-config --variable=includedir openblas
    return 0
  fi
  return 1
}

up_to_date() {
  local f
  [ -f "$out" ] || return 1
  for f in "${srcs[@]}" "${headers[@]}"; do [ "$out" -nt "$f" ] || return 1; done
}
if up_to_date && [ "${1:-}" != "--force" ]; then
  [ $if_possible -eq 1 ] || echo "build-blas: $out is up to date"
  exit 0
fi

dnnl_present() { [ -f /usr/include/oneapi/dnnl/dnnl.h ] || [ -f /usr/local/include/oneapi/dnnl/dnnl.h ]; }

packages="gcc libc6-dev libopenblas-openmp-dev libdnnl-dev"
if ! command -v gcc >/dev/null || ! openblas_include >/dev/null || ! dnnl_present; then
  [ $if_possible -eq 0 ] || die "gcc or the headers of OpenBLAS or oneDNN are missing (Debian: sudo apt-get install -y $packages)"
  command -v apt-get >/dev/null || die "gcc and the headers of OpenBLAS and oneDNN are needed (your distribution's openblas and onednn development packages)"
  [ "$(id -u)" -eq 0 ] || die "gcc or the headers of OpenBLAS or oneDNN are missing: sudo apt-get install -y $packages (or sudo $0)"
  echo "build-blas: installing $packages with apt-get" >&2
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends $packages >&2
fi
inc_node=$(node_include) || die "Node's N-API header (include/node/node_api.h) was not found next to $(command -v node) nor in /usr/include/node"
inc_blas=$(openblas_include) || die "OpenBLAS's cblas.h was not found after installing libopenblas-openmp-dev"
dnnl_present || die "oneDNN's oneapi/dnnl/dnnl.h was not found after installing libdnnl-dev"

mkdir -p native/build
tmp="$out.tmp-$$"
# -O3 vectorises the loops along the labels; sps_crf.c's hot functions are also cloned for AVX-512 and
# AVX2 (picked at load time), so the build needs no -march and runs on any x86-64. -ffp-contract=off
# and no -ffast-math: the clones compute the same bits (docs/blas-kernels.md).
gcc -O3 -ffp-contract=off -fno-math-errno ${SPS_BLAS_CFLAGS:-} -std=c11 -Wall -Wextra -Werror -fPIC -shared -I"$inc_node" -I"$inc_blas" "${srcs[@]}" -o "$tmp" -lopenblas -ldnnl -lm \
  || { rm -f "$tmp"; die "gcc could not compile ${srcs[*]}"; }
mv "$tmp" "$out"
echo "build-blas: built $out (N-API from $inc_node, OpenBLAS from $inc_blas, oneDNN)"
