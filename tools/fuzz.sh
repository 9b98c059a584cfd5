#!/bin/sh
# Run every libFuzzer target in BUILD_DIR for SECONDS each over its checked-in
# corpus (fuzz/corpus/<name>, copied so the repository is not written to).
# Any crash, leak or sanitizer report fails the run.
set -eu
build=$1
seconds=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" | sed 's/^fuzz_//')
    mkdir -p "$work/$name"
    [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/$name/"
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/$name" >"$work/$name.log" 2>&1; then
        echo "fuzz: $name ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/$name.log" | awk '{print $2}') runs)"
    else
        echo "fuzz: $name FAILED"; tail -40 "$work/$name.log"; status=1
    fi
done
exit $status
