#!/bin/sh
# bench/report.sh: how fast reports answer from rollups, against the same
# questions asked of the raw SQLite event tables with plain SQL.
#
#   sh bench/report.sh [perfmark-binary]          # release build: build/perfmark
#   EVENTS=5000000 sh bench/report.sh             # a quicker run (default 100M, the issue's figure)
#   DATA=/path/kept sh bench/report.sh            # reuse (or keep) a loaded data dir: a finished
#                                                 # load only; its rollups are rebuilt first when
#                                                 # they are another build's
#   RAW=1,2,12 sh bench/report.sh                 # plain SQL for these questions only (all, none,
#                                                 # or numbers): at 100M events one takes minutes
#
# 1. Loads EVENTS synthetic events over DAYS days into a fresh store through
#    the real write path (journal -> materializer -> report sink):
#    `perfmark report --bench-load` (src/cli/report_load.c).
# 2. Times 20 typical reports (1-3 group-by dimensions, 7 and 30 days, with
#    filters) with `perfmark report --timing` (the engine's time, the
#    median of RUNS runs; shown on stderr as they finish), then the same
#    questions in plain SQL on the raw tables with the sqlite3 shell (one
#    run each), and prints both, the ratio, p50 and p95.
# 3. Prints the rollups' disk size per 1M events (SQLite dbstat) and the
#    peak memory of the load.
# Never part of CI's pass/fail (docs/reports.md).
set -eu

BIN=${1:-${PERFMARK_BIN:-build/perfmark}}
EVENTS=${EVENTS:-100000000}
DAYS=${DAYS:-30}
RUNS=${RUNS:-3}
RAW=${RAW:-all}
TMP=

die() { echo "bench: $*" >&2; exit 1; }
for tool in sqlite3 awk sort date; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found"; done
[ -x "$BIN" ] || die "no perfmark binary at $BIN (make build)"

