# bench/lib.sh: helpers shared by bench/click.sh and bench/postback.sh.
# POSIX sh; sourced, not run. The sourcing script sets BIN (the perfmark
# binary) before calling anything here. See docs/bench.md.

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
PM_THREADS=${PM_THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-2}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
# wrk sends no User-Agent, and an empty one is a bot to perfmark (a click
# that costs nothing and skips the rollups' click counters): every wrk run
# here speaks as a browser, as real ad traffic does. BENCH_UA="" for none.
BENCH_UA=${BENCH_UA-Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36}

PM_PID=
NGINX_PID=
WRK_PID=
TMP=

die() {
    echo "bench: $*" >&2
    exit 1
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian: apt-get install -y $tool)"
    done
}

# Everything we started goes away on exit, by pid; the temp dir too unless
# KEEP_TMP=1 (then its path is printed: logs, raw wrk output, journal).
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$WRK_PID" ]; then kill "$WRK_PID" 2>/dev/null; fi
    if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null; fi
    if [ -n "$PM_PID" ]; then kill "$PM_PID" 2>/dev/null; fi
    for pid in $NGINX_PID $PM_PID; do
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do
            sleep 0.1
            n=$((n + 1))
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ -n "$TMP" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
    fi
}

setup_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/perfmark-bench.XXXXXX") || die "mktemp failed"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# A free TCP port on 127.0.0.1: python3 asks the kernel; without python3 a
# pseudo-random high port that ss does not show as listening.
free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null
    then
        return 0
    fi
    p=$(( ($$ * 7919 + $(date +%s)) % 20000 + 20000 ))
    while ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$p\$"; do p=$((p + 1)); done
    echo "$p"
}

# wait_http URL SECONDS [PID]: until URL answers at all (giving up early
# when process PID has exited).
wait_http() {
    n=0
    while ! curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
        n=$((n + 1))
        [ $n -lt $(($2 * 10)) ] || return 1
        sleep 0.1
    done
}

# --- perfmark ---------------------------------------------------------------

# start_perfmark: perfmark serving a fresh data dir, $TMP/pm, on $PM_PORT
# with $PM_THREADS loops, holding one campaign (token "demo": one traffic
# source, one offer, no lander), made through the admin API; ADMIN_KEY is
# set. (`perfmark demo` is not used: its workspace has a dozen campaigns and
# a month of simulated traffic that the first start stores.) PM_WRAP, when
# set, is a command put before perfmark (valgrind ... for bench/instructions.sh).
start_perfmark() {
    PM_PORT=$(free_port)
    PM_URL="http://127.0.0.1:$PM_PORT"
    ADMIN_KEY=$("$BIN" keys create --data "$TMP/pm" --role admin --name bench 2>"$TMP/keys.log") ||
        { cat "$TMP/keys.log" >&2; die "perfmark keys create failed"; }
    ${PM_WRAP:-} "$BIN" serve --data "$TMP/pm" --listen "127.0.0.1:$PM_PORT" --threads "$PM_THREADS" \
        ${PM_SYNC_MS:+--sync-ms "$PM_SYNC_MS"} >"$TMP/perfmark.log" 2>&1 &
    PM_PID=$!
    if ! wait_http "$PM_URL/healthz" "${PM_START_TIMEOUT:-30}" "$PM_PID"; then
        cat "$TMP/perfmark.log" >&2
        die "perfmark did not come up on $PM_URL"
    fi
    src=$(api_create traffic-sources '{"name":"Bench source","postback_url":"https://ads.example.com/conversion?click={external_id}&payout={payout}"}')
    offer=$(api_create offers '{"name":"Bench offer","url":"https://offer.example.com/?clickid={clickid}&s1={sub1}","payout":{"type":"cpa","amount":"12.50","currency":"USD"}}')
    if [ -z "$src" ] || [ -z "$offer" ]; then die "could not create the benchmark's traffic source and offer"; fi
    api_create campaigns "{\"name\":\"Bench campaign\",\"token\":\"demo\",\"traffic_source_id\":$src,\"destination\":{\"offer_id\":$offer},\"cost\":{\"model\":\"cpc\",\"amount\":\"0.40\",\"currency\":\"USD\"}}" >/dev/null
}

# api_create KIND JSON: POST /api/v1/KIND; prints the new entity's id.
api_create() {
    out="$TMP/api-$1.json"
    code=$(curl -sS -o "$out" -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN_KEY" \
        -H 'Content-Type: application/json' --data "$2" "$PM_URL/api/v1/$1") || die "POST /api/v1/$1 failed"
    case $code in 2??) ;; *) die "POST /api/v1/$1 answered $code: $(cat "$out")" ;; esac
    id=$(sed -n 's/^{"id": *\([0-9][0-9]*\).*/\1/p; s/.*[{,]"id": *\([0-9][0-9]*\)[,}].*/\1/p' "$out" | head -n 1)
    [ -n "$id" ] || die "no id in the answer to POST /api/v1/$1: $(cat "$out")"
    echo "$id"
}

