"""
Reports end to end: real clicks, impressions and postbacks over HTTP, then
GET /api/v1/reports (and `perfmark report`) checked against numbers computed
independently here, in Python, from the raw events of /api/v1/events, for
several group-bys, filters and time zones; CSV against JSON; parameter
errors; a restart; and rollups against a raw scan on a generated store
(PERFMARK_REPORT_EVENTS events, default 100000, and PERFMARK_REPORT_MILLIONS,
default 2000000, on the release build under `make test`).

The Python side implements the definitions of docs/metrics.md on its own:
unique clicks = the first click by id of each (campaign, visitor, UTC day);
clicks flagged by the bot filter (bot_reason) count only in bot_clicks;
money = exact decimals of the reporting currency (USD), other currencies
left out; per-unit money rounded half away from zero to micro-units;
ratios as float divisions; zero denominators as null.
"""
import csv
import datetime
import io
import json
import os
import random
import zoneinfo
from decimal import Decimal

import pytest

from conftest import BIN, cookies_of, json_error, run_cli

CURRENCY = "USD"
ENTITIES = ("campaign", "traffic_source", "offer", "lander", "creative", "partner")
DEFAULT_METRICS = ["impressions", "clicks", "unique_clicks", "ctr", "conversions", "cvr", "cost", "revenue",
                   "payout", "profit", "cpm", "cpc", "cpa", "epc", "roi", "roas"]


# --- the definitions, independently --------------------------------------------------

def micros(money):
    """{"amount": "12.50", ...} -> 12500000 (None -> 0)."""
    if not money:
        return 0
    return int(Decimal(money["amount"]) * 1000000)


def fmt_money(m):
    """Micro-units -> at least 2, at most 6 decimals (pm_money_format)."""
    s = f"{abs(m) // 1000000}.{abs(m) % 1000000:06d}".rstrip("0")
    whole, frac = s.split(".")
    frac = frac.ljust(2, "0")
    return ("-" if m < 0 else "") + f"{whole}.{frac}"


def per_unit(m, scale, units):
    """m * scale / units, rounded half away from zero; None for 0 units."""
    if units == 0:
        return None
    num = m * scale
    q, r = divmod(abs(num), units)
    if 2 * r >= units:
        q += 1
    return fmt_money(q if num >= 0 else -q)


def ratio(a, b):
    return None if b == 0 else float(a) / float(b)


def language(header):
    """Primary subtag of the first Accept-Language range, lower case."""
    s = (header or "").lstrip(" \t")
    n = 0
    while n < len(s) and n < 8 and s[n].isascii() and s[n].isalpha():
        n += 1
    end = n == len(s) or s[n] in "-_,; "
    return s[:n].lower() if end and n >= 2 else ""


def parse_ts(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))


COUNTS = ["impressions", "clicks", "unique_clicks", "conversions", "leads", "pending", "rejected", "cost",
          "revenue", "payout", "pending_revenue", "excluded", "bot_clicks", "bot_impressions"]


def metric_values(c):
    profit = c["revenue"] - c["cost"] - c["payout"]
    return {
        "impressions": c["impressions"], "clicks": c["clicks"], "unique_clicks": c["unique_clicks"],
        "ctr": ratio(c["clicks"], c["impressions"]), "conversions": c["conversions"],
        "cvr": ratio(c["conversions"], c["clicks"]), "cost": fmt_money(c["cost"]),
        "revenue": fmt_money(c["revenue"]), "payout": fmt_money(c["payout"]), "profit": fmt_money(profit),
        "cpm": per_unit(c["cost"], 1000, c["impressions"]), "cpc": per_unit(c["cost"], 1, c["clicks"]),
        "cpa": per_unit(c["cost"], 1, c["conversions"]), "epc": per_unit(c["revenue"], 1, c["clicks"]),
        "roi": ratio(profit, c["cost"] + c["payout"]), "roas": ratio(c["revenue"], c["cost"]),
        "cpl": per_unit(c["cost"], 1, c["leads"]), "pending_conversions": c["pending"],
        "pending_revenue": fmt_money(c["pending_revenue"]), "rejected_conversions": c["rejected"],
        "bot_clicks": c["bot_clicks"], "bot_impressions": c["bot_impressions"],
    }


