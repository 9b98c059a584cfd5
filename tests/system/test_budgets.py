"""
Budgets and caps (docs/budgets.md): a campaign's daily/total budget and an
offer's conversion caps send clicks to the fallback from the request that
reaches them, on both event loops at once, and the spend survives a
kill -9 (rebuilt from the store after the journal's replay).
"""
import concurrent.futures

import requests

from conftest import cookies_of, json_error

FALLBACK = "https://fallback.example/capped"


def budget_campaign(s, daily="1.20", total=None, fallback=FALLBACK):
    w = s.setup_campaign(cost=("cpc", "0.40"))
    budget = {"daily": daily, "total": total, "currency": "USD"}
    r = s.api("PATCH", f"/campaigns/{w['campaign']['id']}", {"budget": budget, "fallback_url": fallback})
    assert r.status_code == 200, r.text
    w["campaign"] = r.json()
    return w


def fresh_click(s, token):
    """A click on a new connection (so the kernel may pick either loop)."""
    with requests.Session() as sess:
        return sess.get(s.url(f"/c/{token}"), allow_redirects=False, timeout=10)


def campaign(s, w):
    r = s.api("GET", f"/campaigns/{w['campaign']['id']}")
    assert r.status_code == 200, r.text
    return r.json()


def test_daily_budget_sends_the_4th_click_to_fallback_and_survives_kill9(server):
    s = server(threads=2)
    w = budget_campaign(s)
    c = w["campaign"]
    assert c["budget"] == {"daily": "1.20", "total": None, "currency": "USD"}
    assert c["fallback_url"] == FALLBACK
    assert c["budget_spent_today"] == {"amount": "0.00", "currency": "USD"} and c["capped"] is False

    for i in range(3):
        r = fresh_click(s, w["token"])
        assert r.status_code == 302 and r.headers["location"].startswith("https://offer.example/"), (i, r.headers)
    r = fresh_click(s, w["token"])
    assert r.status_code == 302 and r.headers["location"] == FALLBACK
    assert "pmc" not in cookies_of(r)  # a capped click is not recorded

    c = campaign(s, w)
    assert c["budget_spent_today"] == {"amount": "1.20", "currency": "USD"}
    assert c["budget_spent_total"] == {"amount": "1.20", "currency": "USD"}
    assert c["capped"] is True and c["capped_reason"] == "daily_budget"
    assert s.metrics()["perfmark_capped_redirects_total"] == 1

    s.kill9()  # the clicks may be in the journal only
    s.start()
    r = fresh_click(s, w["token"])
    assert r.headers["location"] == FALLBACK
    c = campaign(s, w)
    assert c["budget_spent_today"]["amount"] == "1.20" and c["capped"] is True
    clicks = s.wait_events("click", lambda rows: len(rows) >= 3, campaign=c["id"])
    assert len(clicks) == 3 and all(e["cost"]["amount"] == "0.40" for e in clicks)

    # Raising the budget reopens the campaign at once.
    r = s.api("PATCH", f"/campaigns/{c['id']}", {"budget": {"daily": "1.60"}})
    assert r.status_code == 200, r.text
    assert r.json()["capped"] is False
    assert fresh_click(s, w["token"]).headers["location"].startswith("https://offer.example/")
    assert fresh_click(s, w["token"]).headers["location"] == FALLBACK


def test_concurrent_clicks_on_both_loops_never_overspend(server):
    s = server(threads=2)
    w = budget_campaign(s, daily="2.00", fallback="")
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: fresh_click(s, w["token"]), range(40)))
    to_offer = [r for r in results if r.headers["location"].startswith("https://offer.example/")]
    to_fallback = [r for r in results if r.headers["location"] == "https://www.example.com/"]
    assert len(to_offer) == 5 and len(to_fallback) == 35
    c = campaign(s, w)
    assert c["budget_spent_today"]["amount"] == "2.00" and c["capped_reason"] == "daily_budget"
    s.wait_materialized()
    assert len(s.events("click", campaign=c["id"])) == 5


def test_total_budget(server):
    s = server(threads=1)
    w = budget_campaign(s, daily=None, total="0.80")
    assert [fresh_click(s, w["token"]).headers["location"] == FALLBACK for _ in range(3)] == [False, False, True]
    c = campaign(s, w)
    assert c["capped_reason"] == "total_budget" and c["budget_spent_total"]["amount"] == "0.80"


