#!/usr/bin/env bash
# What `npm test` needs beyond npm, before the suites start. As root on Debian it installs every
# system package a suite needs (chromium for the report's browser test, slurm-wlm and munge for the
# local Slurm cluster) and builds the native addon (scripts/build-native.sh installs gcc and the
# OpenBLAS and oneDNN headers), so nothing is skipped. Without root, or without apt-get, it installs
# nothing and builds the addon only if the toolchain is there: the suites that need what is missing
# then report themselves as not run, with the command that enables them (test/helpers.ts needs()).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=""
[ -x "${SPS_CHROMIUM:-/usr/bin/chromium}" ] || pkgs="$pkgs chromium"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  pkgs="$pkgs slurm-wlm munge"
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  if [ -n "$pkgs" ]; then
    echo "test-deps: installing$pkgs with apt-get" >&2
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 $pkgs >&2
  fi
  bash scripts/build-native.sh
else
  [ -z "$pkgs" ] || echo "test-deps: not installing$pkgs (that needs root and apt-get); the suites that need them are not run" >&2
  bash scripts/build-native.sh --if-possible
fi
