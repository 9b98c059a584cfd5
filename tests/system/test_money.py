"""Money: pricing on every side, the conversion lifecycle and the ledger
(docs/money.md), against the real binary.

The scripted day below runs impressions, clicks, leads, sales, a pending
sale approved later, a rejection, a chargeback, a duplicate postback and a
status change sent right behind its conversion, with a kill -9 and a restart
in the middle. Every figure the test expects is computed here, in Python with
Decimal, from the script and the prices it configured: nothing is read back
from perfmark to build the expectations.
"""
import datetime
from decimal import Decimal as D

from conftest import cookies_of, json_error


def click_id_of(r):
    assert r.status_code == 302, r.text
    return cookies_of(r)["pmc"][0]


def ok(r, status=(200, 201)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r.json()


def dec(m):
    return D(m["amount"]) if isinstance(m, dict) else D(m)


class Day:
    """The workspace of the scripted day and the books kept by hand."""

    def __init__(self, s):
        self.s = s
        self.expect_cost = {}      # traffic source id -> Decimal
        self.expect_revenue = {}   # offer id -> Decimal (approved only)
        self.expect_payout = {}    # partner id -> Decimal
        self.approved = self.rejected = self.chargebacks = 0

    def add(self, book, key, amount):
        book[key] = book.get(key, D(0)) + D(amount)

    def setup(self):
        s = self.s
        self.s1 = ok(s.api("POST", "/traffic-sources", {"name": "Search"}))["id"]
        self.s2 = ok(s.api("POST", "/traffic-sources", {"name": "Display"}))["id"]
        self.o1 = ok(s.api("POST", "/offers", {"name": "Shop", "url": "https://shop.example/?c={clickid}",
                                               "payout": {"type": "cpa", "amount": "10.00", "currency": "USD"}}))["id"]
        self.o2 = ok(s.api("POST", "/offers", {"name": "App", "url": "https://app.example/?c={clickid}",
                                               "payout": {"type": "cpi", "amount": "5.00", "currency": "USD"}}))["id"]
        # Sales of the shop earn 20% of the sale value.
        ok(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": self.o1, "conversion_type": "sale",
                                            "model": "percent", "percent": "20", "currency": "USD"}))
        # The partner earns 30% of the revenue, but a flat 1.50 per lead.
        self.p1 = ok(s.api("POST", "/partners", {"name": "Aff", "payout": {"model": "percent", "percent": "30"}}))["id"]
        ok(s.api("POST", "/pricing-rules", {"side": "payout", "partner_id": self.p1, "conversion_type": "lead",
                                            "model": "fixed", "amount": "1.50", "currency": "USD"}))

        def campaign(name, source, offer, cost, partner=None):
            body = {"name": name, "traffic_source_id": source, "destination": {"offer_id": offer}, "cost": cost}
            if partner:
                body["partner_id"] = partner
            return ok(s.api("POST", "/campaigns", body))

        self.a = campaign("A cpc", self.s1, self.o1, {"model": "cpc", "amount": "0.40", "currency": "USD"}, self.p1)
        self.b = campaign("B cpm", self.s2, self.o2, {"model": "cpm", "amount": "2.00", "currency": "USD"})
        self.c = campaign("C revshare", self.s1, self.o1,
                          {"model": "revshare", "amount": "0", "currency": "USD", "percent": "40"})
        self.d = campaign("D cpa sale", self.s1, self.o1,
                          {"model": "cpa", "amount": "3.00", "currency": "USD", "conversion_type": "sale"})

    def clicks(self, camp, n):
        ids = [click_id_of(self.s.get(f"/c/{camp['token']}")) for _ in range(n)]
        if camp["cost"]["model"] == "cpc":
            self.add(self.expect_cost, camp["traffic_source_id"], D(camp["cost"]["amount"]) * n)
        return ids

    def impressions(self, camp, n):
        for _ in range(n):
            assert self.s.get(f"/i/{camp['token']}", params={"fmt": "204"}).status_code == 204
        self.add(self.expect_cost, camp["traffic_source_id"], D(camp["cost"]["amount"]) / 1000 * n)

    def postback(self, _expect=200, **params):
        r = self.s.get("/pb", params=params)
        assert r.status_code == _expect, r.text
        return r.json()

    def book(self, camp, revenue, payout=D(0), cost=D(0)):
        """An approval, as the prices configured above say it books."""
        offer = camp["destination"]["offer_id"]
        self.add(self.expect_revenue, offer, revenue)
        self.add(self.expect_cost, camp["traffic_source_id"], cost)
        if payout:
            self.add(self.expect_payout, camp["partner_id"], payout)
        self.approved += 1


