"""
Customer lifetime value per first-conversion cohort (GET /api/v1/clv and
`perfmark clv`), black box: a demo workspace with 70 days of simulated
traffic (so cohorts span three months and every window length is in play),
the workspace time zone set away from UTC, and the answer checked to the
micro-unit against a computation made here straight from the store's
conversions table with Python's own zoneinfo, sharing no code with perfmark.
"""
import datetime
import decimal
import json
import sqlite3
import time
import zoneinfo

import pytest
from conftest import run_cli, start_demo, stop_demo

TZ = "America/New_York"
WINDOWS = (30, 90, 365)
DAY_US = 86400 * 1_000_000


def micros(text):
    return int(decimal.Decimal(text) * 1_000_000)


@pytest.fixture
def workspace(server):
    s = server(threads=2, start=False)
    proc, _, err_path = start_demo(s, "--threads", "2", "--days", "70", "--scale", "0.1", "--seed", "5", timeout=240)
    try:
        s.key = s.create_key()
        r = s.api("PATCH", "/settings", json={"timezone": TZ})
        assert r.status_code == 200, r.text
        yield s
    finally:
        stop_demo(proc, err_path)


def expected(db_path, first_month, last_month, now_us):
    """Cohorts from the raw conversions table, computed independently."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    cur = db.execute("SELECT value FROM settings WHERE key='currency'").fetchone()
    currency = cur[0] if cur else "USD"
    rows = db.execute("SELECT visitor_id, click_id, ts, revenue_micros, revenue_currency FROM conversions"
                      " WHERE status='approved'").fetchall()
    db.close()
    zone = zoneinfo.ZoneInfo(TZ)
    by_visitor = {}
    for visitor, click, ts, rev, cur_ in rows:
        by_visitor.setdefault(visitor or click, []).append((ts, rev, cur_))

    def month_of(ts):
        d = datetime.datetime.fromtimestamp(ts / 1e6, datetime.timezone.utc).astimezone(zone)
        return f"{d.year:04d}-{d.month:02d}"

    cohorts, excluded = {}, 0
    for convs in by_visitor.values():
        first = min(ts for ts, _, _ in convs)
        m = month_of(first)
        if not (first_month <= m <= last_month):
            continue
        k = cohorts.setdefault(m, {"visitors": 0, "conversions": 0, "revenue": 0, "w": [0, 0, 0]})
        k["visitors"] += 1
        k["conversions"] += len(convs)
        for ts, rev, cur_ in convs:
            if cur_ != currency:
                excluded += 1
                continue
            k["revenue"] += rev
            for i, days in enumerate(WINDOWS):
                if ts < first + days * DAY_US:
                    k["w"][i] += rev
    return cohorts, excluded


def month_end_us(month):
    y, m = map(int, month.split("-"))
    nxt = datetime.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=zoneinfo.ZoneInfo(TZ))
    return int(nxt.timestamp()) * 1_000_000


def check_row(row, want, month, now_us):
    assert row["visitors"] == want["visitors"], month
    assert row["conversions"] == want["conversions"], month
    assert micros(row["revenue"]) == want["revenue"], month
    for i, days in enumerate(WINDOWS):
        assert micros(row[f"revenue_{days}d"]) == want["w"][i], (month, days)
        # CLV = window revenue / visitors, rounded half away from zero to the micro-unit
        q = decimal.Decimal(want["w"][i]) / want["visitors"]
        clv = int(q.to_integral_value(rounding=decimal.ROUND_HALF_UP))
        assert micros(row[f"clv_{days}d"]) == clv, (month, days)
        assert row[f"complete_{days}d"] == (month_end_us(month) + days * DAY_US <= now_us), (month, days)


def test_clv_cohorts_match_an_independent_computation(workspace):
    s = workspace
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TZ))
    last = f"{today.year:04d}-{today.month:02d}"
    y, m = today.year, today.month - 3
    if m <= 0:
        y, m = y - 1, m + 12
    first = f"{y:04d}-{m:02d}"
    r = s.api("GET", "/clv", params={"from": first, "to": last})
    assert r.status_code == 200, r.text
    now_us = int(time.time() * 1_000_000)
    doc = r.json()
    assert doc["tz"] == TZ and doc["windows"] == list(WINDOWS)
    want, excluded = expected(s.data / "perfmark.db", first, last, now_us)
    assert doc["excluded_conversions"] == excluded
    assert [k["cohort"] for k in doc["cohorts"]] == sorted({first, last} | set(want) | {
        f"{(y * 12 + m - 1 + i) // 12:04d}-{(y * 12 + m - 1 + i) % 12 + 1:02d}" for i in range(4)})
    nonempty = [k for k in doc["cohorts"] if k["visitors"]]
    assert len(nonempty) >= 3, doc  # 70 days of traffic span at least three months
    for row in doc["cohorts"]:
        w = want.get(row["cohort"], {"visitors": 0, "conversions": 0, "revenue": 0, "w": [0, 0, 0]})
        if w["visitors"] == 0:
            assert row["visitors"] == 0 and row["clv_30d"] is None
            continue
        check_row(row, w, row["cohort"], now_us)
    tot = doc["totals"]
    assert tot["visitors"] == sum(k["visitors"] for k in want.values())
    assert micros(tot["revenue_365d"]) == sum(k["w"][2] for k in want.values())
    # a 30-day window of a cohort three months back is over; this month's is not
    assert doc["cohorts"][0]["complete_30d"] is True and doc["cohorts"][-1]["complete_30d"] is False

    # the CLI reads the same store and prints the same numbers
    out = run_cli("clv", "--data", s.data, "--from", first, "--to", last, "--format", "json")
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert [(k["cohort"], k["visitors"], k["revenue_90d"]) for k in cli["cohorts"]] == \
        [(k["cohort"], k["visitors"], k["revenue_90d"]) for k in doc["cohorts"]]
    table = run_cli("clv", "--data", s.data, "--from", first, "--to", last)
    assert table.returncode == 0 and "clv_30d" in table.stdout.splitlines()[0]
    assert table.stdout.splitlines()[-1].split()[0] == "total"
    csv = s.api("GET", "/clv", params={"from": first, "to": last, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("cohort,visitors,conversions,revenue,revenue_30d,clv_30d")


def test_clv_bad_parameters_name_the_field(workspace):
    s = workspace
    for params, field in [({"from": "2026-13"}, "from"), ({"to": "26-01"}, "to"),
                          ({"from": "2026-05", "to": "2026-01"}, "to"), ({"tz": "Mars/Base"}, "tz"),
                          ({"format": "xml"}, "format"), ({"colour": "red"}, "colour"),
                          ({"from": "2000-01", "to": "2026-01"}, "from")]:
        r = s.api("GET", "/clv", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field, (params, r.text)
    assert s.api("GET", "/clv", key="").status_code == 401
    bad = run_cli("clv", "--data", s.data, "--from", "May")
    assert bad.returncode == 2 and "from" in bad.stderr
