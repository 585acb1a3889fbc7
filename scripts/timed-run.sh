#!/usr/bin/env bash
# Runs one sweep and logs its wall time:
#   sps run CONFIG --out OUT --jobs 2 --no-table [OVERRIDES...]
# then appends the commit, the config, the start and end times, the seconds and the exit code to
# TIMES (a TSV, created with its header). A sweep is resumable: run this again and only unfinished
# cells run; a sweep killed before it ends writes no line, so each line is one uninterrupted stretch.
# Usage: scripts/timed-run.sh TIMES CONFIG OUT [OVERRIDES...]. Run it from a git worktree at a fixed
# commit with OUT in the main checkout, so that the results land there while the code stays fixed.
set -u
times=${1:?usage: scripts/timed-run.sh TIMES CONFIG OUT [OVERRIDES...]}
config=${2:?usage: scripts/timed-run.sh TIMES CONFIG OUT [OVERRIDES...]}
out=${3:?usage: scripts/timed-run.sh TIMES CONFIG OUT [OVERRIDES...]}
shift 3
[ -f "$config" ] || { echo "timed-run: $config does not exist" >&2; exit 2; }
commit=$(git rev-parse --short=12 HEAD)
mkdir -p "$(dirname "$times")"
[ -f "$times" ] || printf 'commit\tconfig\tstarted\tended\tseconds\texit\n' >"$times"
start=$(date +%s)
echo "== $(date -u +%FT%TZ) $config -> $out"
node "$(dirname "$0")/../bin/sps" run "$config" --out "$out" --jobs 2 --no-table "$@"
code=$?
end=$(date +%s)
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$commit" "$config" "$(date -u -d @"$start" +%FT%TZ)" "$(date -u -d @"$end" +%FT%TZ)" $((end - start)) "$code" >>"$times"
exit "$code"