class Model:
    """The raw events and what every report over them must say."""

    def __init__(self, clicks, impressions, conversions):
        self.events = [("click", e) for e in clicks] + [("impression", e) for e in impressions] + \
                      [("conversion", e) for e in conversions]
        first = {}
        for e in sorted(clicks, key=lambda e: e["id"]):
            day = parse_ts(e["ts"]).date()
            key = (e["campaign_id"] or 0, e.get("visitor_id"), day)
            if e.get("visitor_id") is None or key not in first:
                first[key] = e["id"]
        self.unique = set(first.values())

    @staticmethod
    def value(kind, e, dim, tz):
        local = parse_ts(e["ts"]).astimezone(tz)
        if dim == "day":
            return local.date().isoformat()
        if dim == "hour":
            return local.replace(minute=0, second=0, microsecond=0).isoformat()
        if dim == "week":
            return (local.date() - datetime.timedelta(days=local.weekday())).isoformat()
        if dim == "month":
            return local.strftime("%Y-%m")
        if dim in ENTITIES:
            return e.get(f"{dim}_id") or 0
        if dim == "language":
            return language(e.get("language"))
        if dim == "conversion_type":
            return e.get("conversion_type") or "" if kind == "conversion" else ""
        return e.get(dim) or ""

    def cells(self, kind, e):
        c = dict.fromkeys(COUNTS, 0)
        approved = kind == "conversion" and e["status"] == "approved"
        pending = kind == "conversion" and e["status"] == "pending"
        if kind == "click" and e.get("bot_reason"):
            c["bot_clicks"] = 1                 # a flagged click counts nowhere else
            return c
        if kind == "impression" and e.get("bot_reason"):
            c["bot_impressions"] = 1            # nor does a flagged impression
            return c
        if kind == "click":
            c["clicks"] = 1
            c["unique_clicks"] = int(e["id"] in self.unique)
        elif kind == "impression":
            c["impressions"] = 1
        elif approved:
            c["conversions"] = 1
            c["leads"] = int(e["conversion_type"] == "lead")
        elif pending:
            c["pending"] = 1
        else:
            c["rejected"] = 1
        foreign = False
        for field, counts, key in (("cost", kind != "conversion" or approved, "cost"),
                                   ("revenue", approved, "revenue"), ("revenue", pending, "pending_revenue"),
                                   ("payout", approved, "payout")):
            m = e.get(field)
            if not counts or not m or micros(m) == 0:
                continue
            if m["currency"] == CURRENCY:
                c[key] += micros(m)
            else:
                foreign = True
        c["excluded"] = int(foreign)
        return c

    def report(self, group_by, tz_name, start, end, filters=()):
        """{group tuple: counts}; filters: (dim, op, set of values)."""
        tz = zoneinfo.ZoneInfo(tz_name)
        out = {}
        for kind, e in self.events:
            t = parse_ts(e["ts"])
            if not (start <= t < end):
                continue
            if not all((self.value(kind, e, d, tz) in vals) == (op != "not_in") for d, op, vals in filters):
                continue
            key = tuple(self.value(kind, e, d, tz) for d in group_by)
            acc = out.setdefault(key, dict.fromkeys(COUNTS, 0))
            for k, v in self.cells(kind, e).items():
                acc[k] += v
        return out


def api_key_of(row, group_by):
    key = []
    for d in group_by:
        if d in ENTITIES:
            key.append(row[f"{d}_id"] or 0)
        elif d == "hour":
            key.append(datetime.datetime.fromisoformat(row[d]).isoformat())
        else:
            key.append(row[d] if row[d] is not None else "")
    return tuple(key)