def balances(s, **params):
    doc = ok(s.api("GET", "/ledger/balances", params=params))
    out = {}
    for row in doc["rows"]:
        key = (row["account_type"], row["account_id"])
        assert key not in out or "day" in row
        out[key] = out.get(key, D(0)) + dec(row["balance"])
    return out


def report_totals(s, day):
    doc = ok(s.api("GET", "/reports", params={
        "group_by": "campaign", "from": day, "to": day, "metrics": "conversions,revenue,cost,payout,pending_conversions,pending_revenue,"
                                           "rejected_conversions,chargebacks"}))
    return doc["totals"]


def test_scripted_day_balances_to_the_micro_unit(server):
    s = server()
    day = Day(s)
    day.setup()
    a, b, c, d = day.a, day.b, day.c, day.d

    day.impressions(b, 7)
    ca = day.clicks(a, 5)
    cb = day.clicks(b, 2)
    cc = day.clicks(c, 2)
    cd = day.clicks(d, 2)

    # A: a lead (flat partner payout), a sale at 20% of 250 (partner 30%).
    day.postback(clickid=ca[0], type="lead", txid="L1")
    day.book(a, D("10.00"), payout=D("1.50"))
    first = day.postback(clickid=ca[1], type="sale", amount="250", txid="S1")
    assert dec(first["revenue"]) == D("50.00")
    day.book(a, D("50.00"), payout=D("15.00"))
    # A duplicate postback: the same answer, recorded once.
    assert day.postback(clickid=ca[1], type="sale", amount="250", txid="S1") == first
    # Pending sale (approved after the crash), a pending one to be rejected,
    # and one approved then charged back.
    pend = day.postback(clickid=ca[2], type="sale", amount="100", txid="S2", status="pending")
    day.postback(clickid=ca[3], txid="R1", status="pending")
    cb1 = day.postback(clickid=ca[4], type="sale", amount="50", txid="CB1")
    # A change right behind its conversion (most likely not materialized yet).
    day.postback(clickid=ca[0], txid="R2", status="pending")
    assert day.postback(clickid=ca[0], txid="R2", status="approved")["status"] == "approved"
    day.book(a, D("10.00"), payout=D("3.00"))

    # B: the postback's payout overrides the offer's 5.00.
    day.postback(clickid=cb[0], payout="7.25", txid="B1")
    day.book(b, D("7.25"))
    # C: the source gets 40% of the revenue; D: 3.00 per sale, leads cost nothing.
    day.postback(clickid=cc[0], payout="20", txid="C1")
    day.book(c, D("20.00"), cost=D("8.00"))
    day.postback(clickid=cd[0], type="lead", txid="D1")
    day.book(d, D("10.00"))
    day.postback(clickid=cd[1], type="sale", amount="100", txid="D2")
    day.book(d, D("20.00"), cost=D("3.00"))

    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    s.wait_materialized()
    mid = report_totals(s, today)
    assert mid["pending_conversions"] == 2 and dec(mid["pending_revenue"]) == D("30.00"), mid

    # The crash. Whatever was acknowledged is replayed exactly once.
    s.kill9()
    s.start()

    # After the restart: approve the pending sale and charge back CB1 through
    # the API, reject R1 by postback, and repeat an old postback.
    conv = ok(s.api("PATCH", f"/conversions/{pend['conversion_id']}", {"status": "approved"}))
    assert conv["status"] == "approved"
    day.book(a, D("20.00"), payout=D("6.00"))
    ok(s.api("PATCH", f"/conversions/{cb1['conversion_id']}", {"status": "chargeback"}))
    day.chargebacks += 1
    assert day.postback(clickid=ca[3], txid="R1", status="rejected")["status"] == "rejected"
    day.rejected += 1
    assert day.postback(clickid=ca[1], type="sale", amount="250", txid="S1") == first
    # Forbidden transitions change nothing.
    e = json_error(s.api("PATCH", f"/conversions/{cb1['conversion_id']}", {"status": "approved"}), 409)
    assert e["code"] == "invalid_transition"
    day.postback(409, clickid=ca[3], txid="R1", status="approved")
    s.wait_materialized()

    # Every balance, to the micro-unit.
    got = balances(s)
    for src, amount in day.expect_cost.items():
        assert got[("traffic_source", src)] == -amount, (src, got, day.expect_cost)
    for offer, amount in day.expect_revenue.items():
        assert got[("advertiser", offer)] == amount, (offer, got)
    for partner, amount in day.expect_payout.items():
        assert got[("partner", partner)] == -amount, (partner, got)
    total_revenue = sum(day.expect_revenue.values())
    total_cost = sum(day.expect_cost.values())
    total_payout = sum(day.expect_payout.values())
    assert got[("revenue", 0)] == -total_revenue
    assert got[("cost", 0)] == total_cost
    assert got[("payout", 0)] == total_payout
    assert sum(got.values()) == 0
    assert (total_revenue, total_cost, total_payout) == (D("147.25"), D("13.014"), D("25.50"))

    # By day in the workspace zone: one day, the same figures.
    by_day = ok(s.api("GET", "/ledger/balances", params={"group": "day", "account_type": "partner"}))["rows"]
    assert [(r["day"], dec(r["balance"])) for r in by_day] == [(today, -total_payout)]

    # The reports agree with the ledger.
    tot = report_totals(s, today)
    assert dec(tot["revenue"]) == total_revenue and dec(tot["cost"]) == total_cost, tot
    assert dec(tot["payout"]) == total_payout, tot
    assert tot["conversions"] == day.approved, tot
    assert (tot["rejected_conversions"], tot["chargebacks"], tot["pending_conversions"]) == (1, 1, 0), tot
    assert dec(tot["pending_revenue"]) == 0
    raw = ok(s.api("GET", "/reports", params={"group_by": "campaign", "from": today, "to": today, "source": "raw",
                                              "metrics": "conversions,revenue,cost,payout,chargebacks"}))["totals"]
    assert {k: raw[k] for k in raw} == {k: tot[k] for k in raw}

    # The chargeback's history and its ledger legs: booked, then reversed.
    hist = ok(s.api("GET", f"/conversions/{cb1['conversion_id']}"))
    assert hist["status"] == "chargeback" and [h["status"] for h in hist["history"]] == ["chargeback"]
    assert hist["history"][0]["actor"].startswith("api")
    legs = ok(s.api("GET", "/ledger/entries", params={"conversion": cb1["conversion_id"]}))["rows"]
    assert sum(dec(l["amount"]) for l in legs) == 0
    assert sorted(dec(l["amount"]) for l in legs if l["account_type"] == "advertiser") == [D("-10.00"), D("10.00")]

    # A second restart changes nothing.
    s.restart()
    assert balances(s) == got

    # The CLI reads the same books from the store.
    from conftest import run_cli
    r = run_cli("ledger", "balances", "--data", s.data, "--account-type", "partner")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    # Credits: every payout booked, the charged-back sale's 3.00 too; debits: its reversal.
    reversed_payout = D("50") * D("0.20") * D("0.30")
    assert rows == [["partner", str(day.p1), "USD", f"{reversed_payout:.2f}", f"{total_payout + reversed_payout:.2f}",
                     str(-total_payout)]], r.stdout


