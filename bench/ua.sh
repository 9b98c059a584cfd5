#!/bin/sh
# bench/ua.sh: cost of the visitor detectors: ns per user-agent parse cold
# and warm (LRU cache), with the crawler list, and per geo lookup, over
# uap-core's test_ua.yaml user agents. Release build: make build first.
#
#   sh bench/ua.sh [BUILD_DIR]          (default build)
set -eu
build=${1:-build}
[ -x "$build/bench_ua" ] || { echo "bench: no $build/bench_ua (build it: make build)" >&2; exit 1; }
exec "$build/bench_ua" /usr/share/uap-core/tests/test_ua.yaml
