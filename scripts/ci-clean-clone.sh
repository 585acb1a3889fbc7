#!/usr/bin/env bash
# Run .ci/run on a fresh clone of the committed tree, as CI does: catches install steps that only work
# because of files lying around in the working copy. Usage: scripts/ci-clean-clone.sh [git-ref]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
ref="${1:-HEAD}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# CI finds the shared data at ../shared relative to the clone; point it there explicitly.
git clone --quiet "$src" "$work/main"
git -C "$work/main" checkout --quiet "$ref"
SPS_SHARED_DATASETS="${SPS_SHARED_DATASETS:-$src/../shared/datasets}" bash "$work/main/.ci/run"