def test_offer_daily_cap_routes_to_fallback_and_survives_restart(server):
    s = server(threads=2)
    w = s.setup_campaign()
    offer_id = w["offer"]["id"]
    r = s.api("PATCH", f"/offers/{offer_id}", {"caps": {"daily": 1}})
    assert r.status_code == 200, r.text
    assert r.json()["caps"] == {"daily": 1, "total": None} and r.json()["capped"] is False
    first = fresh_click(s, w["token"])
    cid = cookies_of(first)["pmc"][0]
    pb = s.get("/pb", params={"clickid": cid, "txid": "cap-1"})
    assert pb.status_code == 200, pb.text
    o = s.api("GET", f"/offers/{offer_id}").json()
    assert o["conversions_today"] == 1 and o["conversions_total"] == 1 and o["capped"] is True
    r = fresh_click(s, w["token"])
    assert r.headers["location"] == "https://www.example.com/"  # the workspace fallback
    assert campaign(s, w)["capped_reason"] == "offer_daily_cap"
    s.restart()
    assert fresh_click(s, w["token"]).headers["location"] == "https://www.example.com/"
    assert s.api("GET", f"/offers/{offer_id}").json()["conversions_today"] == 1
    # Lifting the cap reopens it.
    assert s.api("PATCH", f"/offers/{offer_id}", {"caps": {"daily": None}}).status_code == 200
    assert fresh_click(s, w["token"]).headers["location"].startswith("https://offer.example/")


def test_budget_and_cap_validation(server):
    s = server(threads=1)
    w = s.setup_campaign()
    cid, oid = w["campaign"]["id"], w["offer"]["id"]
    assert w["campaign"]["budget"] == {"daily": None, "total": None, "currency": None}
    assert w["campaign"]["fallback_url"] == "" and w["campaign"]["capped"] is False
    cases = [
        ({"budget": {"daily": "abc"}}, "budget.daily"),
        ({"budget": {"daily": 1.2}}, "budget.daily"),
        ({"budget": {"daily": "-1"}}, "budget.daily"),
        ({"budget": {"daily": "10000000"}}, "budget.daily"),
        ({"budget": {"daily": "1.00", "currency": "EUR"}}, "budget.currency"),
        ({"budget": {"weekly": "1.00"}}, "budget.weekly"),
        ({"fallback_url": "ftp://x.example/"}, "fallback_url"),
        ({"budget_spent_today": "0"}, "budget_spent_today"),
    ]
    for body, field in cases:
        assert json_error(s.api("PATCH", f"/campaigns/{cid}", body), 422)["field"] == field, body
    r = s.api("PATCH", f"/campaigns/{cid}", {"budget": {"daily": "5"}})
    assert r.status_code == 200 and r.json()["budget"] == {"daily": "5.00", "total": None, "currency": "USD"}
    r = s.api("PATCH", f"/campaigns/{cid}", {"budget": {"daily": None}})
    assert r.json()["budget"] == {"daily": None, "total": None, "currency": None}
    for caps in ({"daily": 0}, {"daily": "1"}, {"daily": 1.5}, {"total": -3}, {"weekly": 1}):
        err = json_error(s.api("PATCH", f"/offers/{oid}", {"caps": caps}), 422)
        assert err["field"].startswith("caps."), caps
    r = s.api("PATCH", f"/offers/{oid}", {"caps": {"daily": 10, "total": 100}})
    assert r.status_code == 200 and r.json()["caps"] == {"daily": 10, "total": 100}


def test_a_new_time_zone_recounts_today_from_the_store(server):
    """Changing settings.timezone makes "today" another window: the spend
    is recounted from the store, not reset (the clicks just made fall in
    the new local day too). The zone is picked so its date differs from
    UTC's now, which is what would reset a counter keyed by the day."""
    import datetime
    s = server(threads=2)
    w = budget_campaign(s)
    for _ in range(3):
        fresh_click(s, w["token"])
    assert fresh_click(s, w["token"]).headers["location"] == FALLBACK
    s.wait_materialized()
    zone = "Pacific/Pago_Pago" if datetime.datetime.utcnow().hour < 10 else "Pacific/Kiritimati"
    r = s.api("PATCH", "/settings", {"timezone": zone})
    assert r.status_code == 200, r.text
    c = campaign(s, w)
    assert c["budget_spent_today"]["amount"] == "1.20" and c["capped"] is True, c
    assert fresh_click(s, w["token"]).headers["location"] == FALLBACK
