#!/bin/sh
# bench/click.sh: click (302 redirect) throughput of perfmark against nginx.
#
#   sh bench/click.sh [PATH/TO/perfmark]       (make bench builds and runs it)
#
# Starts perfmark (one campaign, token "demo", made through the API) and nginx
# (`return 302`, buffered access log, 2 workers) on loopback in a temp dir,
# then drives both with wrk: keep-alive, and one connection per request
# (`Connection: close`). Prints one line per run (req/s, p50, p99), checks
# that perfmark journaled a click for every request wrk saw completed, and
# ends with the ratio perfmark/nginx as the last line. Exit status 1 when
# the click count does not match, when perfmark's materializer does not
# catch up after a run (within DRAIN_TIMEOUT seconds) or when perfmark dies.
# Environment: DURATION (10s), CONNECTIONS (64), WRK_THREADS (2),
# PM_THREADS (2), NGINX_WORKERS (2), DRAIN_TIMEOUT (120), KEEP_TMP=1 to keep
# the temp dir. See docs/bench.md.
set -u

BIN=${1:-${PERFMARK_BIN:-build/perfmark}}
. "$(dirname "$0")/lib.sh"

[ -x "$BIN" ] || die "no perfmark binary at $BIN (build it: make build)"
need wrk nginx curl awk
setup_tmp

start_perfmark
# The same answer perfmark gives for the demo campaign: a 302 to the offer
# with a fresh id in it, cache-control and two cookies.
start_nginx '        location /c/ {
            add_header Cache-Control "no-store";
            add_header Set-Cookie "pmv=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            add_header Set-Cookie "pmc=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            return 302 "https://offer.example.com/?clickid=$request_id&s1=";
        }'

# A request each to check both answer with a redirect before measuring.
for u in "$PM_URL/c/demo" "$NGINX_URL/c/demo"; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$u") || die "cannot reach $u"
    [ "$code" = 302 ] || die "$u answered $code, not 302"
done

echo "click benchmark: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION, perfmark --threads $PM_THREADS" \
    "($BIN), nginx $NGINX_WORKERS workers; $(nproc 2>/dev/null || echo '?') CPUs"
print_header

# Clicks journaled during the perfmark runs, from /metrics around each run
# (the check requests above are not counted); the materializer is let
# catch up after each perfmark run so it does not eat into the next run.
pm_clicks=0
pm_requests=0
perfmark_run() {
    before=$(metric clicks_total)
    run_wrk "$@"
    pm_alive
    after=$(metric clicks_total)
    pm_clicks=$((pm_clicks + after - before))
    pm_requests=$((pm_requests + W_REQ))
    if drained=$(drain); then
        [ "$drained" -le 1 ] || echo "  (materializer caught up ${drained}s after the run)"
    else
        stalled=1
        echo "  (materializer did NOT catch up within ${drained}s after the run)"
    fi
}
stalled=0

run_wrk nginx-keepalive "$NGINX_URL/c/demo"
ng_ka=$W_RPS
perfmark_run perfmark-keepalive "$PM_URL/c/demo"
pm_ka=$W_RPS
run_wrk nginx-close "$NGINX_URL/c/demo" -H "Connection: close"
ng_close=$W_RPS
perfmark_run perfmark-close "$PM_URL/c/demo" -H "Connection: close"
pm_close=$W_RPS

# Every click wrk saw answered must be journaled. wrk stops with up to one
# request per connection in flight whose click is journaled but not
# counted by wrk, so clicks may exceed requests by a little.
errors=$(metric journal_append_errors_total)
share=$(awk -v c="$pm_clicks" -v r="$pm_requests" 'BEGIN { if (r == 0) print 0; else printf "%.4f\n", 100 * c / r }')
echo "perfmark clicks journaled (perfmark_clicks_total): $pm_clicks; requests completed per wrk: $pm_requests" \
    "($share%); journal append errors: ${errors:-?}"
ok=$(awk -v c="$pm_clicks" -v r="$pm_requests" 'BEGIN { print (r > 0 && c >= 0.999 * r) ? 1 : 0 }')
[ "$stalled" = 0 ] || echo "materializer: did not catch up after a run (see above): clicks journaled but not in the store"
if [ "$ok" = 1 ] && [ "${errors:-0}" = 0 ]; then
    echo "click check: OK (>= 99.9% of completed requests journaled)"
else
    ok=0
    echo "click check: FAILED (fewer than 99.9% of completed requests journaled, or append errors)"
fi

echo "ratio perfmark/nginx (req/s): keep-alive $(ratio "$pm_ka" "$ng_ka"), connection-per-request $(ratio "$pm_close" "$ng_close")"
[ "$ok" = 1 ] && [ "$stalled" = 0 ]
