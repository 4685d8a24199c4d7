#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]: `make fuzz`. Builds the libFuzzer targets with
# clang (-fsanitize=fuzzer,address,undefined) into build-fuzz and runs each
# for SECONDS (default: FUZZ_SECONDS, else 60) on a copy of its seed corpus
# (tests/fuzz/corpus/NAME, with tests/fuzz/NAME.dict), so new inputs stay out of the tree. A crash,
# leak or sanitizer report fails the run; the reproducer is left in
# build-fuzz/artifacts/NAME/. Env: FUZZ_BUILD (build-fuzz), FUZZ_JOBS (nproc),
# FUZZ_SEED (0: a new random seed each run; CI fixes one so that its run
# retraces a path that was explored before it landed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-${FUZZ_SECONDS:-60}}
B=${FUZZ_BUILD:-$ROOT/build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc)}
command -v clang >/dev/null || { apt-get update -qq && apt-get install -y -qq clang >/dev/null; }

extra=()
grep -q 'tests/fuzz/fuzz.cmake' "$ROOT/CMakeLists.txt" ||
    extra=(-DCMAKE_PROJECT_INCLUDE="$ROOT/tests/fuzz/fuzz.cmake")
cmake -S "$ROOT" -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCORDER_FUZZ=ON -DCMAKE_C_FLAGS=-Wno-unknown-warning-option "${extra[@]}" >/dev/null
cmake --build "$B" -j"$JOBS" --target fuzz_dispatch fuzz_policy fuzz_upload
cmake --build "$B" -j"$JOBS" --target fuzz_order

# One target: its corpus copy, then libFuzzer; the exit status in
# fuzz_NAME.status (the targets run FUZZ_JOBS at a time, each on a core of
# its own: four of 45 s took three minutes of CI one after another).
fuzz_one() {
    local name=$1 work="$B/corpus/$1" art="$B/artifacts/$1/" rc=0
    rm -rf "$work"
    mkdir -p "$work" "$art"
    cp "$ROOT/tests/fuzz/corpus/$name/"* "$work/"
    # The policy target also starts from every shipped policy and test fixture,
    # taken from where they live rather than kept here twice.
    [ "$name" = policy ] && cp "$ROOT"/policies/*.lua "$ROOT"/tests/policies/fixtures/*.lua "$work/"
    local dict=()
    [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$name.dict")
    (cd "$B" && CORDER_ROOT="$ROOT" ASAN_OPTIONS=detect_leaks=1 \
        "./fuzz_$name" -seed="${FUZZ_SEED:-0}" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        -artifact_prefix="$art" -print_final_stats=1 "${dict[@]}" "$work" >"$B/fuzz_$name.log" 2>&1) || rc=$?
    echo "$rc" >"$B/fuzz_$name.status"
}

names=(dispatch policy upload order)
for name in "${names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    echo "fuzz_$name: ${SECS}s"
    rm -f "$B/fuzz_$name.status"
    fuzz_one "$name" &
done
wait

status=0
for name in "${names[@]}"; do
    if [ "$(cat "$B/fuzz_$name.status" 2>/dev/null)" != 0 ]; then
        echo "fuzz_$name: FAILED (log: $B/fuzz_$name.log, reproducer in $B/artifacts/$name/)"
        tail -40 "$B/fuzz_$name.log"
        status=1
    else
        echo "fuzz_$name:"
        grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$B/fuzz_$name.log" | tail -2
    fi
done
exit $status
