"""
The admin API (/api/v1): CRUD of traffic sources, offers, landers and
campaigns, paging, validation errors, settings, authentication and roles.
"""
import re

import pytest

from conftest import json_error

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

SOURCE = {"name": "Search A", "postback_url": "https://ts.example/pb?c={external_id}&p={payout}"}
OFFER = {"name": "Offer A", "url": "https://offer.example/?cid={clickid}",
         "payout": {"type": "cpa", "amount": "12.50", "currency": "USD"}}
LANDER = {"name": "Lander A", "url": "https://lander.example/?go={offer_url}"}


def create(s, path, body):
    r = s.api("POST", path, body)
    assert r.status_code == 201, (path, r.status_code, r.text)
    return r.json()


def campaign_body(source_id, **dest):
    return {"name": "Campaign A", "traffic_source_id": source_id, "destination": dest,
            "cost": {"model": "cpc", "amount": "0.40", "currency": "USD"}}


def test_create_all_four_and_read_back(server):
    s = server()
    r = s.api("POST", "/traffic-sources", SOURCE)
    assert r.status_code == 201, r.text
    src = r.json()
    assert isinstance(src["id"], int)
    assert src["name"] == "Search A" and src["postback_url"] == SOURCE["postback_url"]
    assert RFC3339.match(src["created_at"]) and RFC3339.match(src["updated_at"])
    assert r.headers.get("location") == f"/api/v1/traffic-sources/{src['id']}"

    offer = create(s, "/offers", OFFER)
    assert offer["payout"] == {"type": "cpa", "amount": "12.50", "currency": "USD", "percent": "0.00"}
    assert offer["repeat_conversions"] is False
    assert offer["url"] == OFFER["url"]
    lander = create(s, "/landers", LANDER)
    assert lander["url"] == LANDER["url"]

    camp = create(s, "/campaigns", campaign_body(src["id"], offer_id=offer["id"], lander_id=lander["id"]))
    assert camp["traffic_source_id"] == src["id"]
    assert camp["destination"] == {"offer_id": offer["id"], "lander_id": lander["id"]}
    assert camp["cost"] == {"model": "cpc", "amount": "0.40", "currency": "USD", "percent": "0.00",
                            "conversion_type": ""}
    assert camp["partner_id"] is None
    assert camp["status"] == "active"
    assert re.fullmatch(r"[A-Za-z0-9_-]{4,64}", camp["token"]), camp["token"]
    assert camp["tracking_url"] == f"{s.base}/c/{camp['token']}"
    assert camp["impression_url"] == f"{s.base}/i/{camp['token']}"
    assert camp["postback_url"].startswith(f"{s.base}/pb?") and "{clickid}" in camp["postback_url"]

    for path, obj in (("/traffic-sources", src), ("/offers", offer), ("/landers", lander), ("/campaigns", camp)):
        g = s.api("GET", f"{path}/{obj['id']}")
        assert g.status_code == 200, g.text
        assert g.json() == obj, path
        lst = s.api("GET", path).json()
        assert lst == {"rows": [obj], "next": None}, path


def test_money_amounts_are_normalised_strings(server):
    s = server()
    for amount, shown in (("12.5", "12.50"), ("0", "0.00"), ("7", "7.00"), ("0.123456", "0.123456"),
                          ("1.100", "1.10")):
        o = create(s, "/offers", {**OFFER, "payout": {"type": "cpa", "amount": amount, "currency": "usd"}})
        assert o["payout"]["amount"] == shown, (amount, o["payout"])
        assert o["payout"]["currency"] == "USD"


def test_paging(server):
    s = server()
    ids = [create(s, "/traffic-sources", {"name": f"src {i}"})["id"] for i in range(7)]
    page = s.api("GET", "/traffic-sources", params={"limit": 3}).json()
    assert [r["id"] for r in page["rows"]] == ids[:3]
    assert page["next"] == ids[2]
    page2 = s.api("GET", "/traffic-sources", params={"limit": 3, "after": page["next"]}).json()
    assert [r["id"] for r in page2["rows"]] == ids[3:6]
    page3 = s.api("GET", "/traffic-sources", params={"limit": 3, "after": page2["next"]}).json()
    assert [r["id"] for r in page3["rows"]] == ids[6:]
    assert page3["next"] is None
    exact = s.api("GET", "/traffic-sources", params={"limit": 7}).json()
    assert len(exact["rows"]) == 7 and exact["next"] is None
    assert s.api("GET", "/traffic-sources").json()["next"] is None  # default limit 100
    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"after": "-3"}, {"page": "2"},
                {"limit": "2", "limit ": "3"}):
        err = json_error(s.api("GET", "/traffic-sources", params=bad), 422)
        assert err["field"], (bad, err)
    # default postback_url of a source is ""
    assert page["rows"][0]["postback_url"] == ""