# pm_alive: die, with the end of perfmark's log, when perfmark has exited
# (a crash under load; also guards /metrics against reading another
# process that took the port over).
pm_alive() {
    if ! kill -0 "$PM_PID" 2>/dev/null; then
        wait "$PM_PID" 2>/dev/null
        status=$?
        PM_PID=
        echo "bench: perfmark exited during the run (wait status $status); the end of its log:" >&2
        tail -n 20 "$TMP/perfmark.log" >&2
        KEEP_TMP=1
        die "perfmark is gone; temp dir kept: $TMP"
    fi
}

# metric NAME: the value of perfmark_NAME from /metrics.
metric() {
    curl -fsS --max-time 10 "$PM_URL/metrics" | awk -v m="perfmark_$1" '$1 == m { print $2; found = 1 } END { if (!found) print "" }'
}

# Wait until the materializer has written every journaled event to the
# store (perfmark_materializer_lag_bytes = 0), so its work does not spill
# into the next measurement. Prints the seconds it took; status 1, with a
# warning on stderr, when it did not catch up within DRAIN_TIMEOUT seconds.
drain() {
    t0=$(date +%s)
    while :; do
        lag=$(metric materializer_lag_bytes)
        [ "$lag" = 0 ] && break
        if [ $(($(date +%s) - t0)) -ge "$DRAIN_TIMEOUT" ]; then
            echo "bench: WARNING: materializer still ${lag:-?} bytes behind after ${DRAIN_TIMEOUT}s" \
                "(materialized $(metric materialized_events_total) of $(metric journal_records_total) records)" >&2
            echo $(($(date +%s) - t0))
            return 1
        fi
        sleep 0.2
    done
    echo $(($(date +%s) - t0))
}

# --- nginx ------------------------------------------------------------------

# start_nginx SERVER_BLOCK_BODY: nginx with $NGINX_WORKERS workers on
# $NGINX_PORT, its prefix, config, pid file, logs and temp paths in
# $TMP/nginx, the access log buffered.
start_nginx() {
    NGINX_PORT=$(free_port)
    NGINX_URL="http://127.0.0.1:$NGINX_PORT"
    d="$TMP/nginx"
    mkdir -p "$d/logs" "$d/tmp"
    user_line=
    [ "$(id -u)" = 0 ] && user_line="user root;"
    cat >"$d/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes $NGINX_WORKERS;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log $d/logs/access.log combined buffer=64k flush=1s;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server_tokens off;
    server {
        listen 127.0.0.1:$NGINX_PORT reuseport;
        location = /healthz {
            access_log off;
            return 200 "ok\\n";
        }
$1
    }
}
EOF
    ${NGINX_WRAP:-} nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" ${NGINX_GLOBALS:+-g "$NGINX_GLOBALS"} \
        >"$d/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    if ! wait_http "$NGINX_URL/healthz" 10 "$NGINX_PID"; then
        cat "$d/logs/error.log" "$d/logs/stdout.log" >&2 2>/dev/null
        die "nginx did not come up on $NGINX_URL"
    fi
}

# --- wrk --------------------------------------------------------------------

# bg_wrk OUTFILE ARGS...: wrk in the background, waited for, so that a
# TERM to this script is handled at once (and cleanup stops wrk too).
bg_wrk() {
    o=$1
    shift
    if [ -n "$BENCH_UA" ]; then wrk -H "User-Agent: $BENCH_UA" "$@" >>"$o" 2>&1 &
    else wrk "$@" >>"$o" 2>&1 &
    fi
    WRK_PID=$!
    wait "$WRK_PID"
    rc=$?
    WRK_PID=
    return $rc
}

# run_wrk NAME URL [wrk options...]: one wrk run, its output kept in
# $TMP/wrk-NAME.txt; prints the run's line and sets W_RPS, W_P50, W_P99
# (milliseconds), W_REQ (requests completed), W_ERR (socket errors),
# W_BAD (non-2xx/3xx responses).
run_wrk() {
    name=$1
    url=$2
    shift 2
    out="$TMP/wrk-$name.txt"
    bg_wrk "$out" -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" "$@" ||
        { cat "$out" >&2; die "wrk failed for $name"; }
    # Latencies as wrk prints them (us, ms, s, m) in milliseconds.
    eval "$(awk '
        function ms(v) {
            if (v ~ /us$/) return v * 0.001
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/)  return v * 60000
            if (v ~ /s$/)  return v * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        $2 == "requests" && $3 == "in" { req = $1 }
        $1 == "Socket" && $2 == "errors:" {
            gsub(",", ""); err = $4 + $6 + $8 + $10
        }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        END {
            printf "W_RPS=%s W_P50=%.3f W_P99=%.3f W_REQ=%s W_ERR=%d W_BAD=%d\n",
                rps == "" ? 0 : rps, p50, p99, req == "" ? 0 : req, err, bad
        }' "$out")"
    printf '%-24s %12.0f %10.3f %10.3f %10s %8d %8d\n' "$name" "$W_RPS" "$W_P50" "$W_P99" "$W_REQ" "$W_ERR" "$W_BAD"
    if [ "$W_ERR" != 0 ] || [ "$W_BAD" != 0 ]; then
        grep -E 'Socket errors|Non-2xx' "$out" | sed "s/^ */  $name: /" >&2
    fi
}

print_header() {
    printf '%-24s %12s %10s %10s %10s %8s %8s\n' "run" "req/s" "p50(ms)" "p99(ms)" "requests" "sockerr" "non2xx3"
}

# ratio A B: A/B with two decimals ("n/a" when B is 0).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