def test_rates_and_converted_balances(server):
    s = server()
    w = s.setup_campaign(cost=("cpc", "0.50"))
    s.get(f"/c/{w['token']}")
    s.wait_materialized()
    ok(s.api("PUT", "/rates", {"rates": {"EUR": "1.08", "GBP": "1.27"}}))
    assert ok(s.api("GET", "/rates"))["rates"] == {"EUR": "1.08", "GBP": "1.27"}
    json_error(s.api("PUT", "/rates", {"rates": {"EUR": 1.08}}), 422)
    json_error(s.api("PUT", "/rates", {"rates": {"XYZ": "1"}}), 422)
    rows = ok(s.api("GET", "/ledger/balances", params={"account_type": "traffic_source"}))["rows"]
    assert [(dec(r["balance"]), dec(r["balance_converted"])) for r in rows] == [(D("-0.50"), D("-0.50"))]
    json_error(s.api("GET", "/ledger/balances", params={"account_type": "bank"}), 422)
    json_error(s.api("GET", "/ledger/balances", params={"group": "week"}), 422)


def test_partners_and_rules_validation(server):
    s = server()
    json_error(s.api("POST", "/partners", {"name": "x", "payout": {"model": "percent", "percent": "5000"}}), 422)
    json_error(s.api("POST", "/partners", {"name": "x", "payout": {"model": "share"}}), 422)
    p = ok(s.api("POST", "/partners", {"name": "Aff"}))
    assert p["payout"]["model"] == "none"
    e = json_error(s.api("POST", "/pricing-rules", {"side": "revenue", "partner_id": p["id"], "model": "fixed",
                                                    "amount": "1", "currency": "USD"}), 422)
    assert e["field"] == "partner_id"
    json_error(s.api("POST", "/pricing-rules", {"side": "payout", "conversion_type": "Bad Type", "model": "fixed",
                                                "currency": "USD"}), 422)
    w = s.setup_campaign()
    ok(s.api("PATCH", f"/campaigns/{w['campaign']['id']}", {"partner_id": p["id"]}))
    assert json_error(s.api("DELETE", f"/partners/{p['id']}"), 409)["field"] == "partner_id"
    json_error(s.api("PATCH", "/conversions/01M84TS2N3985ZJT2JJM5TJGRA", {"status": "approved"}), 404)
    json_error(s.api("PATCH", "/conversions/nope", {"status": "approved"}), 404)