cleanup() {
    if [ -n "$TMP" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${DATA:-}" ]; then
    DIR=$DATA
else
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/perfmark-report-bench.XXXXXX")
    DIR=$TMP/data
fi
DB=$DIR/perfmark.db

now_ms() { date +%s%3N; }

# A reused data dir (DATA=) must hold a finished load: a load cut short
# (Ctrl-C, a full disk, the machine stopped) leaves a store that would time
# reports on part of the events. The marker is written when the load ends well.
LOADED=$DIR/bench-loaded
if [ -f "$DB" ] && [ ! -f "$LOADED" ]; then
    die "$DIR holds a store without $LOADED (an unfinished load?): remove $DIR and run again"
fi
if [ ! -f "$DB" ]; then
    echo "bench: loading $EVENTS events over $DAYS days into $DIR"
    mkdir -p "$DIR"
    t0=$(now_ms)
    RCF=$(mktemp "${TMPDIR:-/tmp}/perfmark-report-load.XXXXXX")
    load() {
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -o "$RCF.rss" -f '%M' "$BIN" report --data "$DIR" --bench-load "$EVENTS" --bench-days "$DAYS"
        else
            "$BIN" report --data "$DIR" --bench-load "$EVENTS" --bench-days "$DAYS"
        fi
    }
    # The exit status comes out through a file: POSIX sh has no pipefail.
    { load 2>&1 && echo 0 > "$RCF" || echo $? > "$RCF"; } | grep -v '^20[0-9][0-9]-' | tr '\r' '\n' | grep -v 'journaled$' || true
    load_rc=$(cat "$RCF")
    [ -s "$RCF.rss" ] && echo "bench: load peak RSS $(tail -1 "$RCF.rss") KiB"
    rm -f "$RCF" "$RCF.rss"
    t1=$(now_ms)
    [ "$load_rc" = 0 ] || die "the load failed (exit status $load_rc); $DIR is left as it is"
    # The events end at the load's hour: a store reused on a later day is
    # asked about the same days.
    printf 'events=%s days=%s load_s=%s\nend_day=%s\n' "$EVENTS" "$DAYS" $(( (t1 - t0) / 1000 )) \
        "$(date -u +%F)" > "$LOADED"
    echo "bench: load took $(( (t1 - t0) / 1000 )) s"
fi

D0=$(sed -n 's/^end_day=//p' "$LOADED")
[ -n "$D0" ] || D0=$(date -u +%F)
D1=$(date -u -d "$D0 -1 day" +%F)
D7=$(date -u -d "$D0 -6 days" +%F)
D30=$(date -u -d "$D0 -29 days" +%F)

# Rollups of another shape than this binary's (a store loaded by an older
# build) would send every report to the raw scan: rebuild them first, as a
# server start would, and say how long it took.
rollups_usable() {
    "$BIN" report --data "$DIR" --group-by campaign --from "$D0" --to "$D0" --source rollup --limit 1 >/dev/null 2>&1
}
if ! rollups_usable; then
    echo "bench: the rollups are not this binary's; rebuilding them"
    t0=$(now_ms)
    "$BIN" report --data "$DIR" --rebuild 2>&1 | grep -v '^20[0-9][0-9]-' || true
    rollups_usable || die "the rollups are still not usable"
    echo "bench: rebuild took $(( ($(now_ms) - t0) / 1000 )) s"
fi
us() { echo $(( $(date -u -d "$1" +%s) * 1000000 )); }
T0=$(us "$D0 + 1 day")
T7=$(us "$D7")
T30=$(us "$D30")
T1=$(us "$D1")

# The same question in plain SQL over the raw tables: impressions, clicks,
# unique visitors, approved conversions, cost and revenue per group.
#   raw_sql GROUP_EXPR FROM_US TO_US [EXTRA_WHERE]
raw_sql() {
    g=$1 lo=$2 hi=$3 w=${4:-1}
    gv=$g # clicks and impressions have no conversion type
    case $g in *conversion_type*) gv=NULL ;; esac
    cat <<SQL
SELECT g, sum(i), sum(c), count(DISTINCT v), sum(a), sum(cost), sum(rev) FROM (
 SELECT $gv AS g, 1 AS i, 0 AS c, NULL AS v, 0 AS a, cost_micros AS cost, 0 AS rev
   FROM impressions WHERE ts >= $lo AND ts < $hi AND ($w)
 UNION ALL SELECT $gv, 0, 1, visitor_id || (ts / 86400000000), 0, cost_micros, 0
   FROM clicks WHERE ts >= $lo AND ts < $hi AND ($w)
 UNION ALL SELECT $g, 0, 0, NULL, status = 'approved', CASE status WHEN 'approved' THEN cost_micros ELSE 0 END,
   CASE status WHEN 'approved' THEN revenue_micros ELSE 0 END
   FROM conversions WHERE ts >= $lo AND ts < $hi AND ($w)
) GROUP BY g;
SQL
}

BERLIN_DAY="(ts / 1000000 + 3600) / 86400"
# name ; perfmark report flags ; raw group expression ; raw from ; raw where
QUERIES=$(cat <<EOF
campaigns 7d;--group-by campaign --from $D7 --to $D0;campaign_id;$T7;1
campaigns 30d;--group-by campaign --from $D30 --to $D0;campaign_id;$T30;1
day 30d Berlin;--group-by day --from $D30 --to $D0 --tz Europe/Berlin;$BERLIN_DAY;$T30;1
day x campaign 7d Berlin;--group-by day,campaign --from $D7 --to $D0 --tz Europe/Berlin;campaign_id || '/' || $BERLIN_DAY;$T7;1
hour 2d New York;--group-by hour --from $D1 --to $D0 --tz America/New_York;ts / 3600000000;$T1;1
sources 30d;--group-by traffic_source --from $D30 --to $D0;traffic_source_id;$T30;1
offers 30d, 3 sources;--group-by offer --from $D30 --to $D0 --filter traffic_source:in:1|2|3;offer_id;$T30;traffic_source_id IN (1,2,3)
lander x offer 7d, campaign 1;--group-by lander,offer --from $D7 --to $D0 --filter campaign:eq:1;lander_id || '/' || offer_id;$T7;campaign_id = 1
language 30d;--group-by language --from $D30 --to $D0;language;$T30;1
campaign x source 30d by profit;--group-by campaign,traffic_source --from $D30 --to $D0 --sort -profit;campaign_id || '/' || traffic_source_id;$T30;1
sub1 7d, campaign 1;--group-by sub1 --from $D7 --to $D0 --filter campaign:eq:1;sub1;$T7;campaign_id = 1
sub1 30d, campaign 3;--group-by sub1 --from $D30 --to $D0 --filter campaign:eq:3;sub1;$T30;campaign_id = 3
sub2 x day 7d Berlin, campaign 5;--group-by sub2,day --from $D7 --to $D0 --tz Europe/Berlin --filter campaign:eq:5;sub2 || '/' || $BERLIN_DAY;$T7;campaign_id = 5
sub3 30d, 2 campaigns;--group-by sub3 --from $D30 --to $D0 --filter campaign:in:1|2;sub3;$T30;campaign_id IN (1,2)
utm_source 30d;--group-by utm_source --from $D30 --to $D0;utm_source;$T30;1
utm_medium x day 7d Kolkata;--group-by utm_medium,day --from $D7 --to $D0 --tz Asia/Kolkata;utm_medium || '/' || ((ts / 1000000 + 19800) / 86400);$T7;1
conversion type 30d, source 2;--group-by conversion_type --from $D30 --to $D0 --filter traffic_source:eq:2;conversion_type;$T30;traffic_source_id = 2
week x campaign 30d, 5 campaigns;--group-by week,campaign --from $D30 --to $D0 --filter campaign:in:1|2|3|4|5;campaign_id || '/' || ((ts / 86400000000 + 3) / 7);$T30;campaign_id IN (1,2,3,4,5)
month x offer 30d + previous;--group-by month,offer --from $D30 --to $D0 --compare previous;offer_id || strftime('/%Y-%m', ts / 1000000, 'unixepoch');$(( T30 - 30 * 86400000000 ));1
day 7d, sub4 not kw1/kw2;--group-by day --from $D7 --to $D0 --filter sub4:not_in:kw1|kw2;ts / 86400000000;$T7;sub4 IS NULL OR sub4 NOT IN ('kw1','kw2')
EOF
)

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
pct() { sort -n | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i] }'; }

