#!/usr/bin/env bash
# The fits shared by MPI ranks (cargo feature `mpi`), against the one-process fit: run by
# .ci/run after `cargo build --release --features mpi --bin jitfit`, or by hand:
#   bash tests/mpi/run.sh [target/release/jitfit]
# Every rank count's JSON report must equal the one-process report but for the timings; a
# missing input must stop every rank with exit 1 (never a hang: each run has a time limit).
set -euo pipefail
jitfit="$(realpath "${1:-target/release/jitfit}")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export JITFIT_CACHE_DIR="$work/cache" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mpi() { timeout 120 mpirun --oversubscribe -np "$@"; }

# 300 001 points: 37 chunks of 8192, the last one short; σ from a column.
"$jitfit" generate 'a*exp(-b*x) + c' "$work/d" --n 300001 --params a=3,b=0.7,c=0.5 > /dev/null
model='a*exp(-b*x) + c'
fit=(fit "$model" --x "$work/d/x.npy" --y "$work/d/y.npy" --p0 a=1,b=1,c=0 --json)
# Timings differ, and the backend's note says how many ranks shared the fit.
strip() { grep -v -E '"[a-z_]*seconds":|"note": ' "$1"; }

"$jitfit" "${fit[@]}" > "$work/one.json"
for n in 2 3; do
    mpi "$n" "$jitfit" "${fit[@]}" > "$work/ranks$n.json"
    if ! diff <(strip "$work/one.json") <(strip "$work/ranks$n.json"); then
        echo "FAIL: $n ranks differ from one process"; exit 1
    fi
    grep -q "\"note\": \"cpu: the fit is shared by $n processes" "$work/ranks$n.json" || { echo "FAIL: no note of $n ranks"; exit 1; }
    echo "ok: $n ranks, the one-process fit bit for bit (JSON report)"
done

# A robust loss and bounds take the same path.
robust=(fit "$model" --x "$work/d/x.npy" --y "$work/d/y.npy" --p0 a=1,b=1,c=0 --loss soft_l1 --f-scale 0.1 --bounds c=0:inf --json)
"$jitfit" "${robust[@]}" > "$work/one_robust.json"
mpi 3 "$jitfit" "${robust[@]}" > "$work/ranks_robust.json"
diff <(strip "$work/one_robust.json") <(strip "$work/ranks_robust.json") || { echo "FAIL: soft_l1 on 3 ranks"; exit 1; }
echo "ok: 3 ranks, soft_l1 with a bound"

# Checkpoints: 2 ranks die right after rank 0 wrote iteration 3's; 3 ranks resume from it and
# finish with the uninterrupted one-process fit.
set +e
JITFIT_ABORT_AFTER_CHECKPOINT=3 mpi 2 "$jitfit" "${fit[@]}" --checkpoint "$work/ck.json" > /dev/null 2>&1
status=$?
set -e
[ "$status" -ne 0 ] && [ -s "$work/ck.json" ] || { echo "FAIL: no checkpoint from the interrupted ranks (exit $status)"; exit 1; }
mpi 3 "$jitfit" "${fit[@]}" --resume "$work/ck.json" > "$work/resumed.json"
diff <(strip "$work/one.json") <(strip "$work/resumed.json") || { echo "FAIL: resumed on 3 ranks"; exit 1; }
echo "ok: checkpoint written on 2 ranks, resumed on 3: the one-process fit"

# A missing input: every rank stops with exit 1.
set +e
mpi 2 "$jitfit" fit "$model" --x "$work/missing.npy" --y "$work/d/y.npy" > "$work/out" 2> "$work/err"
status=$?
set -e
if [ "$status" -ne 1 ] || ! grep -q 'missing.npy' "$work/err"; then
    echo "FAIL: a missing file gave exit $status:"; cat "$work/err"; exit 1
fi
echo "ok: a missing file stops every rank (exit 1)"

# What cannot be shared is refused.
set +e
mpi 2 "$jitfit" "${fit[@]}" --plot "$work/p.svg" > /dev/null 2> "$work/err"
status=$?
set -e
if [ "$status" -ne 1 ] || ! grep -q -- '--plot is not available' "$work/err"; then
    echo "FAIL: --plot under mpirun gave exit $status:"; cat "$work/err"; exit 1
fi
echo "ok: --plot is refused under mpirun"
# Batches: 1 001 data sets of 25 points (ids as text, some fits failing to start: a NaN), the
# rows split between the ranks and gathered in input order — the CSV must be the one-process
# CSV, byte for byte, with the exact and the compact solver; the summary's counts agree.
awk 'BEGIN { srand(7); print "id,x,y"; for (s = 0; s <= 1000; s++) for (i = 0; i < 25; i++) {
    x = i * 0.4; y = (2 + s % 5) * exp(-(0.3 + (s % 7) * 0.1) * x) + 0.5 + 0.01 * (rand() - 0.5);
    if (s == 500 && i == 3) y = "nan"; printf "w%d,%g,%s\n", s, x, y } }' > "$work/sets.csv"
for solver in exact compact; do
    batch=(batch 'a*exp(-b*x) + c' "$work/sets.csv" --by id --p0 a=1,b=1,c=0 --solver "$solver")
    "$jitfit" "${batch[@]}" > "$work/one.csv" 2> "$work/one.err" || true
    for n in 2 3; do
        mpi "$n" "$jitfit" "${batch[@]}" > "$work/ranks.csv" 2> "$work/ranks.err" || true
        if ! cmp -s "$work/one.csv" "$work/ranks.csv"; then
            echo "FAIL: batch --solver $solver on $n ranks differs from one process"; diff "$work/one.csv" "$work/ranks.csv" | head; exit 1
        fi
        if [ "$(grep 'fits/s' "$work/one.err" | sed 's/[0-9]* fits\/s.*//')" != "$(grep 'fits/s' "$work/ranks.err" | sed 's/[0-9]* fits\/s.*//')" ]; then
            echo "FAIL: batch --solver $solver on $n ranks: another summary"; cat "$work/one.err" "$work/ranks.err"; exit 1
        fi
    done
    echo "ok: batch --solver $solver, 2 and 3 ranks: the one-process CSV byte for byte ($(wc -l < "$work/one.csv") lines)"
done
# --out: rank 0 writes the file.
mpi 2 "$jitfit" batch 'a*exp(-b*x) + c' "$work/sets.csv" --by id --p0 a=1,b=1,c=0 --out "$work/out.csv" 2> /dev/null || true
"$jitfit" batch 'a*exp(-b*x) + c' "$work/sets.csv" --by id --p0 a=1,b=1,c=0 > "$work/one.csv" 2> /dev/null || true
cmp -s "$work/one.csv" "$work/out.csv" || { echo "FAIL: batch --out on 2 ranks"; exit 1; }
echo "ok: batch --out on 2 ranks"
echo "MPI tests passed"
