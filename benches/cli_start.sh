#!/usr/bin/env bash
# Process start → printed report for the shipped 100-point decay fit, with a cold disk cache
# (cleared before each run) and a warm one. Median of N runs (default 30).
# Run: cargo build --release && bash benches/cli_start.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./target/release/jitfit
runs=${1:-30}
cache=$(mktemp -d)
export JITFIT_CACHE_DIR="$cache"
args=(fit 'a*exp(-b*time) + c' examples/data/decay.csv --y signal --sigma err)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() {
    for _ in $(seq "$runs"); do
        [ "$1" = cold ] && rm -rf "${cache:?}"/*
        start=$(date +%s%N)
        "$bin" "${args[@]}" > /dev/null
        echo $(( ($(date +%s%N) - start) / 1000 ))
    done | median
}
echo "cold cache: median $(time_runs cold) µs over $runs runs"
"$bin" "${args[@]}" > /dev/null
echo "warm cache: median $(time_runs warm) µs over $runs runs"
rm -rf "$cache"
