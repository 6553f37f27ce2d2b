#!/usr/bin/env bash
# The long run: every target (or the ones named) one after another, each for RUNS executions
# (default 1,000,000) and at most MAX_TIME seconds, at low priority. Logs: fuzz/logs/<target>.log;
# a crash stops that target only (its input lands in fuzz/crashes/) and the next one starts.
# Usage: fuzz/campaign.sh [target ...]    (make fuzz, make fuzz TARGETS="rlp envelope")
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-1000000}
MAX_TIME=${MAX_TIME:-3600}
mkdir -p fuzz/logs
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    read -r -a targets <<< "$($PY -c 'import sys; sys.path.insert(0, "fuzz"); import fuzz_targets as t; print(" ".join(t.TARGETS))')"
fi
for target in "${targets[@]}"; do
    start=$(date +%s)
    nice -n 10 "$PY" fuzz/run.py "$target" -runs="$RUNS" -max_total_time="$MAX_TIME" \
        -print_final_stats=1 > "fuzz/logs/$target.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz/logs/$target.log" | grep -o '[0-9]*$')
    cov=$(grep -E '^#[0-9]+[[:space:]]+DONE' "fuzz/logs/$target.log" | grep -o 'cov: [0-9]* ft: [0-9]* corp: [^ ]*')
    echo "$target rc=$rc execs=${execs:-?} seconds=$(( $(date +%s) - start )) ${cov:-}"
done