def test_repeat_conversions_per_offer(server):
    s = server()
    w = s.setup_campaign()
    ok(s.api("PATCH", f"/offers/{w['offer']['id']}", {"repeat_conversions": True}))
    cid = click_id_of(s.get(f"/c/{w['token']}"))
    a = s.get("/pb", params={"clickid": cid}).json()
    b = s.get("/pb", params={"clickid": cid}).json()
    assert a["conversion_id"] != b["conversion_id"]
    s.wait_events("conversion", lambda rs: len(rs) == 2)


def test_offline_conversions_import(server, tmp_path):
    """CRM conversions by click id or by the lead id of an earlier lead:
    bad rows by line with their reason, good rows committed, a re-import
    (API or CLI) records nothing new, and the ledger sees each once."""
    from conftest import run_cli
    s = server()
    w = s.setup_campaign(payout="2.00", cost=("cpc", "0"))
    c1, c2 = (click_id_of(s.get(f"/c/{w['token']}")) for _ in range(2))
    lead = s.get("/pb", params={"clickid": c2, "type": "lead", "lead_id": "LEAD-9", "txid": "lead-9"}).json()
    s.wait_materialized()
    csv = ("click_id,lead_id,type,status,payout,txid\n"
           f"{c1},,sale,approved,30.00,ORD-1\n"
           ",LEAD-9,won,approved,100.00,\n"
           "garbage,,sale,,1,X\n"
           f"{c2},,sale,maybe,1,Y\n"
           ",NOPE,won,,1,\n"
           f"{c2},,sale,approved,1.2345678,Z\n"
           "\"unterminated,,,,,\n")
    url = "/conversions:batch"
    first = ok(s.api("POST", url, data=csv, headers={"Content-Type": "text/csv"}))
    assert (first["rows"], first["recorded"], first["unchanged"]) == (7, 2, 0), first
    assert [(e["line"], e["code"]) for e in first["errors"]] == [
        (4, "unknown_click"), (5, "invalid_status"), (6, "unknown_lead"), (7, "invalid_payout"), (8, "invalid")]
    won = next(r for r in first["results"] if r["line"] == 3)
    s.wait_materialized()
    conv = ok(s.api("GET", f"/conversions/{won['conversion_id']}"))
    assert conv["click_id"] == c2 and conv["type"] == "won" and dec(conv["revenue"]) == D("100.00")
    again = ok(s.api("POST", url, data=csv, headers={"Content-Type": "text/csv"}))
    assert (again["recorded"], again["unchanged"]) == (0, 2) and again["errors"] == first["errors"]
    path = tmp_path / "crm.csv"
    path.write_text(csv)
    r = run_cli("import", "conversions", str(path), "--server", s.base, "--key", s.key)
    assert r.returncode == 1, r.stderr
    assert "line 4: unknown_click" in r.stderr and "line 8: invalid" in r.stderr
    assert '"recorded":0' in r.stdout.replace(" ", "")
    # The same rows as JSON: already there.
    js = ok(s.api("POST", url, {"rows": [{"click_id": c1, "type": "sale", "status": "approved", "payout": "30.00",
                                          "txid": "ORD-1"},
                                         {"lead_id": "LEAD-9", "type": "won", "status": "approved", "payout": "100.00"},
                                         {"click_id": 5}, "x"]}))
    assert (js["recorded"], js["unchanged"]) == (0, 2), js
    assert [(e["line"], e["field"]) for e in js["errors"]] == [(3, "click_id"), (4, None)]
    s.wait_materialized()
    assert balances(s)[("advertiser", w["offer"]["id"])] == D("132.00")
    assert len(s.events("conversion")) == 3
    assert lead["status"] == "approved"
    e = json_error(s.api("POST", url, data="txid,type\nx,y\n"), 422)
    assert "click_id or lead_id" in e["message"]
    assert run_cli("import", "--help").returncode == 0


