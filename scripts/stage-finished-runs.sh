#!/usr/bin/env bash
# Stage for commit the finished run folders of a results directory (run.json says done and
# final.json exists), its README.md and sweep.json; unfinished or failed runs stay out of git.
# Usage: scripts/stage-finished-runs.sh results/ocr
set -euo pipefail
dir="${1:?usage: scripts/stage-finished-runs.sh RESULTS_DIR}"
cd "$(git rev-parse --show-toplevel)"
n=0
for d in "$dir"/*/; do
  [ -f "$d/final.json" ] && [ -f "$d/run.json" ] || continue
  if node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).status === "done" ? 0 : 1)' "$d/run.json"; then
    git add "$d"
    n=$((n + 1))
  fi
done
for f in README.md sweep.json; do [ -f "$dir/$f" ] && git add "$dir/$f"; done
echo "staged $n finished runs of $dir"