def check(s, model, group_by, tz, start_day, end_day, filters=(), metrics=None, extra=None):
    """One report against the model: same rows, same values, same totals."""
    params = [("group_by", ",".join(group_by)), ("from", start_day.isoformat()), ("to", end_day.isoformat()),
              ("tz", tz), ("limit", "10000")]
    for d, op, vals in filters:
        params.append(("filter", f"{d}:{op}:{'|'.join(str(v) if v != 0 else '' for v in sorted(vals, key=str))}"))
    if metrics:
        params.append(("metrics", ",".join(metrics)))
    params += list(extra or [])
    r = s.api("GET", "/reports", params=params)
    assert r.status_code == 200, r.text
    doc = r.json()
    z = zoneinfo.ZoneInfo(tz)
    start = datetime.datetime.combine(start_day, datetime.time(), z)
    end = datetime.datetime.combine(end_day + datetime.timedelta(days=1), datetime.time(), z)
    want = model.report(group_by, tz, start, end, filters)
    want = {k: v for k, v in want.items() if any(v.values())}
    got = {api_key_of(row, group_by): row for row in doc["rows"]}
    assert set(got) == set(want), (group_by, filters, sorted(set(got) ^ set(want), key=str)[:10])
    names = metrics or DEFAULT_METRICS
    for key, counts in want.items():
        expect = metric_values(counts)
        for m in names:
            assert got[key][m] == expect[m], (group_by, key, m, got[key][m], expect[m])
    total = dict.fromkeys(COUNTS, 0)
    for counts in want.values():
        for k, v in counts.items():
            total[k] += v
    expect = metric_values(total)
    for m in names:
        assert doc["totals"][m] == expect[m], ("totals", m, doc["totals"][m], expect[m])
    assert doc["total_rows"] == len(want)
    excluded = total["excluded"]
    warned = [w for w in doc["warnings"] if w["code"] == "currency_excluded"]
    assert bool(warned) == bool(excluded), (doc["warnings"], excluded)
    return doc


# --- traffic ---------------------------------------------------------------------------

SUB1 = ["", "news-site", "blog-a", "app-7", "=formula"]
LANGS = ["en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.5", "fr", "", "*", "pt-BR"]
# Browsers, a crawler and requests' own UA (on the crawler list): some clicks
# are flagged as bots, and the reports must count those apart.
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
       "Safari/537.36",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.2 Mobile/15E148 Safari/604.1",
       "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", None]


