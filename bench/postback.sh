#!/bin/sh
# bench/postback.sh: postback (conversion) throughput of perfmark, whose
# answers wait for the group-committed fdatasync that covers them, against
# nginx answering `return 200` on the same path.
#
#   sh bench/postback.sh [PATH/TO/perfmark]
#
# 1. Starts perfmark (one campaign, --threads 2) and nginx in a temp dir.
# 2. Makes CLICKS clicks (default 200000) with wrk on /c/demo and waits
#    until the materializer has them all in the store.
# 3. Reads their ids back from the events API (GET /api/v1/events?type=click,
#    1000 a page, with an admin key from `perfmark keys create`).
# 4. Drives GET /pb?clickid=<id>&txid=<unique>&payout=1.00 with wrk and
#    bench/postback.lua (64 connections, DURATION), nginx first, then
#    perfmark; prints conversions/s, p50, p99, the fsyncs done
#    (perfmark_journal_fsyncs_total) and conversions per fsync, checks that
#    every completed postback was recorded as a new conversion, and ends
#    with the ratio perfmark/nginx as the last line.
#
# Environment: DURATION (10s), CLICKS (200000), TARGET (20000
# conversions/s), CONNECTIONS, WRK_THREADS, PM_THREADS, PM_SYNC_MS (the
# journal's idle sync period; unset = perfmark's default), KEEP_TMP=1.
# Exit status 1 when the conversion count does not match. See docs/bench.md.
set -u

BIN=${1:-${PERFMARK_BIN:-build/perfmark}}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

CLICKS=${CLICKS:-200000}
TARGET=${TARGET:-20000}

[ -x "$BIN" ] || die "no perfmark binary at $BIN (build it: make build)"
need wrk nginx curl awk sed grep
setup_tmp

start_perfmark
# About the size of perfmark's JSON answer to a postback.
start_nginx '        location = /pb {
            default_type application/json;
            return 200 "{\"result\":\"accepted\",\"conversion_id\":\"$request_id\",\"click_id\":\"01KAAAAAAAAAAAAAAAAAAAAAAA\",\"txid\":\"1-1-1\",\"status\":\"approved\",\"type\":\"conversion\",\"revenue\":{\"amount\":\"1.00\",\"currency\":\"USD\"}}";
        }'

# --- clicks to convert ------------------------------------------------------

echo "postback benchmark: making $CLICKS clicks ..."
t0=$(date +%s)
while :; do
    pm_alive
    have=$(metric clicks_total)
    [ "${have:-0}" -ge "$CLICKS" ] && break
    [ $(($(date +%s) - t0)) -lt 300 ] || die "only ${have:-0} clicks after 300s"
    bg_wrk "$TMP/wrk-clicks.txt" -t"$WRK_THREADS" -c"$CONNECTIONS" -d2s "$PM_URL/c/demo" ||
        { cat "$TMP/wrk-clicks.txt" >&2; die "wrk failed making clicks"; }
done
made=$(($(date +%s) - t0))
drained=$(drain) || die "the materializer did not catch up with $have clicks within ${DRAIN_TIMEOUT}s"
echo "  $have clicks in ${made}s; materializer caught up after ${drained}s more"

# Their ids from the store, a page of 1000 at a time.
ids="$TMP/click-ids.txt"
: >"$ids"
after=
while :; do
    page="$TMP/page.json"
    curl -fsS --max-time 60 -H "Authorization: Bearer $ADMIN_KEY" \
        "$PM_URL/api/v1/events?type=click&limit=1000${after:+&after=$after}" >"$page" ||
        die "GET /api/v1/events failed"
    grep -o '"id": *"[0-9A-Za-z]*"' "$page" | sed 's/.*"\([0-9A-Za-z]*\)"$/\1/' >>"$ids"
    after=$(grep -o '"next": *"[0-9A-Za-z]*"' "$page" | sed 's/.*"\([0-9A-Za-z]*\)"$/\1/')
    [ -n "$after" ] || break