def test_replace_patch_delete(server):
    s = server()
    src = create(s, "/traffic-sources", SOURCE)
    offer = create(s, "/offers", OFFER)
    offer2 = create(s, "/offers", {**OFFER, "name": "Offer B"})
    camp = create(s, "/campaigns", campaign_body(src["id"], offer_id=offer["id"]))

    # PATCH: merge; untouched fields stay.
    p = s.api("PATCH", f"/offers/{offer['id']}", {"payout": {"amount": "15"}})
    assert p.status_code == 200, p.text
    assert p.json()["payout"] == {"type": "cpa", "amount": "15.00", "currency": "USD", "percent": "0.00"}
    assert p.json()["name"] == "Offer A"
    assert p.json()["created_at"] == offer["created_at"]

    # PUT: the whole object; a missing required field is named.
    err = json_error(s.api("PUT", f"/offers/{offer['id']}", {"name": "x", "url": "https://o.example/"}), 422)
    assert err["field"] == "payout"
    put = s.api("PUT", f"/offers/{offer['id']}", {"name": "Offer A2", "url": "https://o2.example/",
                                                   "payout": {"type": "cpl", "amount": "1", "currency": "EUR"}})
    assert put.status_code == 200, put.text
    assert put.json()["payout"] == {"type": "cpl", "amount": "1.00", "currency": "EUR", "percent": "0.00"}
    assert s.api("GET", f"/offers/{offer['id']}").json() == put.json()

    # The campaign keeps its token across a PUT that does not name one.
    put = s.api("PUT", f"/campaigns/{camp['id']}", campaign_body(src["id"], offer_id=offer2["id"]))
    assert put.status_code == 200, put.text
    assert put.json()["token"] == camp["token"]
    assert put.json()["destination"] == {"offer_id": offer2["id"], "lander_id": None}

    # An offer in use cannot be deleted: 409 naming the field.
    err = json_error(s.api("DELETE", f"/offers/{offer2['id']}"), 409)
    assert err["field"] == "destination.offer_id"
    err = json_error(s.api("DELETE", f"/traffic-sources/{src['id']}"), 409)
    assert err["field"] == "traffic_source_id"
    # The unused one can.
    d = s.api("DELETE", f"/offers/{offer['id']}")
    assert d.status_code == 204 and d.content == b""
    json_error(s.api("GET", f"/offers/{offer['id']}"), 404)
    json_error(s.api("DELETE", f"/offers/{offer['id']}"), 404)
    json_error(s.api("PATCH", f"/offers/{offer['id']}", {"name": "zombie"}), 404)
    assert [o["id"] for o in s.api("GET", "/offers").json()["rows"]] == [offer2["id"]]
    # A deleted offer cannot be referenced.
    err = json_error(s.api("PATCH", f"/campaigns/{camp['id']}", {"destination": {"offer_id": offer["id"]}}),
                     (404, 422))
    assert err["field"] == "destination.offer_id"

    # Campaign deleted, then its offer and source can go.
    assert s.api("DELETE", f"/campaigns/{camp['id']}").status_code == 204
    assert s.api("DELETE", f"/offers/{offer2['id']}").status_code == 204
    assert s.api("DELETE", f"/traffic-sources/{src['id']}").status_code == 204
    # A deleted campaign's link goes to the fallback.
    r = s.get(f"/c/{camp['token']}")
    assert r.status_code == 302 and r.headers["location"] == "https://www.example.com/"


def test_campaign_validation(server):
    s = server()
    src = create(s, "/traffic-sources", SOURCE)
    offer = create(s, "/offers", OFFER)
    err = json_error(s.api("POST", "/campaigns", campaign_body(src["id"])), 422)
    assert err["field"] == "destination"
    err = json_error(s.api("POST", "/campaigns", campaign_body(99999, offer_id=offer["id"])), (404, 422))
    assert err["field"] == "traffic_source_id"
    err = json_error(s.api("POST", "/campaigns", campaign_body(src["id"], offer_id=424242)), (404, 422))
    assert err["field"] == "destination.offer_id"
    err = json_error(s.api("POST", "/campaigns", campaign_body(src["id"], offer_id="1")), 422)
    assert err["field"] == "destination.offer_id"
    body = campaign_body(src["id"], offer_id=offer["id"])
    body["cost"]["model"] = "cpx"
    assert json_error(s.api("POST", "/campaigns", body), 422)["field"] == "cost.model"
    body = campaign_body(src["id"], offer_id=offer["id"])
    body["cost"]["currency"] = "XXX"
    assert json_error(s.api("POST", "/campaigns", body), 422)["field"] == "cost.currency"
    body = campaign_body(src["id"], offer_id=offer["id"])
    body["status"] = "deleted"
    assert json_error(s.api("POST", "/campaigns", body), 422)["field"] == "status"
    body = campaign_body(src["id"], offer_id=offer["id"])
    body["token"] = "a b"
    assert json_error(s.api("POST", "/campaigns", body), 422)["field"] == "token"

    body = campaign_body(src["id"], offer_id=offer["id"])
    body["token"] = "my-token"
    c = create(s, "/campaigns", body)
    assert c["token"] == "my-token" and c["tracking_url"].endswith("/c/my-token")
    err = json_error(s.api("POST", "/campaigns", body), 409)
    assert err["field"] == "token"
    # Output-only keys echoed back are named.
    err = json_error(s.api("PATCH", f"/campaigns/{c['id']}", {"tracking_url": "x"}), 422)
    assert err["field"] == "tracking_url"
    # GET-then-PUT round trip minus output-only keys works.
    got = s.api("GET", f"/campaigns/{c['id']}").json()
    for k in ("id", "created_at", "updated_at", "tracking_url", "impression_url", "postback_url",
              "budget_spent_today", "budget_spent_total", "capped", "capped_reason"):
        got.pop(k)
    assert s.api("PUT", f"/campaigns/{c['id']}", got).status_code == 200


