#!/usr/bin/env bash
# Reruns the cell of one committed run folder from this checkout and compares what it writes with the
# committed files (scripts/rerun-compare.ts): config.json, final.json and every other artifact byte
# for byte, metrics.jsonl line by line without the epoch's `seconds`, and final.json's word-vector
# path (chunking) by file name, since the data folder differs between machines. run.json and log.txt
# hold times and hosts, so they are not compared. The cell is picked by overriding objectives, modes
# and seeds to the run's own, with the back end its config.json asked for (`auto` stays `auto`, so
# config.json can match); the rerun must land in a folder of the same name (the same run id),
# otherwise the config no longer makes that cell, and its run.json must name the same back end as
# the committed one (by its one name: a run recorded as `blas`, the native back end's former name,
# is matched by a rerun on `native`).
# Usage: scripts/rerun-check.sh CONFIG RUN_DIR [OVERRIDES...]   (exit 0 identical, 1 not, 2 bad input)
set -euo pipefail
config=${1:?usage: scripts/rerun-check.sh CONFIG RUN_DIR [OVERRIDES...]}
run=${2:?usage: scripts/rerun-check.sh CONFIG RUN_DIR [OVERRIDES...]}
shift 2
[ -f "$config" ] || { echo "rerun-check: $config does not exist" >&2; exit 2; }
for f in run.json config.json final.json; do
  [ -f "$run/$f" ] || { echo "rerun-check: $run/$f does not exist: give a finished run folder" >&2; exit 2; }
done
root="$(cd "$(dirname "$0")/.." && pwd)"
# objective, mode, seed, requested back end and back end used of the committed run, one per line
mapfile -t cell < <(node -e '
  const { readFileSync } = require("fs");
  const r = JSON.parse(readFileSync(process.argv[1] + "/run.json", "utf8"));
  const c = JSON.parse(readFileSync(process.argv[1] + "/config.json", "utf8"));
  console.log([r.objective, r.mode, r.seed, c.backend ?? "auto", r.backend?.name ?? "?"].join("\n"));' "$run")
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "== rerun of $(basename "$run") (${cell[0]} ${cell[1]} seed ${cell[2]}, back end ${cell[3]}: ${cell[4]}) at $(git -C "$root" rev-parse --short=12 HEAD)"
node "$root/bin/sps" run "$config" "objectives=[${cell[0]}]" "modes=[${cell[1]}]" "seeds=[${cell[2]}]" "$@" \
  --out "$out" --jobs 1 --no-table --backend "${cell[3]}"
fresh="$(find "$out" -mindepth 1 -maxdepth 2 -type d -name "$(basename "$run")" | head -n 1)"
if [ -z "$fresh" ]; then
  echo "rerun-check: the rerun wrote no folder named $(basename "$run"): $config with these overrides makes another run id" >&2
  exit 1
fi
used=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).backend?.name ?? "?")' "$fresh/run.json")
# canonicalBackend of the built sps (bin/sps above runs the same dist/).
same_backend=$(node --input-type=module -e 'const { canonicalBackend: c } = await import(process.argv[1]); console.log(c(process.argv[2]) === c(process.argv[3]))' \
  "$root/dist/core/constants.js" "$used" "${cell[4]}")
if [ "$same_backend" != true ]; then
  echo "rerun-check: the rerun ran on back end $used, the committed run on ${cell[4]}: not comparable on this machine" >&2
  exit 1
fi
# From the repository root, where tsx resolves; the committed folder by its absolute path.
committed="$(cd "$run" && pwd)"
cd "$root" && node --import tsx scripts/rerun-compare.ts "$committed" "$fresh"
