"""
Creatives (perfmark issue 4), part 1: the admin API entity /api/v1/creatives,
a campaign's own ads, with the generic CRUD, paging and validation.
"""
from conftest import json_error, wait_for

SOURCE = {"name": "Search A"}
OFFER = {"name": "Offer A", "url": "https://offer.example/?cid={clickid}",
         "payout": {"type": "cpa", "amount": "12.50", "currency": "USD"}}


def create(s, path, body):
    r = s.api("POST", path, body)
    assert r.status_code == 201, (path, r.status_code, r.text)
    return r.json()


def campaign(s):
    src = create(s, "/traffic-sources", SOURCE)
    offer = create(s, "/offers", OFFER)
    return create(s, "/campaigns", {"name": "C", "traffic_source_id": src["id"],
                                    "destination": {"offer_id": offer["id"]},
                                    "cost": {"model": "cpc", "amount": "0.40", "currency": "USD"}})


def test_creative_crud_and_paging(server):
    s = server()
    camp = campaign(s)
    a = create(s, "/creatives", {"campaign_id": camp["id"], "name": "Banner A",
                                 "url": "https://cdn.example/a.png"})
    assert a["campaign_id"] == camp["id"] and a["name"] == "Banner A"
    assert a["url"] == "https://cdn.example/a.png" and a["status"] == "active"
    b = create(s, "/creatives", {"campaign_id": camp["id"], "name": "Banner B", "status": "paused"})
    assert b["url"] == "" and b["status"] == "paused"
    assert s.api("GET", f"/creatives/{a['id']}").json() == a
    page = s.api("GET", "/creatives?limit=1").json()
    assert page["rows"] == [a] and page["next"]
    r = s.api("PATCH", f"/creatives/{b['id']}", {"name": "Banner B2"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Banner B2"
    assert s.api("DELETE", f"/creatives/{b['id']}").status_code == 204
    assert s.api("GET", "/creatives").json()["rows"] == [a]


def test_creative_validation(server):
    s = server()
    camp = campaign(s)
    for body, field in (({"name": "x"}, "campaign_id"),
                        ({"campaign_id": camp["id"] + 99, "name": "x"}, "campaign_id"),
                        ({"campaign_id": camp["id"]}, "name"),
                        ({"campaign_id": camp["id"], "name": "x", "url": "ftp://x.example/"}, "url"),
                        ({"campaign_id": camp["id"], "name": "x", "status": "gone"}, "status")):
        err = json_error(s.api("POST", "/creatives", body), 422)
        assert err["field"] == field, (body, err)
    assert s.api("GET", "/creatives").json()["rows"] == []


def test_clicks_impressions_and_conversions_carry_their_creative(server):
    """creative_id= (or crid=) of the campaign's own creative is recorded on
    the click and the impression and inherited by the conversion; another
    campaign's creative, a deleted one or garbage records none, and the
    visitor is redirected all the same."""
    import sqlite3

    s = server()
    w = s.setup_campaign(name="a")
    other = s.setup_campaign(name="b")
    mine = create(s, "/creatives", {"campaign_id": w["campaign"]["id"], "name": "Mine"})
    foreign = create(s, "/creatives", {"campaign_id": other["campaign"]["id"], "name": "Theirs"})
    gone = create(s, "/creatives", {"campaign_id": w["campaign"]["id"], "name": "Gone"})
    assert s.api("DELETE", f"/creatives/{gone['id']}").status_code in (200, 204)
    tok = w["token"]
    ids = {}
    for label, params in [("mine", {"creative_id": mine["id"]}), ("alias", {"crid": mine["id"]}),
                          ("foreign", {"creative_id": foreign["id"]}), ("gone", {"creative_id": gone["id"]}),
                          ("junk", {"creative_id": "12abc"}), ("none", {})]:
        r = s.http.get(s.url(f"/c/{tok}"), params=dict(params, sub1=label), allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["location"].startswith("https://offer.example/")
        ids[label] = r.cookies.get("pmc") or r.headers["set-cookie"].split("pmc=")[1].split(";")[0]
    assert s.get(f"/i/{tok}", params={"crid": mine["id"], "sub1": "imp"}).status_code == 200
    r = s.get("/pb", params={"clickid": ids["mine"], "txid": "T-creative", "payout": "1.00"})
    assert r.status_code == 200, r.text
    s.wait_events("conversion", lambda rs: len(rs) >= 1)
    s.wait_materialized()
    db = sqlite3.connect(s.data / "perfmark.db") if (s.data / "perfmark.db").exists() else None
    if db is None:
        dbs = list(s.data.glob("*.db"))
        assert dbs, list(s.data.iterdir())
        db = sqlite3.connect(dbs[0])
    got = dict(db.execute("SELECT sub1, creative_id FROM clicks").fetchall())
    assert got == {"mine": mine["id"], "alias": mine["id"], "foreign": None, "gone": None,
                   "junk": None, "none": None}, got
    assert db.execute("SELECT creative_id FROM impressions").fetchall() == [(mine["id"],)]
    assert db.execute("SELECT creative_id FROM conversions").fetchall() == [(mine["id"],)]
    db.close()
    # and the events API shows it (null for none)
    shown = {e["sub1"]: e["creative_id"] for e in s.events("click")}
    assert shown == got, shown
    assert [e["creative_id"] for e in s.events("impression")] == [mine["id"]]
    assert [e["creative_id"] for e in s.events("conversion")] == [mine["id"]]


def test_creative_frequency_cap(server):
    """A creative's own cap (perfmark issue 5): the third click on the capped
    creative goes where a budget cap sends it (the campaign's fallback); the
    campaign's other creative and creative-less clicks are not capped; the
    counts survive a restart."""
    s = server(extra_args=("--visitors", "5000"))
    w = s.setup_campaign(name="fc")
    camp = w["campaign"]
    r = s.api("PATCH", f"/campaigns/{camp['id']}", {"fallback_url": "https://enough.example/"})
    assert r.status_code == 200, r.text
    capped = create(s, "/creatives", {"campaign_id": camp["id"], "name": "Capped",
                                      "frequency_cap": {"max": 2, "per": "day"}})
    assert capped["frequency_cap"] == {"max": 2, "per": "day"}
    free = create(s, "/creatives", {"campaign_id": camp["id"], "name": "Free"})
    assert free["frequency_cap"] is None
    tok = w["token"]
    first = s.get(f"/c/{tok}", params={"crid": capped["id"]})
    assert first.headers["location"].startswith("https://offer.example/")
    cookie = {"Cookie": f"pmv={first.cookies.get('pmv')}"}

    def where(**params):
        return s.get(f"/c/{tok}", params=params, headers=cookie).headers["location"]

    assert where(crid=capped["id"]).startswith("https://offer.example/")
    assert where(crid=capped["id"]) == "https://enough.example/"
    assert where(crid=free["id"]).startswith("https://offer.example/")
    assert where().startswith("https://offer.example/")
    other = s.get(f"/c/{tok}", params={"crid": capped["id"]})  # a new visitor
    assert other.headers["location"].startswith("https://offer.example/")
    assert s.metrics()["perfmark_creative_capped_clicks_total"] == 1
    s.wait_events("click", lambda rs: len(rs) >= 5)
    s.wait_materialized()
    s.restart()
    assert where(crid=capped["id"]) == "https://enough.example/"
    assert where(crid=free["id"]).startswith("https://offer.example/")
    # Lifting the cap takes effect at once.
    r = s.api("PATCH", f"/creatives/{capped['id']}", {"frequency_cap": None})
    assert r.status_code == 200 and r.json()["frequency_cap"] is None, r.text
    assert wait_for(lambda: where(crid=capped["id"]).startswith("https://offer.example/"), what="cap lifted")


def test_creative_impression_cap_uses_the_flows_fallback_path(server):
    """With a flow that has a fallback path, a visitor who saw the creative
    twice is sent there on click, and the click is recorded with route "cap"."""
    import json
    s = server()
    w = s.setup_campaign(name="fi")
    offer = w["offer"]
    flow = create(s, "/flows", {
        "name": "f", "default_path": {"options": [{"offer_id": offer["id"]}]},
        "fallback_path": {"name": "tired", "options": [{"url": "https://tired.example/"}]}})
    r = s.api("PATCH", f"/campaigns/{w['campaign']['id']}", {"flow_id": flow["id"]})
    assert r.status_code == 200, r.text
    cr = create(s, "/creatives", {"campaign_id": w["campaign"]["id"], "name": "Seen",
                                  "frequency_cap": {"max": 2, "per": "life", "count": "impressions"}})
    tok = w["token"]
    imp = s.get(f"/i/{tok}", params={"crid": cr["id"]})
    cookie = {"Cookie": f"pmv={imp.cookies.get('pmv')}"}

    def where(**params):
        return s.get(f"/c/{tok}", params=params, headers=cookie).headers["location"]

    assert where(crid=cr["id"]).startswith("https://offer.example/")
    assert where(crid=cr["id"]).startswith("https://offer.example/")  # clicks don't count
    s.get(f"/i/{tok}", params={"crid": cr["id"]}, headers=cookie)
    assert where(crid=cr["id"]) == "https://tired.example/"
    assert where().startswith("https://offer.example/")  # no creative: no creative cap
    rows = s.wait_events("click", lambda rs: len(rs) >= 4)
    assert [json.loads(r["route"])["by"] for r in rows] == ["default", "default", "cap", "default"]
    s.wait_materialized()
    s.restart()
    assert where(crid=cr["id"]) == "https://tired.example/"


def test_creative_frequency_cap_validation(server):
    s = server()
    camp = campaign(s)
    for cap, field in (({"max": 0, "per": "day"}, "frequency_cap.max"),
                       ({"max": 2, "per": "week"}, "frequency_cap.per"),
                       ({"max": 2, "per": "day", "count": "views"}, "frequency_cap.count"),
                       ({"max": 2, "per": "day", "every": 1}, "frequency_cap.every"),
                       ([2], "frequency_cap")):
        err = json_error(s.api("POST", "/creatives", {"campaign_id": camp["id"], "name": "x",
                                                       "frequency_cap": cap}), 422)
        assert err["field"] == field, (cap, err)
    assert s.api("GET", "/creatives").json()["rows"] == []