@pytest.mark.parametrize("path,body,field", [
    ("/traffic-sources", {"name": ""}, "name"),
    ("/traffic-sources", {"name": "x" * 201}, "name"),
    ("/traffic-sources", {"name": "a\u0007b"}, "name"),
    ("/traffic-sources", {"name": 5}, "name"),
    ("/traffic-sources", {"name": None}, "name"),
    ("/traffic-sources", {}, "name"),
    ("/traffic-sources", {"name": "ok", "postback_url": "ftp://x.example/"}, "postback_url"),
    ("/offers", {**OFFER, "url": "javascript:alert(1)"}, "url"),
    ("/offers", {**OFFER, "url": "https://x.example/a b"}, "url"),
    ("/offers", {**OFFER, "url": "https:///path"}, "url"),
    ("/offers", {**OFFER, "payout": {"type": "cpa", "amount": "1"}}, "payout.currency"),
    ("/offers", {**OFFER, "payout": {"type": "xyz", "amount": "1", "currency": "USD"}}, "payout.type"),
    ("/offers", {**OFFER, "payout": "12.50"}, "payout"),
    ("/landers", {"name": "l"}, "url"),
])
def test_entity_validation_names_the_field(server, path, body, field):
    s = server()
    err = json_error(s.api("POST", path, body), 422)
    assert err["field"] == field, err
    assert s.api("GET", path).json()["rows"] == []


def test_not_found_and_methods(server):
    s = server()
    json_error(s.api("GET", "/offers/12345"), 404)
    json_error(s.api("GET", "/offers/abc"), 404)
    json_error(s.api("GET", "/offers/0"), 404)
    json_error(s.api("GET", "/nope"), 404)
    json_error(s.api("GET", "/offers/1/extra"), 404)
    r = s.api("DELETE", "/offers")
    json_error(r, 405)
    assert "GET" in r.headers.get("allow", "") and "POST" in r.headers.get("allow", "")
    json_error(s.api("POST", "/offers/1", OFFER), 405)
    json_error(s.api("POST", "/settings", {}), 405)


def test_auth(server):
    s = server()
    for key, why in ((None, "no key"), ("pm_" + "0" * 40, "unknown key"), ("x" * 5000, "huge key")):
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        r = s.request("GET", "/api/v1/offers", headers=headers)
        json_error(r, 401)
        assert r.headers.get("www-authenticate", "").lower().startswith("bearer"), why
        # 401 comes before everything else, even for paths that do not exist.
        json_error(s.request("POST", "/api/v1/nope", headers=headers, json={}), 401)
    json_error(s.request("GET", "/api/v1/offers", headers={"Authorization": f"Basic {s.key}"}), 401)

    viewer = s.create_key("viewer")
    assert viewer != s.key
    assert s.api("GET", "/offers", key=viewer).status_code == 200
    assert s.api("GET", "/settings", key=viewer).status_code == 200
    assert s.api("GET", "/events", key=viewer, params={"type": "click"}).status_code == 200
    for method, path, body in (("POST", "/offers", OFFER), ("PATCH", "/settings", {"fallback_url": "https://a.example/"}),
                               ("POST", "/keys", {"role": "admin"}), ("DELETE", "/offers/1", None)):
        err = json_error(s.api(method, path, body, key=viewer), 403)
        assert err["code"] == "forbidden", err
    assert s.api("GET", "/offers").json()["rows"] == []
    # The key printed at first start works too (stdout, alone on its line with a label).
    m = re.search(r"(pm_[0-9a-z]{40})", s.stdout())
    assert m, s.stdout()
    assert s.api("GET", "/offers", key=m.group(1)).status_code == 200


