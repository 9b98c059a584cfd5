"""
Attribution over tracked journeys: real impressions, clicks and postbacks go
through HTTP (two devices of one person joined by ?uid=, two more by a hashed
?email=), then GET /api/v1/attribution is checked for first, last and linear
against numbers computed by hand here, totals against the approved
conversions and their revenue, and `perfmark attribute --data` against the
API. Also: user_id / email_hash show in the events API, the raw email is
stored nowhere, parameters are validated strictly.
"""
import hashlib
import json

import pytest

from conftest import cookies_of, json_error

SEARCH, SOCIAL, EMAIL = "search source", "social source", "email source"


def visit(s, path, visitor=None, params=None):
    """A click (/c) or impression (/i) as one device; returns (visitor, click id or None)."""
    cookies = {"pmv": visitor} if visitor else None
    r = s.http.get(s.url(path), params=params, cookies=cookies, allow_redirects=False, timeout=10)
    assert r.status_code in (200, 204, 302), r.text
    got = cookies_of(r)
    return got["pmv"][0], got.get("pmc", [None])[0]


def postback(s, click_id, **params):
    r = s.get("/pb", params={"clickid": click_id, **params})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def tracked(server):
    s = server()
    camps = {n: s.setup_campaign(name=n) for n in ("search", "social", "email")}
    tok = {n: c["token"] for n, c in camps.items()}

    # Person 1, one device: social impression, search click, email click -> 30.
    v1, _ = visit(s, f"/i/{tok['social']}")
    visit(s, f"/c/{tok['search']}", v1)
    _, c1 = visit(s, f"/c/{tok['email']}", v1)
    postback(s, c1, payout="30", txid="t1")

    # Person 2, two devices joined by uid: social on the laptop, search on
    # the phone, which converts -> 10.
    visit(s, f"/c/{tok['social']}", params={"uid": "u-42"})
    v2b, c2 = visit(s, f"/c/{tok['search']}", params={"user_id": "u-42"})
    postback(s, c2, payout="10", txid="t2")

    # Person 3, joined by email: a pending lead on the laptop (not a
    # conversion, but it carries the email), then a sale on the phone -> 20.
    _, c3a = visit(s, f"/c/{tok['social']}")
    postback(s, c3a, payout="5", txid="t3a", status="pending", type="lead", email="Jo@Example.com")
    _, c3b = visit(s, f"/c/{tok['search']}")
    postback(s, c3b, payout="20", txid="t3b", type="sale", email="  jo@example.COM ")

    # Person 4: a rejected conversion (no credit; the click stays a null path).
    _, c4 = visit(s, f"/c/{tok['email']}")
    postback(s, c4, payout="99", txid="t4", status="rejected")
    # Person 5: a click, nothing else.
    visit(s, f"/c/{tok['social']}")
    s.wait_events("conversion", lambda rs: len(rs) == 5)
    s.wait_materialized()
    return s


