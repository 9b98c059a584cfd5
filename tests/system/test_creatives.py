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
