#!/usr/bin/env bash
# Runs the sensitivity studies of configs/studies/ one after another, each with
#   sps run configs/studies/<file>.yaml --out <root>/results/studies/<study> --jobs 2
# and appends to <root>/results/studies/wall-times.tsv the commit, the file, the start and end
# times and the exit code. A sweep is resumable: run this again and only unfinished cells run.
# Usage: scripts/run-studies.sh ROOT [FILE...]   (FILE: a name in configs/studies/, without .yaml;
# default: every study in the order of the issue). Run it from a git worktree at a fixed commit,
# with ROOT the main checkout, so the results land there while the code stays fixed.
set -u
root=${1:?usage: scripts/run-studies.sh ROOT [FILE...]}
shift
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(online-ocr online-chunking offline-reg-ocr offline-reg-chunking optimizer stage-schedule mf-stability-ocr mf-stability-chunking ocr-level)
fi
commit=$(git rev-parse --short=12 HEAD)
mkdir -p "$root/results/studies"
times="$root/results/studies/wall-times.tsv"
[ -f "$times" ] || printf 'commit\tconfig\tstarted\tended\tseconds\texit\n' >"$times"
for f in "${files[@]}"; do
  config="configs/studies/$f.yaml"
  [ -f "$config" ] || { echo "run-studies: $config does not exist" >&2; exit 2; }
  study=${f%-ocr}; study=${study%-chunking}
  start=$(date +%s)
  echo "== $(date -u +%FT%TZ) $config -> $root/results/studies/$study"
  node bin/sps run "$config" --out "$root/results/studies/$study" --jobs 2 --no-table
  code=$?
  end=$(date +%s)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$commit" "$config" "$(date -u -d @"$start" +%FT%TZ)" "$(date -u -d @"$end" +%FT%TZ)" $((end - start)) "$code" >>"$times"
done