def attribution(s, **params):
    r = s.api("GET", "/attribution", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def by_channel(doc):
    return {row["channel"]: row for row in doc["rows"]}


# Journeys by hand: [social(imp), search, email] 30; [social, search] 10 (uid);
# [social, search] 20 (email); null paths [email] and [social].
EXPECTED = {
    "first": {SOCIAL: (3, "60.00"), SEARCH: (0, "0.00"), EMAIL: (0, "0.00")},
    "last": {SOCIAL: (0, "0.00"), SEARCH: (2, "30.00"), EMAIL: (1, "30.00")},
    "linear": {SOCIAL: (1 / 3 + 1, "25.00"), SEARCH: (1 / 3 + 1, "25.00"), EMAIL: (1 / 3, "10.00")},
}


@pytest.mark.parametrize("model", ["first", "last", "linear"])
def test_rule_models_match_hand_computed(tracked, model):
    doc = attribution(tracked, model=model)
    assert doc["model"] == model
    assert doc["totals"] == {"conversions": 3, "value": "60.00"}
    assert doc["journeys"] == 5 and doc["converting_journeys"] == 3
    assert doc["warnings"] == []
    assert doc["currency"] == "USD"
    rows = by_channel(doc)
    assert set(rows) == set(EXPECTED[model])
    for ch, (conv, value) in EXPECTED[model].items():
        assert rows[ch]["conversions"] == pytest.approx(conv, abs=1e-6), (ch, rows[ch])
        assert rows[ch]["value"] == value, (ch, rows[ch])
    assert sum(r["conversions"] for r in doc["rows"]) == pytest.approx(3, abs=1e-5)


def test_totals_equal_approved_conversions(tracked):
    convs = tracked.events("conversion")
    approved = [c for c in convs if c["status"] == "approved"]
    assert len(approved) == 3
    revenue = sum(float(c["revenue"]["amount"]) for c in approved)
    doc = attribution(tracked, model="markov")
    assert doc["totals"]["conversions"] == len(approved)
    assert float(doc["totals"]["value"]) == pytest.approx(revenue)
    assert sum(r["conversions"] for r in doc["rows"]) == pytest.approx(3, abs=1e-5)
    assert sum(float(r["value"]) for r in doc["rows"]) == pytest.approx(60, abs=1e-5)
    assert all("removal_effect" in r for r in doc["rows"])
    assert doc["linked_visitors"] == 4


def test_identity_fields_recorded_and_email_never_stored(tracked):
    h = hashlib.sha256(b"jo@example.com").hexdigest()
    clicks = tracked.events("click")
    assert sorted(c["user_id"] for c in clicks if c.get("user_id")) == ["u-42", "u-42"]
    convs = {c["txid"]: c for c in tracked.events("conversion")}
    assert convs["t3a"]["email_hash"] == h and convs["t3b"]["email_hash"] == h
    assert convs["t2"]["user_id"] == "u-42"          # inherited from the click
    assert "email_hash" not in convs["t1"]
    raw = b"".join(p.read_bytes() for p in tracked.data.rglob("*") if p.is_file())
    assert b"jo@example.com" not in raw.lower(), "a raw email reached the disk"


def test_postback_uid_wins_over_click(server):
    s = server()
    w = s.setup_campaign(name="w")
    _, cid = visit(s, f"/c/{w['token']}", params={"uid": "from-click"})
    postback(s, cid, txid="x1", uid="from-postback")
    conv = s.wait_events("conversion", lambda rs: len(rs) == 1)[0]
    assert conv["user_id"] == "from-postback"


def test_impressions_excluded_and_no_join(tracked):
    doc = attribution(tracked, model="first", impressions="exclude")
    rows = by_channel(doc)
    # Person 1's journey starts with the search click now.
    assert rows[SOCIAL]["conversions"] == pytest.approx(2)
    assert rows[SEARCH]["conversions"] == pytest.approx(1)
    assert doc["impressions"] == "exclude"


def test_all_models_and_by_campaign(tracked):
    doc = attribution(tracked, model="all")
    assert doc["model"] == "all" and "shapley" in doc["models"]
    rows = by_channel(doc)
    assert rows[SOCIAL]["conversions"]["first"] == pytest.approx(3)
    assert rows[EMAIL]["value"]["last"] == "30.00"
    for m in doc["models"]:
        assert sum(r["conversions"][m] for r in doc["rows"]) == pytest.approx(3, abs=1e-5), m
    camp = attribution(tracked, model="last", by="campaign")
    names = {r["campaign_name"]: r for r in camp["rows"]}
    assert set(names) == {"search campaign", "social campaign", "email campaign"}
    assert names["search campaign"]["conversions"] == pytest.approx(2)
    assert all(isinstance(r["campaign_id"], int) for r in camp["rows"])


def test_range_and_lookback(tracked):
    # A range in the past holds nothing.
    doc = attribution(tracked, model="linear", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert doc["rows"] == [] and doc["totals"] == {"conversions": 0, "value": "0.00"}
    # A zero-day impression window drops the impression (it is older than the conversion).
    doc = attribution(tracked, model="first", impression_lookback="0")
    assert by_channel(doc)[SEARCH]["conversions"] == pytest.approx(1)


@pytest.mark.parametrize("params,field", [
    ({"model": "magic"}, "model"), ({"order": "0"}, "order"), ({"order": "x"}, "order"),
    ({"from": "2024-13-01"}, "from"), ({"to": "yesterday"}, "to"), ({"by": "offer"}, "by"),
    ({"click_lookback": "-1"}, "click_lookback"), ({"impression_lookback": "400"}, "impression_lookback"),
    ({"impressions": "maybe"}, "impressions"), ({"tz": "Mars/Olympus"}, "tz"), ({"bogus": "1"}, "bogus"),
    ({"from": "2024-02-01", "to": "2024-01-01"}, "to"),
])
def test_parameters_are_strict(server, params, field):
    s = server()
    r = s.api("GET", "/attribution", params=params)
    assert r.status_code == 422, r.text
    assert json_error(r)["field"] == field


def test_auth_required(server):
    s = server()
    assert s.api("GET", "/attribution", key="").status_code == 401
    viewer = s.create_key("viewer")
    assert s.api("GET", "/attribution", key=viewer).status_code == 200


def test_cli_matches_api(tracked, perfmark):
    api = by_channel(attribution(tracked, model="linear"))
    r = perfmark("attribute", "--data", tracked.data, "--model", "linear", "--format", "json")
    assert r.returncode == 0, r.stderr
    cli = {row["channel"]: row for row in json.loads(r.stdout)["channels"]}
    assert set(cli) == set(api)
    for ch in cli:
        assert cli[ch]["conversions"] == pytest.approx(api[ch]["conversions"], abs=1e-6)
        assert cli[ch]["value"] == pytest.approx(float(api[ch]["value"]), abs=1e-6)
    bad = perfmark("attribute", "--data", tracked.data, "--by", "offer")
    assert bad.returncode == 2
