#!/usr/bin/env bash
# Throughput of `sps run` with --jobs 1 and --jobs 2 on a fixed tiny grid (a benchmark, not a test):
# the 10 OCR cells of configs/smoke.yaml with $TRAIN_WORDS (default 1000) training words and 2 epochs, on wasm.
# Needs the OCR data prepared (sps prepare ocr [--from DIR]). Prints cells per hour and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
grid=(configs/smoke.yaml "data.train_words=${TRAIN_WORDS:-1000}" train.epochs=2 'train.stage={unary_epochs: 1, pairwise_epochs: 1, joint_epochs: 1}' --backend wasm)
declare -A rate
for jobs in 1 2; do
  out="$(mktemp -d)"
  start=$(date +%s.%N)
  ./bin/sps run "${grid[@]}" --out "$out" --jobs "$jobs" > "$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  end=$(date +%s.%N)
  cells=$(ls -d "$out"/*/ | wc -l)
  rate[$jobs]=$(echo "$cells * 3600 / ($end - $start)" | bc -l)
  printf 'jobs=%s: %d cells in %.1f s = %.0f cells/hour\n' "$jobs" "$cells" "$(echo "$end - $start" | bc -l)" "${rate[$jobs]}"
  rm -rf "$out" "$out.log"
done
printf 'throughput ratio jobs=2 / jobs=1: %.2f\n' "$(echo "${rate[2]} / ${rate[1]}" | bc -l)"