OUT=${TMP:-$DIR}/bench-report.$$
: > "$OUT.rollup"
: > "$OUT.raw"
: > "$OUT.rows"
# Pass 1: every report from the rollups (the figure the target is about),
# shown as it goes: at 100M events the raw SQL pass takes far longer.
echo "$QUERIES" | while IFS=';' read -r name flags group from where; do
    # Split flags on spaces (filter values hold no spaces); quoting kept simple on purpose.
    set -f
    # shellcheck disable=SC2086
    set -- $flags
    set +f
    : > "$OUT.runs"
    src=
    i=0
    while [ $i -lt "$RUNS" ]; do
        line=$("$BIN" report --data "$DIR" "$@" --timing --format csv --limit 10000 2>&1 >/dev/null | grep '^report:' || true)
        [ -n "$line" ] || die "report \"$name\" failed: $("$BIN" report --data "$DIR" "$@" 2>&1 >/dev/null | tail -1)"
        echo "$line" | awk '{ print $2 }' >> "$OUT.runs"
        src=$(echo "$line" | sed 's/.*(\(.*\))/\1/')
        i=$((i + 1))
    done
    ms=$(median < "$OUT.runs")
    echo "$ms" >> "$OUT.rollup"
    echo "$ms;$src" >> "$OUT.rows"
    printf 'bench: rollups: %-36s %10.1f ms %s\n' "$name" "$ms" "$src" >&2