def test_auto_cost_reported_later_spread_over_clicks(server):
    """Cost model "auto": the source reports a day's cost later (API or
    CSV); it is booked once per day (a new report replaces the old total)
    and spread over that day's clicks, exactly, so reports by sub id add up
    to the ledger."""
    s = server()
    w = s.setup_campaign(cost=("auto", "0"))
    for sub in ("a", "a", "b"):
        assert s.get(f"/c/{w['token']}", params={"sub1": sub}).status_code == 302
    s.wait_materialized()
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    camp, src = w["campaign"]["id"], w["source"]["id"]
    r = ok(s.api("POST", "/costs", {"rows": [{"campaign_id": camp, "day": today, "amount": "10.00"},
                                             {"campaign_id": 999, "day": today, "amount": "1"},
                                             {"campaign_id": camp, "day": "yesterday", "amount": "1"}]}))
    assert r["recorded"] == 1 and [(e["line"], e["field"]) for e in r["errors"]] == [(2, "campaign_id"), (3, "day")]
    s.wait_materialized()

    def by_sub1():
        doc = ok(s.api("GET", "/reports", params={"group_by": "sub1", "from": today, "to": today,
                                                  "metrics": "clicks,cost"}))
        return {row["sub1"]: dec(row["cost"]) for row in doc["rows"]}, dec(doc["totals"]["cost"])

    rows, total = by_sub1()
    assert total == D("10.00") and sum(rows.values()) == total, rows
    # Click i (in id order) of n gets floor(T*(i+1)/n) - floor(T*i/n) micro-units: the shares add up to T.
    micros = [(10_000_000 * (i + 1)) // 3 - (10_000_000 * i) // 3 for i in range(3)]
    assert rows["a"] == D(micros[0] + micros[1]) / 10**6 and rows["b"] == D(micros[2]) / 10**6, rows
    assert balances(s)[("traffic_source", src)] == D("-10.00")
    # A corrected report replaces the day's total; the same one again changes nothing.
    csv = f"campaign_id,day,amount\n{camp},{today},12.00\n"
    for _ in range(2):
        assert ok(s.api("POST", "/costs", data=csv, headers={"Content-Type": "text/csv"}))["recorded"] == 1
    s.wait_materialized()
    rows, total = by_sub1()
    assert total == D("12.00") and sum(rows.values()) == total, rows
    assert balances(s)[("traffic_source", src)] == D("-12.00")
    raw = ok(s.api("GET", "/reports", params={"group_by": "sub1", "from": today, "to": today, "source": "raw",
                                              "metrics": "clicks,cost"}))
    assert dec(raw["totals"]["cost"]) == D("12.00")


def test_revenue_tiers_by_volume_are_exact_across_loops_and_restarts(server):
    """An offer's revenue rules with volume_from: its first two conversions
    of the month at 10.00, from the 3rd on 12.00; the place is taken when a
    conversion is first recorded (not rejected) and kept by its changes."""
    import concurrent.futures
    s = server(threads=2)
    w = s.setup_campaign(payout="9.00")
    oid = w["offer"]["id"]
    ok(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": oid, "model": "fixed", "amount": "10.00",
                                        "currency": "USD"}))
    tier = ok(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": oid, "model": "fixed",
                                               "amount": "12.00", "currency": "USD", "volume_from": 3}))
    assert tier["volume_from"] == 3
    assert json_error(s.api("POST", "/pricing-rules", {"side": "payout", "model": "fixed", "amount": "1.00",
                                                       "currency": "USD", "volume_from": 3}), 422)["field"] == \
        "volume_from"
    assert json_error(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": oid, "model": "fixed",
                                                       "amount": "1.00", "currency": "USD", "volume_from": 0}),
                      422)["field"] == "volume_from"

    def convert(txid, **q):
        c = click_id_of(s.get(f"/c/{w['token']}"))
        return ok(s.get("/pb", params={"clickid": c, "txid": txid, **q}))

    assert dec(convert("A")["revenue"]) == D("10.00")                     # place 1
    assert dec(convert("R", status="rejected")["revenue"]) == D("10.00")  # takes no place
    pending = convert("P", status="pending")                              # place 2
    assert dec(pending["revenue"]) == D("10.00")
    assert dec(convert("B")["revenue"]) == D("12.00")                     # place 3
    # Approving the pending one later keeps its place and price.
    c = pending["click_id"]
    assert dec(ok(s.get("/pb", params={"clickid": c, "txid": "P", "status": "approved"}))["revenue"]) == D("10.00")
    x = convert("X", payout="5.00")                                       # place 4, its own amount
    assert dec(x["revenue"]) == D("5.00")
    s.wait_materialized()
    assert ok(s.api("GET", f"/conversions/{x['conversion_id']}"))["place"] == 4
    approved = ok(s.api("GET", f"/conversions/{pending['conversion_id']}"))
    assert approved["place"] == 2 and approved["status"] == "approved" and dec(approved["revenue"]) == D("10.00")

    # The places survive a kill -9 (rebuilt from the store at start).
    s.kill9()
    s.start()
    assert dec(convert("C")["revenue"]) == D("12.00")                     # place 5

    # A new offer, 20 conversions at once on two loops, tier from the 11th:
    # exactly 10 at each price.
    w = s.setup_campaign(name="burst", payout="9.00")
    oid = w["offer"]["id"]
    ok(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": oid, "model": "fixed", "amount": "10.00",
                                        "currency": "USD"}))
    ok(s.api("POST", "/pricing-rules", {"side": "revenue", "offer_id": oid, "model": "fixed", "amount": "12.00",
                                        "currency": "USD", "volume_from": 11}))
    clicks = [click_id_of(s.get(f"/c/{w['token']}")) for _ in range(20)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: ok(s.get("/pb", params={"clickid": clicks[i], "txid": f"T{i}"})), range(20)))
    prices = sorted(dec(g["revenue"]) for g in got)
    assert prices == [D("10.00")] * 10 + [D("12.00")] * 10
