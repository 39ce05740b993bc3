#!/usr/bin/env bash
# Run each libFuzzer target for a bounded time, starting from the committed
# seed corpus, and report executions and findings.
#
#   fuzz/run.sh [-d FUZZ_DIR] [-t SECONDS] [TARGET...]
#
#   -d FUZZ_DIR  where fuzz/build.sh put the fuzzers (default: build-fuzz)
#   -t SECONDS   time per target (default: 60)
#   TARGET       a name from fuzz/targets (default: all of them)
#
# New inputs go to FUZZ_DIR/work/<target>/corpus (the committed seeds in
# fuzz/corpus/<target> are only read); a crash, leak, timeout or
# out-of-memory input is written to FUZZ_DIR/work/<target>/ as crash-*,
# leak-*, timeout-* or oom-* and makes the exit status 1. Options:
# -rss_limit_mb=2048 (so -malloc_limit_mb=2048: any single allocation over
# 2 GB is a finding), -timeout=10 s per input.
set -uo pipefail

CALLER=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Relative paths in the options are taken from the caller's directory.
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$CALLER/$1" ;; esac; }
DIR=build-fuzz
SECS=60
while getopts "d:t:" o; do
    case $o in
    d) DIR=$OPTARG ;;
    t) SECS=$OPTARG ;;
    *) echo "usage: $0 [-d FUZZ_DIR] [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
DIR=$(abspath "$DIR")
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && read -r -a TARGETS <"$ROOT/fuzz/targets"

# Symbolized stack traces when llvm-symbolizer is around.
for s in llvm-symbolizer llvm-symbolizer-14; do
    if command -v $s >/dev/null; then
        export ASAN_SYMBOLIZER_PATH=$(command -v $s)
        break
    fi
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
summary=()
for t in "${TARGETS[@]}"; do
    exe=$DIR/fuzz-$t
    if [ ! -x "$exe" ]; then
        echo "fuzz/run.sh: $exe is missing (run fuzz/build.sh first)" >&2
        exit 2
    fi
    work=$DIR/work/$t
    rm -rf "$work"
    mkdir -p "$work/corpus"
    log=$work/fuzz.log
    echo "== fuzz-$t: ${SECS} s from $(ls "$ROOT/fuzz/corpus/$t" | wc -l) seeds"
    "$exe" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n1)
    found=$(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
    line="fuzz-$t: ${SECS} s, ${execs:-?} executions, ${cov:-no coverage line}, corpus $(ls "$work/corpus" | wc -l) new inputs"
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        status=1
        line="$line, FINDING (exit $rc): $found"
        echo "---- last 60 lines of $log"
        tail -n 60 "$log"
        for f in $found; do
            echo "---- $work/$f ($(stat -c %s "$work/$f") bytes), base64:"
            base64 "$work/$f" | head -c 4000
            echo
        done
    fi
    echo "$line"
    summary+=("$line")
done
echo
echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit $status