def drive_traffic(s, rng, camps):
    """Clicks (some repeat visitors), impressions, postbacks of each status."""
    visitors = []
    clicks = []
    for i in range(150):
        camp = rng.choice(camps)
        params = {"sub1": rng.choice(SUB1), "sub2": f"ad{rng.randrange(4)}", "utm_source": rng.choice(["fb", "gg", ""]),
                  "creative_id": rng.choice(camp.get("creatives", []) + [""])}
        params = {k: v for k, v in params.items() if v}
        headers = {"Accept-Language": rng.choice(LANGS)}
        ua = UAS[i % len(UAS)]
        if ua:
            headers["User-Agent"] = ua
        cookies = {"pmv": rng.choice(visitors)} if visitors and rng.random() < 0.35 else None
        r = s.http.get(s.url(f"/c/{camp['token']}"), params=params, headers=headers, cookies=cookies,
                       allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        ck = cookies_of(r)
        visitors.append(ck["pmv"][0])
        clicks.append(ck["pmc"][0])
    for i in range(120):
        camp = rng.choice(camps)
        headers = {"Accept-Language": rng.choice(LANGS)}
        if i % 4 == 0:
            headers["User-Agent"] = UAS[2]  # a crawler: a bot impression
        r = s.get(f"/i/{camp['token']}", params={"sub1": rng.choice(SUB1) or "imp", "fmt": "204",
                                                 "crid": rng.choice(camp.get("creatives", []) + [""])},
                  headers=headers)
        assert r.status_code == 204
    for n, cid in enumerate(rng.sample(clicks, 60)):
        params = {"clickid": cid, "txid": f"T{n}", "status": rng.choice(["approved", "approved", "pending", "rejected"]),
                  "type": rng.choice(["lead", "sale"])}
        if rng.random() < 0.5:
            params["payout"] = f"{rng.randrange(1, 40)}.{rng.randrange(100):02d}"
        if rng.random() < 0.1:
            params["currency"] = "EUR"
        r = s.get("/pb", params=params)
        assert r.status_code == 200, r.text


@pytest.fixture
def tracked(server):
    s = server()
    rng = random.Random(4)
    camps = [s.setup_campaign(name="cpc", cost=("cpc", "0.40"), payout="12.50"),
             s.setup_campaign(name="cpm", cost=("cpm", "2.00"), payout="3.00"),
             s.setup_campaign(name="cpa", cost=("cpa", "1.50"), payout="7.25",
                              lander_url="https://lp.example/?c={clickid}")]
    # Two creatives on each campaign; the CPA campaign's traffic comes from a partner.
    for c in camps:
        c["creatives"] = []
        for n in range(2):
            r = s.api("POST", "/creatives", {"campaign_id": c["campaign"]["id"], "name": f"{c['campaign']['name']} ad {n}"})
            assert r.status_code == 201, r.text
            c["creatives"].append(r.json()["id"])
    r = s.api("POST", "/partners", {"name": "Affiliate A"})
    assert r.status_code == 201, r.text
    partner = r.json()["id"]
    r = s.api("PATCH", f"/campaigns/{camps[2]['campaign']['id']}", {"partner_id": partner})
    assert r.status_code == 200, r.text
    drive_traffic(s, rng, camps)
    s.wait_materialized()
    model = Model(s.events("click"), s.events("impression"), s.events("conversion"))
    return s, model, camps


def today_in(tz):
    return datetime.datetime.now(zoneinfo.ZoneInfo(tz)).date()


# --- tests ------------------------------------------------------------------------------

def test_reports_equal_python_on_raw_events(tracked):
    s, model, camps = tracked
    for tz in ("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"):
        d = today_in(tz)
        start, end = d - datetime.timedelta(days=1), d + datetime.timedelta(days=1)
        doc = check(s, model, ["campaign"], tz, start, end)
        assert doc["source"] == "rollup:campaign", doc["source"]
        assert doc["currency"] == "USD" and doc["timezone"] == tz
        check(s, model, ["day", "campaign"], tz, start, end)
        check(s, model, ["hour"], tz, start, end, metrics=["clicks", "unique_clicks", "conversions", "cost"])
    d = today_in("UTC")
    start, end = d - datetime.timedelta(days=6), d
    assert check(s, model, ["offer", "language"], "UTC", start, end)["source"] == "rollup:main"
    assert check(s, model, ["sub1"], "UTC", start, end)["source"] == "rollup:sub1"
    check(s, model, ["sub1", "campaign"], "UTC", start, end, filters=[("sub1", "not_in", {"", "blog-a"})])
    check(s, model, ["utm_source"], "UTC", start, end, filters=[("campaign", "in", {camps[0]["campaign"]["id"],
                                                                                    camps[1]["campaign"]["id"]})])
    check(s, model, ["conversion_type", "traffic_source"], "UTC", start, end,
          metrics=["conversions", "pending_conversions", "rejected_conversions", "revenue", "pending_revenue",
                   "payout", "cost", "cpl", "cpa"])
    check(s, model, ["week", "lander"], "Europe/Berlin", start, end)
    # creatives and partners: from their own rollups, and raw alike
    assert check(s, model, ["creative"], "UTC", start, end)["source"] == "rollup:creative"
    doc = check(s, model, ["partner", "campaign"], "UTC", start, end)
    assert {r["partner_name"] for r in doc["rows"]} == {"Affiliate A", None}
    check(s, model, ["creative", "day"], "Europe/Berlin", start, end, filters=[("partner", "not_in", {0})])
    check(s, model, ["campaign"], "UTC", start, end, filters=[("creative", "in", {camps[0]["creatives"][0], 0})])
    check(s, model, ["creative", "partner"], "UTC", start, end, extra=[("source", "raw")])
    check(s, model, ["month"], "UTC", start, end, filters=[("conversion_type", "eq", {"lead"})])
    doc = check(s, model, ["sub1", "sub2"], "UTC", start, end)   # no cube: a raw scan, same numbers
    assert doc["source"] == "raw" and any(w["code"] == "raw_scan" for w in doc["warnings"])
    check(s, model, ["campaign"], "UTC", start, end, extra=[("source", "raw")])
    # bots apart, and the detectors' dimensions, from rollups and raw alike
    bots = ["clicks", "bot_clicks", "unique_clicks", "ctr", "cost", "cpc", "epc", "impressions", "bot_impressions",
            "cpm"]
    doc = check(s, model, ["campaign"], "UTC", start, end, metrics=bots)
    assert doc["totals"]["bot_clicks"] > 0 and doc["totals"]["clicks"] > 0
    assert doc["totals"]["bot_impressions"] == 30 and doc["totals"]["impressions"] == 90
    for dim in ("device_type", "browser", "os", "bot_reason", "country"):
        assert check(s, model, [dim], "UTC", start, end, metrics=bots)["source"] == f"rollup:{dim}"
        check(s, model, [dim], "UTC", start, end, metrics=bots, extra=[("source", "raw")])


def test_csv_is_the_json_as_csv(tracked):
    s, model, camps = tracked
    d = today_in("UTC")
    params = {"group_by": "campaign,sub1", "from": str(d - datetime.timedelta(days=1)), "to": str(d)}
    doc = s.api("GET", "/reports", params=params).json()
    r = s.api("GET", "/reports", params={**params, "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers.get("content-disposition", "")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["campaign_id", "campaign_name", "sub1"] + DEFAULT_METRICS
    assert len(rows) - 1 == len(doc["rows"])
    for line, row in zip(rows[1:], doc["rows"]):
        want = [row["campaign_id"], row["campaign_name"], row["sub1"]] + [row[m] for m in DEFAULT_METRICS]
        for i, (got, v) in enumerate(zip(line, want)):
            if v is None:
                assert got == ""
            elif isinstance(v, float):
                assert float(got) == v
            elif i in (1, 2) and v[:1] in "=+-@":
                assert got == "'" + v      # text from outside: spreadsheet formula guard
            else:
                assert got == str(v)


def test_compare_previous_and_paging(tracked):
    s, model, camps = tracked
    d = today_in("UTC")
    r = s.api("GET", "/reports", params={"group_by": "campaign", "from": str(d), "to": str(d),
                                         "compare": "previous", "sort": "-clicks", "limit": "2"})
    doc = r.json()
    assert r.status_code == 200, r.text
    assert len(doc["rows"]) == min(2, doc["total_rows"])
    clicks = [row["clicks"] for row in doc["rows"]]
    assert clicks == sorted(clicks, reverse=True)
    for row in doc["rows"] + [doc["totals"]]:
        assert row["previous"]["clicks"] == 0       # nothing yesterday
        assert row["change"]["clicks"] is None       # change from 0 is null, not infinite
    assert doc["previous_to"] == doc["from"]
    page2 = s.api("GET", "/reports", params={"group_by": "campaign", "from": str(d), "to": str(d),
                                             "sort": "-clicks", "limit": "2", "offset": "2"}).json()
    assert len(page2["rows"]) == doc["total_rows"] - len(doc["rows"])


def test_report_errors(tracked):
    s, model, camps = tracked
    err = json_error(s.api("GET", "/reports"), 422)
    assert err["field"] == "group_by"
    err = json_error(s.api("GET", "/reports", params={"group_by": "partner", "filter": "creative:eq:x"}), 422)
    assert err["field"] == "filter" and err["code"] == "invalid"
    err = json_error(s.api("GET", "/reports", params=[("group_by", "day"), ("group_by", "campaign")]), 422)
    assert err["field"] == "group_by"
    err = json_error(s.api("GET", "/reports", params={"group_by": "day", "colour": "red"}), 422)
    assert err["field"] == "colour" and err["code"] == "unknown_field"
    for param, value in (("metrics", "clicks,nope"), ("from", "2026-13-01"), ("tz", "Mars/Base"),
                         ("filter", "sub1:like:x"), ("limit", "0"), ("sort", "-nope"), ("format", "xls")):
        err = json_error(s.api("GET", "/reports", params={"group_by": "day", param: value}), 422)
        assert err["field"] == param, (param, err)
    json_error(s.api("GET", "/reports", params={"group_by": "day"}, key=""), 401)
    assert s.api("POST", "/reports", json={}).status_code == 405
    viewer = s.create_key("viewer")
    assert s.api("GET", "/reports", params={"group_by": "day"}, key=viewer).status_code == 200
    # Filters repeat; two filters on one dimension both apply.
    ids = [c["campaign"]["id"] for c in camps]
    r = s.api("GET", "/reports", params=[("group_by", "campaign"), ("filter", f"campaign:in:{ids[0]}|{ids[1]}"),
                                         ("filter", f"campaign:not_in:{ids[1]}")])
    assert r.status_code == 200, r.text
    assert [row["campaign_id"] for row in r.json()["rows"]] == [ids[0]]


def test_cli_matches_api_and_survives_restart(tracked, perfmark):
    s, model, camps = tracked
    d = today_in("UTC")
    args = ["--group-by", "campaign,day", "--from", str(d - datetime.timedelta(days=1)), "--to", str(d), "--tz", "UTC"]
    api = s.api("GET", "/reports", params={"group_by": "campaign,day", "from": str(d - datetime.timedelta(days=1)),
                                           "to": str(d), "tz": "UTC"}).json()
    # While the server runs (read-only on the same store):
    r = perfmark("report", "--data", s.data, *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == api
    r = perfmark("report", "--data", s.data, *args)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["campaign_id", "campaign_name", "day", "impressions"]
    assert any(line.startswith("total") or line.strip().startswith("total") for line in lines)
    for c in camps:
        assert c["campaign"]["name"] in r.stdout
    r = perfmark("report", "--data", s.data, "--group-by", "planet")
    assert r.returncode == 2 and "planet" in r.stderr
    # A restart rolls the tail up; the answer stays the same.
    s.restart()
    again = s.api("GET", "/reports", params={"group_by": "campaign,day", "from": str(d - datetime.timedelta(days=1)),
                                             "to": str(d), "tz": "UTC"}).json()
    assert again == api


QUERIES = [
    ["--group-by", "campaign"],
    ["--group-by", "country"],
    ["--group-by", "device_type,day", "--tz", "Europe/Berlin"],
    ["--group-by", "os", "--filter", "campaign:in:1|2|3"],
    ["--group-by", "browser,traffic_source"],
    ["--group-by", "region"],
    ["--group-by", "bot_reason,campaign"],
    ["--group-by", "day,campaign", "--tz", "Europe/Berlin"],
    ["--group-by", "hour", "--tz", "Asia/Kolkata", "--filter", "campaign:in:1|2|3"],
    ["--group-by", "sub1", "--filter", "campaign:eq:2"],
    ["--group-by", "sub4,day", "--tz", "America/New_York", "--filter", "sub4:not_in:kw1|kw2"],
    ["--group-by", "offer,language", "--filter", "traffic_source:in:1|2|3"],
    ["--group-by", "lander,day", "--tz", "Europe/Berlin",
     "--metrics", "clicks,bot_clicks,lander_visits,lander_clicks,lander_ctr"],
    ["--group-by", "country", "--metrics", "lander_visits,lander_clicks,lander_ctr"],
    ["--group-by", "conversion_type,traffic_source", "--metrics",
     "conversions,pending_conversions,rejected_conversions,cpl,conversions_sale,revenue,pending_revenue,payout,cost"],
    ["--group-by", "utm_medium,week", "--tz", "Australia/Adelaide", "--compare", "previous"],
    # shared dimensions across campaigns in :30 and :45 zones: the 15-minute
    # rows summed over campaigns make the corrections
    ["--group-by", "utm_medium,day", "--tz", "Asia/Kolkata"],
    ["--group-by", "browser,hour", "--tz", "Asia/Kathmandu", "--filter", "browser:not_in:Chrome"],
    ["--group-by", "sub3", "--filter", "sub3:in:|mobile", "--sort", "-revenue"],
    ["--group-by", "creative,day", "--filter", "campaign:in:1|2"],
    ["--group-by", "partner,campaign", "--metrics", "clicks,conversions,payout,revenue,cost"],
    ["--group-by", "partner", "--filter", "partner:not_in:", "--metrics", "clicks,conversions,payout"],
]


def check_rollups_equal_raw(tmp_path, n, binary=BIN):
    """n synthetic events through the real write path (bench-load: journal,
    recovery into the event rows, the rollups' bulk catch-up); every query
    answered from rollups equals the raw scan exactly."""
    def cli(*args):
        return run_cli(*args, timeout=3600, binary=binary)

    data = tmp_path / "data"
    r = cli("report", "--data", data, "--bench-load", n, "--bench-days", 14)
    assert r.returncode == 0, r.stderr
    d = datetime.date.today()
    # 14 days hold a whole ISO week whatever the weekday: the week tier is read
    span = ["--from", str(d - datetime.timedelta(days=13)), "--to", str(d)]
    for q in QUERIES:
        out = {}
        for source in ("auto", "raw"):
            r = cli("report", "--data", data, *q, *span, "--format", "json", "--limit", "10000",
                    "--source", source)
            assert r.returncode == 0, (q, r.stderr)
            out[source] = json.loads(r.stdout)
        assert out["auto"]["source"].startswith("rollup:"), (q, out["auto"]["source"])
        assert out["raw"]["source"] == "raw"
        for doc in out.values():
            doc.pop("source")
            doc.pop("warnings")
        assert out["auto"]["total_rows"] > 0, q
        if "lander_clicks" in " ".join(q):  # the generator sends a third of the lander visitors through /go
            assert 0 < out["auto"]["totals"]["lander_clicks"] < out["auto"]["totals"]["lander_visits"], q
        assert out["auto"] == out["raw"], q


def test_rollups_equal_raw_on_a_generated_store(tmp_path):
    """PERFMARK_REPORT_EVENTS (default 100000) events, on the binary under test."""
    check_rollups_equal_raw(tmp_path, int(os.environ.get("PERFMARK_REPORT_EVENTS", "100000")))


def test_rollups_equal_raw_on_millions_of_events(tmp_path):
    """The same on PERFMARK_REPORT_MILLIONS events (default 2000000): bulk
    catch-ups in many batches, rows of many events each. On the release
    build when `make test` names it (PERFMARK_RELEASE_BIN; an ASan build
    takes several times longer for the same check), else on the binary
    under test."""
    binary = os.environ.get("PERFMARK_RELEASE_BIN") or BIN
    check_rollups_equal_raw(tmp_path, int(os.environ.get("PERFMARK_REPORT_MILLIONS", "2000000")), binary)
