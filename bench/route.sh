#!/bin/sh
# bench/route.sh: click throughput through a flow (docs/flows.md) against
# nginx `return 302`, and against perfmark's own campaign without a flow.
#
#   sh bench/route.sh [PATH/TO/perfmark]
#
# The flow has 20 rules that a benchmark click walks through without a
# match (4 Accept-Language rules, 4 time-of-day rules, 4 sub-id regexes,
# 4 CIDR ranges, 4 geo/user-agent rules, which cannot match while nothing
# fills the visitor's country and device), then a default path rotating
# three offers by weight 50/30/20. Each click therefore evaluates every
# rule and one weighted draw, and records its route. Prints one line per
# run and, last, the ratios perfmark-flow/nginx and perfmark-flow/perfmark.
# Environment as bench/click.sh (DURATION default here 5s).
set -u

BIN=${1:-${PERFMARK_BIN:-build/perfmark}}
DURATION=${DURATION:-5s}
. "$(dirname "$0")/lib.sh"

[ -x "$BIN" ] || die "no perfmark binary at $BIN (build it: make build)"
need wrk nginx curl awk
setup_tmp
start_perfmark

offer_json() {
    echo "{\"name\":\"Route offer $1\",\"url\":\"https://offer$1.example.com/?clickid={clickid}&s1={sub1}\",\"payout\":{\"type\":\"cpa\",\"amount\":\"5.00\",\"currency\":\"USD\"}}"
}
o1=$(api_create offers "$(offer_json 1)")
o2=$(api_create offers "$(offer_json 2)")
o3=$(api_create offers "$(offer_json 3)")
src=$(api_create traffic-sources '{"name":"Route source"}')

# rule NAME CONDITION: one rule sending matches to a plain URL.
rule() {
    printf '{"name":"%s","when":%s,"path":{"name":"%s","options":[{"url":"https://rule.example.com/%s"}]}}' "$1" "$2" "$1" "$1"
}
never='{"param":{"name":"never","equals":"1"}}'
rules=
for r in \
    "$(rule lang-de '{"language":{"in":["de"]}}')" \
    "$(rule lang-fr '{"language":{"in":["fr","fr-CA"]}}')" \
    "$(rule lang-es '{"language":{"equals":"es"}}')" \
    "$(rule lang-it '{"language":{"regex":"^it"}}')" \
    "$(rule time-office "{\"all\":[{\"time\":{\"tz\":\"Europe/Berlin\",\"hours\":{\"from\":0,\"to\":24}}},$never]}")" \
    "$(rule time-night "{\"all\":[{\"time\":{\"tz\":\"America/New_York\",\"hours\":{\"from\":0,\"to\":24}}},$never]}")" \
    "$(rule time-weekend "{\"all\":[{\"time\":{\"tz\":\"Asia/Tokyo\",\"days\":[\"sun\",\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\"]}},$never]}")" \
    "$(rule time-utc "{\"all\":[{\"time\":{\"hours\":{\"from\":0,\"to\":24}}},$never]}")" \
    "$(rule sub-zone '{"sub1":{"regex":"^zone-(1[0-9]{3})$"}}')" \
    "$(rule sub-push '{"sub2":{"regex":"push|native"}}')" \
    "$(rule sub-camp '{"param":{"name":"sub1","regex":"^camp_[a-z]+_[0-9]+$"}}')" \
    "$(rule sub-in '{"sub3":{"in":["a","b","c","d","e","f"]}}')" \
    "$(rule ip-private '{"ip":{"in":["10.0.0.0/8","172.16.0.0/12","192.168.0.0/16"]}}')" \
    "$(rule ip-v6 '{"ip":{"in":["2001:db8::/32","fc00::/7"]}}')" \
    "$(rule ip-office '{"ip":{"in":["203.0.113.0/24"]}}')" \
    "$(rule ip-dc '{"not":{"ip":{"in":["0.0.0.0/0","::/0"]}}}')" \
    "$(rule geo-dach '{"country":{"in":["DE","AT","CH"]}}')" \
    "$(rule geo-mobile '{"all":[{"device_type":{"equals":"mobile"}},{"country":{"equals":"US"}}]}')" \
    "$(rule ua-ios '{"all":[{"os":{"equals":"iOS"}},{"os_version":{"gte":"17"}}]}')" \
    "$(rule ua-chrome '{"browser":{"regex":"^Chrome"}}')"; do
    rules="${rules:+$rules,}$r"
done
flow=$(api_create flows "{\"name\":\"Route bench\",\"rules\":[$rules],\"default_path\":{\"name\":\"rotation\",\"options\":[{\"offer_id\":$o1,\"weight\":50},{\"offer_id\":$o2,\"weight\":30},{\"offer_id\":$o3,\"weight\":20}]}}")
api_create campaigns "{\"name\":\"Route campaign\",\"token\":\"flow\",\"traffic_source_id\":$src,\"destination\":{},\"flow_id\":$flow,\"cost\":{\"model\":\"cpc\",\"amount\":\"0.40\",\"currency\":\"USD\"}}" >/dev/null

start_nginx '        location /c/ {
            add_header Cache-Control "no-store";
            add_header Set-Cookie "pmv=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            add_header Set-Cookie "pmc=$request_id; Max-Age=31536000; Path=/; HttpOnly; SameSite=Lax";
            return 302 "https://offer1.example.com/?clickid=$request_id&s1=organic";
        }'

query="?sub1=organic&sub2=search&sub3=zz"
lang="Accept-Language: en-US,en;q=0.9"
loc=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H "$lang" "$PM_URL/c/flow$query") || die "cannot reach perfmark"
case $loc in "302 https://offer"[123]".example.com/"*) ;; *) die "the flow answered \"$loc\", not a 302 to a rotated offer" ;; esac

echo "route benchmark: 20 rules (none match) + 3-way weighted rotation; wrk -t$WRK_THREADS -c$CONNECTIONS" \
    "-d$DURATION, perfmark --threads $PM_THREADS ($BIN), nginx $NGINX_WORKERS workers; $(nproc 2>/dev/null || echo '?') CPUs"
print_header
run_wrk nginx-keepalive "$NGINX_URL/c/flow$query" -H "$lang"
ng=$W_RPS
run_wrk perfmark-no-flow "$PM_URL/c/demo$query" -H "$lang"
pm_plain=$W_RPS
pm_alive
drain >/dev/null || true
before=$(metric clicks_total)
run_wrk perfmark-flow "$PM_URL/c/flow$query" -H "$lang"
pm_flow=$W_RPS
pm_alive
journaled=$(($(metric clicks_total) - before))
drain >/dev/null || true
echo "perfmark-flow clicks journaled: $journaled; requests completed per wrk: $W_REQ"
# The rotation as recorded: the share of each option among the routed clicks.
curl -fsS -H "Authorization: Bearer $ADMIN_KEY" "$PM_URL/api/v1/events?type=click&limit=1000&campaign=$(
    curl -fsS -H "Authorization: Bearer $ADMIN_KEY" "$PM_URL/api/v1/campaigns?limit=1000" |
        sed 's/.*"id":\([0-9]*\),[^}]*"token":"flow".*/\1/')" -o "$TMP/routed.json" 2>/dev/null &&
    echo "last routed click: $(sed -n 's/.*"route":"\(\({[^}]*}\)\)".*/\1/p' "$TMP/routed.json" | head -c 300)"
echo "ratio perfmark-flow/nginx (req/s): $(ratio "$pm_flow" "$ng"); perfmark-flow/perfmark-no-flow: $(ratio "$pm_flow" "$pm_plain")"