done
# Pass 2: the same questions in plain SQL on the raw tables, one run each.
printf '%-36s %10s %-18s %10s %8s\n' "report" "rollup ms" "source" "raw SQL ms" "ratio"
echo "$QUERIES" | while IFS=';' read -r name flags group from where; do
    n=$(( ${n:-0} + 1 ))
    ms=$(sed -n "${n}p" "$OUT.rows" | cut -d';' -f1)
    src=$(sed -n "${n}p" "$OUT.rows" | cut -d';' -f2)
    case ",$RAW," in
        *,all,* | *,"$n",*) ;;
        *) printf '%-36s %10.1f %-18s %10s %8s\n' "$name" "$ms" "$src" - -; continue ;;
    esac
    sql=$(raw_sql "$group" "$from" "$T0" "$where")
    t0=$(now_ms)
    echo "$sql" | sqlite3 -readonly "$DB" > /dev/null
    t1=$(now_ms)
    raw=$((t1 - t0))
    echo "$raw" >> "$OUT.raw"
    printf '%-36s %10.1f %-18s %10d %7.0fx\n' "$name" "$ms" "$src" "$raw" "$(echo "$raw $ms" | awk '{ print ($2 > 0 ? $1 / $2 : 0) }')"
done
p50=$(pct 50 < "$OUT.rollup")
p95=$(pct 95 < "$OUT.rollup")
echo
if [ "$RAW" = all ]; then
    r50=$(pct 50 < "$OUT.raw")
    r95=$(pct 95 < "$OUT.raw")
    printf 'rollups: p50 %.1f ms, p95 %.1f ms    raw SQL: p50 %d ms, p95 %d ms    ratio p50 %.0fx, p95 %.0fx\n' \
        "$p50" "$p95" "$r50" "$r95" "$(echo "$r50 $p50" | awk '{ print $1 / $2 }')" "$(echo "$r95 $p95" | awk '{ print $1 / $2 }')"
else # percentiles of different questions make no ratio: see the rows
    printf 'rollups: p50 %.1f ms, p95 %.1f ms    raw SQL: %d of the questions asked (RAW=%s), ratios above\n' \
        "$p50" "$p95" "$(wc -l < "$OUT.raw")" "$RAW"
fi
rm -f "$OUT.rollup" "$OUT.raw" "$OUT.runs" "$OUT.rows"

# A bench store never deletes, so the last rowids count its rows (count(*)
# reads a whole index: minutes at 100M events).
n=$(sqlite3 -readonly "$DB" "SELECT (SELECT coalesce(max(rowid), 0) FROM clicks) + (SELECT coalesce(max(rowid), 0) FROM impressions)
                                    + (SELECT coalesce(max(rowid), 0) FROM conversions)")
echo
echo "disk (SQLite pages, MiB per 1M events; $n events):"
# dbstat walks only the b-trees it is asked about: the rollup tables one by
# one, the rest (event tables, indexes, ledger) as the file minus them. A
# dbstat of everything reads the whole store: minutes at 100M events.
ROLLUP_TABLES="report_seen rollup_campaign_q rollup_campaign_d rollup_main_q rollup_main_d rollup_dim_q rollup_dim_d"
sql=
for t in $ROLLUP_TABLES; do
    sql="$sql${sql:+ UNION ALL }SELECT '$t', (SELECT sum(pgsize) FROM dbstat WHERE name = '$t')"
done
sqlite3 -readonly "$DB" "WITH part(name, bytes) AS ($sql),
                         f(bytes) AS (SELECT page_count * page_size FROM pragma_page_count, pragma_page_size)
                         SELECT name, round(bytes / 1048576.0 / ($n / 1000000.0), 2) FROM part
                         UNION ALL SELECT 'all rollups', round(sum(bytes) / 1048576.0 / ($n / 1000000.0), 2) FROM part
                         UNION ALL SELECT 'events, indexes, the rest', round(((SELECT bytes FROM f) - sum(bytes))
                                                                    / 1048576.0 / ($n / 1000000.0), 2) FROM part" |
    awk -F'|' '{ printf "  %-26s %8.2f\n", $1, $2 }'
