#!/bin/sh
# bench/instructions.sh: user-space instructions per click, perfmark against
# nginx, counted by valgrind's callgrind: a figure that does not move with
# the machine's load (wall-clock benchmarks on a shared 2-core box do).
#
#   sh bench/instructions.sh [PATH/TO/perfmark]
#
# Both servers run under callgrind, one event loop / one worker each, with
# the same answer as bench/click.sh (302 with two cookies; perfmark journals
# every click, nginx writes a buffered access log). After a warm-up the
# counters are zeroed (callgrind_control -z), REQUESTS keep-alive clicks
# are sent (wrk, 4 connections), perfmark's materializer is let store them,
# and the counters are dumped: every instruction of every thread (h2o,
# the click handler, the journal and its syncer, the materializer writing
# SQLite and the rollups) divided by the clicks. The kernel's work (TCP,
# write, fsync) is not in either figure. Last line: the ratio
# perfmark/nginx. Environment: REQUESTS (20000). See docs/bench.md.
set -u

BIN=${1:-${PERFMARK_BIN:-build/perfmark}}
. "$(dirname "$0")/lib.sh"
REQUESTS=${REQUESTS:-20000}

[ -x "$BIN" ] || die "no perfmark binary at $BIN (build it: make build)"
need wrk nginx curl awk valgrind callgrind_control callgrind_annotate
setup_tmp

cg() { echo "valgrind --tool=callgrind --callgrind-out-file=$TMP/$1.%p.cg --dump-instr=no"; }

PM_THREADS=1 PM_START_TIMEOUT=120 PM_WRAP=$(cg perfmark) start_perfmark
NGINX_WORKERS=1 NGINX_GLOBALS="master_process off;" NGINX_WRAP=$(cg nginx) start_nginx '        location /c/ {
            add_header Cache-Control "no-store";
            add_header Set-Cookie "pmv=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            add_header Set-Cookie "pmc=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            return 302 "https://offer.example.com/?clickid=$request_id&s1=";
        }'

# total_ir PID: the instructions in PID's dump files (all threads).
total_ir() {
    callgrind_control -d "$1" >/dev/null 2>&1 || die "callgrind_control -d $1 failed"
    sleep 1
    for f in "$TMP"/*."$1".cg*; do
        [ -f "$f" ] || continue
        case $f in *.cg) continue ;; esac # the final dump at exit: not ours
        awk '/^summary:/ { s += $2 } END { print s + 0 }' "$f"
    done | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# measure NAME URL PID: warm up, zero, REQUESTS clicks, the dump; prints
# instructions per click and sets IR_PER.
measure() {
    bg_wrk /dev/null -t1 -c4 -d2s "$2"
    [ "$1" = perfmark ] && { drain >/dev/null || die "perfmark's materializer did not catch up"; }
    [ "$1" = nginx ] && sleep 1.2 # let the warm-up's access log lines out first
    callgrind_control -z "$3" >/dev/null 2>&1 || die "callgrind_control -z $3 failed"
    rm -f "$TMP"/*."$3".cg.*
    before=$( [ "$1" = perfmark ] && metric clicks_total || wc -l <"$TMP/nginx/logs/access.log")
    n=0
    # wrk -d does not take a request count: short runs until REQUESTS are done
    while [ "$n" -lt "$REQUESTS" ]; do
        bg_wrk /dev/null -t1 -c4 -d1s "$2"
        if [ "$1" = perfmark ]; then
            now=$(metric clicks_total)
        else
            sleep 1.2 # the access log's flush=1s
            now=$(wc -l <"$TMP/nginx/logs/access.log")
        fi
        n=$((now - before))
    done
    [ "$1" = perfmark ] && { drain >/dev/null || die "perfmark's materializer did not catch up"; }
    ir=$(total_ir "$3")
    IR_PER=$(awk -v a="$ir" -v b="$n" 'BEGIN { printf "%.0f", a / b }')
    printf '%-10s %10d clicks %14d instructions %10d per click\n' "$1" "$n" "$ir" "$IR_PER"
}

echo "instructions per click (callgrind, user space, all threads); perfmark $BIN --threads 1, nginx 1 worker"
measure nginx "$NGINX_URL/c/demo" "$NGINX_PID"
NG=$IR_PER
measure perfmark "$PM_URL/c/demo" "$PM_PID"
echo "ratio perfmark/nginx (instructions per click): $(ratio "$IR_PER" "$NG")"