def test_keys_endpoint(server):
    s = server()
    r = s.api("POST", "/keys", {"role": "viewer", "name": "dash"})
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["role"] == "viewer" and k["name"] == "dash" and k["key"].startswith("pm_")
    assert s.api("GET", "/offers", key=k["key"]).status_code == 200
    json_error(s.api("POST", "/offers", OFFER, key=k["key"]), 403)
    assert json_error(s.api("POST", "/keys", {"role": "root"}), 422)["field"] == "role"


def test_settings(server):
    s = server()
    g = s.api("GET", "/settings")
    assert g.status_code == 200
    doc = g.json()
    assert doc["fallback_url"] == "https://www.example.com/"
    assert doc["ip_v4_prefix"] == "24"
    assert doc["currency"] == "USD"
    p = s.api("PATCH", "/settings", {"fallback_url": "https://fb.example/", "ip_v4_prefix": "16"})
    assert p.status_code == 200, p.text
    assert p.json()["fallback_url"] == "https://fb.example/" and p.json()["ip_v4_prefix"] == "16"
    for body, field in (({"fallback_url": "nope"}, "fallback_url"), ({"ip_v4_prefix": "33"}, "ip_v4_prefix"),
                        ({"ip_v4_prefix": 16}, "ip_v4_prefix"), ({"bogus": "1"}, "bogus"),
                        ({"trusted_proxies": "10.0.0.0/99"}, "trusted_proxies"),
                        ({"timezone": ""}, "timezone"), ({"currency": "XYZ"}, "currency")):
        err = json_error(s.api("PATCH", "/settings", body), 422)
        assert err["field"] == field, (body, err)
    # All or nothing: a bad key leaves the good one unwritten.
    json_error(s.api("PATCH", "/settings", {"fallback_url": "https://other.example/", "ip_v4_prefix": "99"}), 422)
    assert s.api("GET", "/settings").json()["fallback_url"] == "https://fb.example/"
    # The postback secret is never shown; sending the mask back keeps it.
    assert s.api("PATCH", "/settings", {"postback_secret": "s3cret"}).status_code == 200
    assert s.api("GET", "/settings").json()["postback_secret"] == "***"
    assert s.api("PATCH", "/settings", {"postback_secret": "***", "cookie_days": "30"}).status_code == 200
    assert s.api("GET", "/settings").json()["postback_secret"] == "***"
    assert s.api("GET", "/settings").json()["cookie_days"] == "30"


def test_api_writes_survive_restart(server):
    s = server()
    src = create(s, "/traffic-sources", SOURCE)
    offer = create(s, "/offers", OFFER)
    camp = create(s, "/campaigns", campaign_body(src["id"], offer_id=offer["id"]))
    s.api("PATCH", "/settings", {"fallback_url": "https://after-restart.example/"})
    s.restart()
    assert s.api("GET", f"/campaigns/{camp['id']}").json() == camp
    r = s.get(f"/c/{camp['token']}")
    assert r.status_code == 302 and r.headers["location"].startswith("https://offer.example/")
    assert s.get("/c/unknown").headers["location"] == "https://after-restart.example/"


def test_settings_timezone_must_name_a_real_zone(server):
    """The error text promises "an IANA time zone name such as Europe/Berlin"."""
    s = server()
    assert s.api("PATCH", "/settings", {"timezone": "Europe/Berlin"}).status_code == 200
    err = json_error(s.api("PATCH", "/settings", {"timezone": "Mars/Olympus"}), 422)
    assert err["field"] == "timezone"
    assert s.api("GET", "/settings").json()["timezone"] == "Europe/Berlin"


def test_tokens_are_never_reused_and_base_url_shapes_links(server):
    s = server()
    src = create(s, "/traffic-sources", SOURCE)
    offer = create(s, "/offers", OFFER)
    body = campaign_body(src["id"], offer_id=offer["id"])
    body["token"] = "spring-sale"
    c = create(s, "/campaigns", body)
    assert s.api("DELETE", f"/campaigns/{c['id']}").status_code == 204
    # An old link must not start counting for a new campaign.
    assert json_error(s.api("POST", "/campaigns", body), 409)["field"] == "token"
    generated = {create(s, "/campaigns", campaign_body(src["id"], offer_id=offer["id"]))["token"] for _ in range(5)}
    assert len(generated) == 5
    assert s.api("PATCH", "/settings", {"base_url": "https://trk.example.com/t"}).status_code == 200
    row = s.api("GET", "/campaigns", params={"limit": 1}).json()["rows"][0]
    assert row["tracking_url"] == f"https://trk.example.com/t/c/{row['token']}"
    assert row["postback_url"].startswith("https://trk.example.com/t/pb?")
