"""
Creatives (perfmark issue 4), part 1: the admin API entity /api/v1/creatives,
a campaign's own ads, with the generic CRUD, paging and validation.
"""
from conftest import json_error

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