done
nids=$(wc -l <"$ids" | tr -d ' ')
[ "$nids" -ge "$have" ] || die "the events API gave $nids click ids, /metrics counts $have clicks"
echo "  $nids click ids read from /api/v1/events"

# One postback by hand: it must be accepted.
first=$(head -n 1 "$ids")
code=$(curl -sS -o "$TMP/pb-check.json" -w '%{http_code}' "$PM_URL/pb?clickid=$first&txid=check-1&payout=1.00") ||
    die "cannot reach $PM_URL/pb"
[ "$code" = 200 ] || die "a postback for click $first answered $code: $(cat "$TMP/pb-check.json")"

# What one synchronous write costs on the journal's filesystem: a postback
# waits for at least one fdatasync, so CONNECTIONS / that time is a ceiling
# on conversions/s however well fsyncs are grouped.
probe="$TMP/pm/dsync-probe"
dsync_ms=$(LC_ALL=C dd if=/dev/zero of="$probe" bs=512 count=200 oflag=dsync 2>&1 |
    awk '/copied/ { printf "%.3f\n", $(NF - 3) * 1000 / 200 }')
rm -f "$probe"
if [ -n "$dsync_ms" ]; then
    echo "  O_DSYNC 512-byte write on the data dir's filesystem: $dsync_ms ms; ceiling with $CONNECTIONS" \
        "connections and one fsync wait each: $(awk -v c="$CONNECTIONS" -v t="$dsync_ms" 'BEGIN { if (t > 0) printf "%.0f", c * 1000 / t; else print "?" }') conversions/s"
fi

# --- the runs -----------------------------------------------------------------

echo "postbacks: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION -s postback.lua, perfmark --threads $PM_THREADS" \
    "($BIN), nginx $NGINX_WORKERS workers; $(nproc 2>/dev/null || echo '?') CPUs"
print_header
nonce="$$-$(date +%s)"
run_wrk nginx-postback "$NGINX_URL/pb" -s "$HERE/postback.lua" -- "$ids" "ng$nonce"
ng_rps=$W_RPS

c0=$(metric conversions_total)
f0=$(metric journal_fsyncs_total)
d0=$(metric duplicate_postbacks_total)
o0=$(metric orphan_postbacks_total)
run_wrk perfmark-postback "$PM_URL/pb" -s "$HERE/postback.lua" -- "$ids" "pm$nonce"
pm_alive
pm_rps=$W_RPS
pm_requests=$W_REQ
conv=$(($(metric conversions_total) - c0))
fsyncs=$(($(metric journal_fsyncs_total) - f0))
dups=$(($(metric duplicate_postbacks_total) - d0))
orphans=$(($(metric orphan_postbacks_total) - o0))
errors=$(metric journal_append_errors_total)

per_fsync=$(ratio "$conv" "$fsyncs")
printf 'perfmark: %.0f conversions/s (p50 %.3f ms, p99 %.3f ms); %s conversions, %s fsyncs' \
    "$pm_rps" "$W_P50" "$W_P99" "$conv" "$fsyncs"
echo " (perfmark_journal_fsyncs_total), $per_fsync conversions per fsync"
echo "perfmark: duplicates $dups, orphans $orphans, journal append errors ${errors:-?};" \
    "requests completed per wrk: $pm_requests"
echo "target $TARGET conversions/s: $(awk -v r="$pm_rps" -v t="$TARGET" 'BEGIN { print (r >= t) ? "met" : "NOT met" }')"
ok=$(awk -v c="$conv" -v r="$pm_requests" 'BEGIN { print (r > 0 && c >= 0.999 * r) ? 1 : 0 }')
if [ "$ok" = 1 ] && [ "$dups" = 0 ] && [ "$orphans" = 0 ] && [ "${errors:-0}" = 0 ]; then
    echo "conversion check: OK (every completed postback recorded once)"
else
    ok=0
    echo "conversion check: FAILED (conversions < 99.9% of completed postbacks, or duplicates/orphans/append errors)"
fi

echo "ratio perfmark/nginx (postback req/s): $(ratio "$pm_rps" "$ng_rps")"
[ "$ok" = 1 ]
