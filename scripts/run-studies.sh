#!/usr/bin/env bash
# Runs the sensitivity studies of configs/studies/ one after another, each with
#   sps run configs/studies/<file>.yaml --out <root>/results/studies/<study> --jobs 2
# (scripts/timed-run.sh), which appends to <root>/results/studies/wall-times.tsv the commit, the file,
# the start and end times and the exit code. A sweep is resumable: run this again and only unfinished cells run.
# Usage: scripts/run-studies.sh ROOT [FILE...]   (FILE: a name in configs/studies/, without .yaml;
# default: every study in the order of the issue). Run it from a git worktree at a fixed commit,
# with ROOT the main checkout, so the results land there while the code stays fixed.
set -u
root=${1:?usage: scripts/run-studies.sh ROOT [FILE...]}
shift
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(online-ocr online-chunking offline-reg-ocr offline-reg-chunking optimizer stage-schedule mf-stability-ocr mf-stability-chunking ocr-level ssvm-dropout
    regime-ocr regime-ocr-ssvm regime-chunking regime-chunking-ssvm reopened-ocr reopened-chunking pos-select pos-select-stage)
fi
for f in "${files[@]}"; do
  [ -f "configs/studies/$f.yaml" ] || { echo "run-studies: configs/studies/$f.yaml does not exist" >&2; exit 2; }
done
for f in "${files[@]}"; do
  # regime-ocr, regime-ocr-ssvm, regime-chunking and regime-chunking-ssvm all go to results/studies/regime;
  # reopened-ocr and reopened-chunking to results/studies/reopened; pos-select-stage to results/studies/pos-select.
  study=${f%-ssvm}; study=${study%-ocr}; study=${study%-chunking}; study=${study%-stage}
  bash "$(dirname "$0")/timed-run.sh" "$root/results/studies/wall-times.tsv" "configs/studies/$f.yaml" "$root/results/studies/$study"
done
