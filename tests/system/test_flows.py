"""
Flows (docs/flows.md): rules with conditions, weighted / split rotation,
frequency caps and experiments, through the admin API and real clicks.
"""
import json
import re
import urllib.parse

from conftest import wait_for


def create(s, path, body, status=201):
    r = s.api("POST", path, body)
    assert r.status_code == status, (path, r.status_code, r.text)
    return r.json()


def workspace(s):
    src = create(s, "/traffic-sources", {"name": "src"})
    a = create(s, "/offers", {"name": "A", "url": "https://a.example/?c={clickid}",
                              "payout": {"type": "cpa", "amount": "10.00", "currency": "USD"}})
    b = create(s, "/offers", {"name": "B", "url": "https://b.example/?c={clickid}",
                              "payout": {"type": "cpa", "amount": "20.00", "currency": "USD"}})
    lander = create(s, "/landers", {"name": "L", "url": "https://lander.example/?next={offer_url}"})
    return src, a, b, lander


def campaign(s, src, flow_id, name="flowed"):
    return create(s, "/campaigns", {"name": name, "traffic_source_id": src["id"], "destination": {},
                                    "flow_id": flow_id, "cost": {"model": "cpc", "amount": "0.10",
                                                                 "currency": "USD"}})


def visitor_cookie(r):
    m = re.search(r"pmv=([0-9A-Za-z]{26})", r.headers.get("set-cookie", ""))
    assert m, r.headers
    return m.group(1)


def routed_clicks(s, campaign_id, n):
    rows = s.wait_events("click", lambda rs: len(rs) >= n, campaign=campaign_id,
                         what=f"{n} clicks of campaign {campaign_id}")
    return rows, [json.loads(r["route"]) for r in rows]


def test_rules_rotation_and_recorded_reasons(server):
    s = server()
    src, a, b, lander = workspace(s)
    flow = create(s, "/flows", {
        "name": "main",
        "rules": [
            {"name": "german", "when": {"language": {"in": ["de"]}},
             "path": {"name": "de", "options": [{"offer_id": a["id"]}]}},
            {"name": "zone", "when": {"param": {"name": "sub1", "regex": "^zone-[0-9]+$"}},
             "path": {"name": "zone", "options": [{"url": "https://zone.example/?s={sub1}"}]}},
            {"name": "never", "when": {"not": {"time": {"tz": "Europe/Berlin", "hours": {"from": 0, "to": 24}}}},
             "path": {"name": "nope", "options": [{"url": "https://never.example/"}]}},
            {"name": "back", "when": {"all": [{"visitor": "returning"}, {"not": {"language": {"in": ["de"]}}}]},
             "path": {"name": "back", "options": [{"lander_id": lander["id"], "offer_id": b["id"]}]}},
        ],
        "default_path": {"name": "rot", "options": [{"offer_id": a["id"], "weight": 1},
                                                     {"offer_id": b["id"], "weight": 3}]},
    })
    assert flow["rules"][0]["when"] == {"language": {"in": ["de"]}}
    assert s.api("GET", f"/flows/{flow['id']}").json() == flow
    camp = campaign(s, src, flow["id"])
    assert camp["flow_id"] == flow["id"] and camp["destination"] == {"offer_id": None, "lander_id": None}
    t = camp["token"]

    r = s.get(f"/c/{t}", headers={"Accept-Language": "fr;q=0.9, de-AT;q=0.8"})
    assert r.status_code == 302 and r.headers["location"].startswith("https://a.example/?c=")
    vid = visitor_cookie(r)
    r = s.get(f"/c/{t}?sub1=zone-42")
    assert r.headers["location"] == "https://zone.example/?s=zone-42"
    r = s.get(f"/c/{t}?sub1=zone-x", headers={"Accept-Language": "de;q=0"})  # q=0: not German
    assert re.match(r"https://[ab]\.example/", r.headers["location"])
    # A returning visitor: the lander, whose {offer_url} leads through /go to offer B.
    r = s.get(f"/c/{t}", headers={"Cookie": f"pmv={vid}"})
    loc = r.headers["location"]
    assert loc.startswith("https://lander.example/?next="), loc
    go = urllib.parse.unquote(re.search(r"next=(.*)$", loc).group(1))
    assert go.startswith(s.base + "/go?clickid=")
    r = s.get(go[len(s.base):])
    assert r.status_code == 302 and r.headers["location"].startswith("https://b.example/?c="), r.headers

    hosts = []
    for _ in range(200):
        r = s.get(f"/c/{t}")
        hosts.append(re.match(r"https://(\w)\.example/", r.headers["location"]).group(1))
    assert hosts.count("a") > 10 and hosts.count("b") > hosts.count("a")  # 1:3, P(fail) < 1e-9

    rows, routes = routed_clicks(s, camp["id"], 204)
    assert routes[0]["by"] == "rule" and routes[0]["rule_name"] == "german" and routes[0]["path"] == "de"
    assert routes[1]["rule_name"] == "zone" and routes[1]["option"] == 0
    assert routes[2]["by"] == "default" and routes[2]["weights"] == [1, 3]
    assert routes[3]["rule_name"] == "back" and rows[3]["lander_id"] == lander["id"]
    assert rows[3]["offer_id"] == b["id"]
    assert all(rt["flow"] == flow["id"] for rt in routes)
    assert not any(rt["path"] == "nope" for rt in routes)
    for row, rt in zip(rows[4:], routes[4:]):
        assert rt["rotation"] == "weighted" and row["offer_id"] == [a["id"], b["id"]][rt["option"]]


def test_flow_validation_names_the_field(server):
    s = server()
    src, a, b, lander = workspace(s)
    cases = [
        ({"rules": [{"when": {"param": {"name": "sub1", "regex": "(unclosed"}}, "path": {"options": [{"url": "https://x.example/"}]}}]},
         "rules[0].when.param.regex"),
        ({"rules": [{"when": {"any": [{"country": {"in": ["DE", 3]}}]}, "path": {"options": [{"url": "https://x.example/"}]}}]},
         "rules[0].when.any[0].country.in[1]"),
        ({"rules": [{"when": {"planet": {"equals": "mars"}}, "path": {"options": [{"url": "https://x.example/"}]}}]},
         "rules[0].when.planet"),
        ({"rules": [{"when": {"ip": {"in": ["10.0.0.0/33"]}}, "path": {"options": [{"url": "https://x.example/"}]}}]},
         "rules[0].when.ip.in[0]"),
        ({"rules": [{"when": {"time": {"tz": "Mars/Olympus", "days": ["mon"]}}, "path": {"options": [{"url": "https://x.example/"}]}}]},
         "rules[0].when.time.tz"),
        ({"frequency_cap": {"max": 2, "per": "day"}}, "fallback_path"),
        ({"default_path": {"options": [{"offer_id": 999}]}}, "default_path.options[0].offer_id"),
        ({"default_path": {"options": [{"offer_id": a["id"], "weight": -1}]}}, "default_path.options[0].weight"),
        ({"default_path": {"rotation": "random", "options": [{"offer_id": a["id"]}]}}, "default_path.rotation"),
    ]
    for extra, field in cases:
        body = {"name": "bad", "default_path": {"options": [{"offer_id": a["id"]}]}}
        body.update(extra)
        r = s.api("POST", "/flows", body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["error"]["field"] == field, (field, r.text)
    r = s.api("POST", "/flows", {"name": "no default"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "default_path"
    # A flow in use cannot be deleted; a campaign needs a destination or a flow.
    flow = create(s, "/flows", {"name": "ok", "default_path": {"options": [{"offer_id": a["id"]}]}})
    camp = campaign(s, src, flow["id"])
    r = s.api("DELETE", f"/flows/{flow['id']}")
    assert r.status_code == 409 and r.json()["error"]["field"] == "flow_id"
    r = s.api("PATCH", f"/campaigns/{camp['id']}", {"flow_id": None})
    assert r.status_code == 422 and r.json()["error"]["field"] == "destination"
    r = s.api("PATCH", f"/flows/{flow['id']}", {"default_path": {"options": [{"offer_id": b["id"]}]}})
    assert r.status_code == 200, r.text
    r = s.get(f"/c/{camp['token']}")
    assert r.headers["location"].startswith("https://b.example/")


def test_frequency_cap_survives_a_restart(server):
    s = server(extra_args=("--visitors", "5000"))
    src, a, b, lander = workspace(s)
    flow = create(s, "/flows", {
        "name": "capped", "default_path": {"options": [{"offer_id": a["id"]}]},
        "fallback_path": {"name": "capped", "options": [{"url": "https://capped.example/"}]},
        "frequency_cap": {"max": 2, "per": "day"}})
    t = campaign(s, src, flow["id"])["token"]
    r = s.get(f"/c/{t}")
    vid = visitor_cookie(r)
    cookie = {"Cookie": f"pmv={vid}"}
    assert s.get(f"/c/{t}", headers=cookie).headers["location"].startswith("https://a.example/")
    assert s.get(f"/c/{t}", headers=cookie).headers["location"] == "https://capped.example/"
    assert s.get(f"/c/{t}").headers["location"].startswith("https://a.example/")  # another visitor
    s.wait_materialized()
    s.restart()
    assert s.get(f"/c/{t}", headers=cookie).headers["location"] == "https://capped.example/"
    rows = s.wait_events("click", lambda rs: len(rs) >= 5)
    assert [json.loads(r["route"])["by"] for r in rows] == ["default", "default", "cap", "default", "cap"]
    m = s.metrics()  # this process's counters: one capped click since the restart
    assert m["perfmark_flow_clicks_total"] == 1 and m["perfmark_flow_capped_clicks_total"] == 1


def test_impression_cap(server):
    s = server()
    src, a, b, lander = workspace(s)
    flow = create(s, "/flows", {
        "name": "seen enough", "default_path": {"options": [{"offer_id": a["id"]}]},
        "fallback_path": {"options": [{"url": "https://capped.example/"}]},
        "frequency_cap": {"max": 2, "per": "life", "count": "impressions"}})
    t = campaign(s, src, flow["id"])["token"]
    r = s.get(f"/i/{t}")
    cookie = {"Cookie": f"pmv={visitor_cookie(r)}"}
    assert s.get(f"/c/{t}", headers=cookie).headers["location"].startswith("https://a.example/")
    assert s.get(f"/c/{t}", headers=cookie).headers["location"].startswith("https://a.example/")  # clicks don't count
    s.get(f"/i/{t}", headers=cookie)
    assert s.get(f"/c/{t}", headers=cookie).headers["location"] == "https://capped.example/"
    s.wait_materialized()
    s.restart()
    assert s.get(f"/c/{t}", headers=cookie).headers["location"] == "https://capped.example/"
    r = s.api("POST", "/flows", {"name": "x", "default_path": {"options": [{"offer_id": a["id"]}]},
                                 "fallback_path": {"options": [{"offer_id": a["id"]}]},
                                 "frequency_cap": {"max": 2, "per": "day", "count": "views"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "frequency_cap.count"


def test_split_experiment_results(server, perfmark):
    s = server()
    src, a, b, lander = workspace(s)
    flow = create(s, "/flows", {"name": "ab", "default_path": {
        "name": "test", "rotation": "split", "options": [{"offer_id": a["id"]}, {"offer_id": b["id"]}]}})
    camp = campaign(s, src, flow["id"])
    exp = create(s, "/experiments", {"name": "A vs B", "flow_id": flow["id"], "path": "test", "goal": "cvr"})
    r = s.api("POST", "/experiments", {"name": "x", "flow_id": flow["id"], "path": "nosuch"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "path"
    assert exp["assignment_seed"] == f"flow-{flow['id']}-test"
    seen = {}
    for i in range(40):
        r = s.get(f"/c/{camp['token']}")
        vid = visitor_cookie(r)
        again = s.get(f"/c/{camp['token']}", headers={"Cookie": f"pmv={vid}"})
        # Deterministic per visitor: the same option both times.
        assert again.headers["location"][:18] == r.headers["location"][:18]
        seen[vid] = r.headers["location"]
        if i == 0:  # the CLI reproduces the assignment from the seed
            got = perfmark("experiment", "assign", "--experiment", exp["assignment_seed"], "--weights", "0.5,0.5", vid)
            want = "a" if r.headers["location"].startswith("https://a.") else "b"
            assert got.stdout.split() == [vid, {"a": "0", "b": "1"}[want]], got.stdout
        if i % 4 == 0:
            click = re.search(r"c=([0-9A-Za-z]{26})", r.headers["location"]).group(1)
            assert s.get(f"/pb?clickid={click}&txid=t{i}").status_code == 200
    s.wait_materialized()
    doc = s.api("GET", f"/experiments/{exp['id']}").json()
    res = doc["results"]
    assert res["goal"] == "cvr" and len(res["options"]) == 2
    opts = res["options"]
    assert sum(o["visitors"] for o in opts) == 40 and sum(o["clicks"] for o in opts) == 80
    assert sum(o["converted_visitors"] for o in opts) == 10
    assert opts[0]["vs_control"] is None
    cmp = opts[1]["vs_control"]
    assert set(cmp) >= {"uplift", "p_value", "sequential", "chance_to_beat_control", "expected_loss"}
    assert "warning" in res["srm"]
    # The list does not compute results; the CLI shows the same figures.
    assert "results" not in s.api("GET", "/experiments").json()["rows"][0]
    cli = perfmark("experiment", "show", "--data", s.data, "--format", "json", exp["id"])
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["results"] == res
    table = perfmark("experiment", "show", "--data", s.data, exp["id"])
    assert table.returncode == 0 and "SRM p-value" in table.stdout and "(control)" in table.stdout, table.stdout
    missing = perfmark("experiment", "show", "--data", s.data, 999)
    assert missing.returncode == 1 and "no experiment 999" in missing.stderr


def test_audience_clicked_but_not_converted(server):
    s = server()
    src, a, b, lander = workspace(s)
    flow = create(s, "/flows", {
        "name": "retarget",
        "rules": [{"name": "lapsed", "when": {"audience": {"clicked_within_days": 7, "converted": False}},
                   "path": {"name": "lapsed", "options": [{"offer_id": b["id"]}]}}],
        "default_path": {"options": [{"offer_id": a["id"]}]}})
    t = campaign(s, src, flow["id"])["token"]
    r = s.get(f"/c/{t}")
    assert r.headers["location"].startswith("https://a.example/")  # a first click: no history
    vid = visitor_cookie(r)
    cookie = {"Cookie": f"pmv={vid}"}
    r = s.get(f"/c/{t}", headers=cookie)
    assert r.headers["location"].startswith("https://b.example/")  # clicked, not converted
    click = re.search(r"c=([0-9A-Za-z]{26})", r.headers["location"]).group(1)
    assert s.get(f"/pb?clickid={click}").status_code == 200
    s.wait_materialized()
    assert s.get(f"/c/{t}", headers=cookie).headers["location"].startswith("https://a.example/")
    # The history is rebuilt from the store at start.
    other = visitor_cookie(s.get(f"/c/{t}"))
    s.restart()
    assert s.get(f"/c/{t}", headers={"Cookie": f"pmv={other}"}).headers["location"].startswith("https://b.example/")
    assert s.get(f"/c/{t}", headers=cookie).headers["location"].startswith("https://a.example/")


def test_capped_offer_gets_no_flow_traffic(server):
    """An offer at its daily conversion cap is skipped by the rotation; when
    every option is capped the flow's fallback path takes the click."""
    s = server(threads=2)
    src, a, b, lander = workspace(s)
    assert s.api("PATCH", f"/offers/{a['id']}", {"caps": {"daily": 1}}).status_code == 200
    flow = create(s, "/flows", {
        "name": "capped",
        "default_path": {"name": "rot", "options": [{"offer_id": a["id"], "weight": 1},
                                                     {"offer_id": b["id"], "weight": 1}]},
    })
    t = campaign(s, src, flow["id"])["token"]
    # Click until offer A gets one, and convert it: A reaches its cap.
    for _ in range(64):
        r = s.get(f"/c/{t}")
        if r.headers["location"].startswith("https://a.example/"):
            break
    else:
        raise AssertionError("offer A never chosen")
    cid = re.search(r"pmc=([0-9A-Za-z]{26})", r.headers["set-cookie"]).group(1)
    assert s.get("/pb", params={"clickid": cid, "txid": "cap-a"}).status_code == 200
    assert s.api("GET", f"/offers/{a['id']}").json()["capped"] is True
    before = s.metrics().get("perfmark_flow_offer_capped_clicks_total", 0)
    for _ in range(40):
        r = s.get(f"/c/{t}")
        assert r.headers["location"].startswith("https://b.example/"), r.headers["location"]
    assert s.metrics()["perfmark_flow_offer_capped_clicks_total"] == before + 40
    rows = s.wait_events("click", lambda rs: sum('"capped":[0]' in (x["route"] or "") for x in rs) >= 40,
                         what="40 clicks that skipped offer A")
    # Every option capped: the flow's fallback path, recorded as offer_cap.
    assert s.api("PATCH", f"/offers/{b['id']}", {"caps": {"daily": 1}}).status_code == 200
    r = s.get(f"/c/{t}")
    cid = re.search(r"pmc=([0-9A-Za-z]{26})", r.headers["set-cookie"]).group(1)
    assert s.get("/pb", params={"clickid": cid, "txid": "cap-b"}).status_code == 200
    assert s.api("PATCH", f"/flows/{flow['id']}", {
        "fallback_path": {"name": "fb", "options": [{"url": "https://sold-out.example/"}]}}).status_code == 200
    r = s.get(f"/c/{t}")
    assert r.headers["location"] == "https://sold-out.example/"
    # Without a fallback path: the campaign's fallback, nothing journaled.
    assert s.api("PATCH", f"/flows/{flow['id']}", {"fallback_path": None}).status_code == 200
    capped = s.metrics()["perfmark_capped_redirects_total"]
    r = s.get(f"/c/{t}")
    assert r.headers["location"] == "https://www.example.com/"
    assert s.metrics()["perfmark_capped_redirects_total"] == capped + 1


def lander_campaign(s, name, src, offer, lander):
    """A CPC campaign sending to `lander`, whose link goes on to `offer`."""
    return create(s, "/campaigns", {"name": name, "traffic_source_id": src["id"],
                                    "destination": {"offer_id": offer["id"], "lander_id": lander["id"]},
                                    "cost": {"model": "cpc", "amount": "0.10", "currency": "USD"}})


def test_go_records_a_lander_click(server):
    """click -> lander -> /go -> offer: the hop is a lander click of its own
    (events API, reports by lander), and the conversion credits the click."""
    s = server()
    src, a, b, lander = workspace(s)
    camp = lander_campaign(s, "lander", src, a, lander)
    r = s.get(f"/c/{camp['token']}?sub1=x")
    loc = r.headers["location"]
    assert loc.startswith("https://lander.example/?next="), loc
    click_id = re.search(r"pmc=([0-9A-Za-z]{26})", r.headers["set-cookie"]).group(1)
    s.get(f"/c/{camp['token']}")  # a second visit that never leaves the lander
    go = urllib.parse.unquote(re.search(r"next=(.*)$", loc).group(1))
    r = s.get(go[len(s.base):])
    assert r.status_code == 302 and r.headers["location"] == f"https://a.example/?c={click_id}"
    # An unknown click still gets somewhere, and records nothing.
    r = s.get("/go?clickid=01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert r.status_code == 302 and r.headers["location"] == "https://www.example.com/"
    hops = s.wait_events("lander_click", lambda rs: len(rs) >= 1, campaign=camp["id"])
    assert len(hops) == 1
    hop = hops[0]
    assert hop["click_id"] == click_id and hop["lander_id"] == lander["id"] and hop["offer_id"] == a["id"]
    assert hop["sub1"] == "x" and hop["id"] != click_id and hop.get("cost") is None
    assert s.metrics()["perfmark_lander_clicks_total"] == 1
    pb = s.get("/pb", params={"clickid": click_id, "txid": "go-1"})
    assert pb.status_code == 200, pb.text
    conv = s.wait_events("conversion", lambda rs: len(rs) >= 1, campaign=camp["id"])[0]
    assert conv["click_id"] == click_id and conv["lander_id"] == lander["id"]
    s.wait_materialized()
    for source in ("auto", "raw"):
        r = s.api("GET", "/reports", params={"group_by": "lander", "source": source,
                                             "metrics": "clicks,lander_visits,lander_clicks,lander_ctr,conversions"})
        assert r.status_code == 200, r.text
        rows = r.json()["rows"]
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["clicks"], row["lander_visits"], row["lander_clicks"], row["conversions"]) == (2, 2, 1, 1), row
        assert row["lander_ctr"] == 0.5
    r = s.api("GET", "/events", params={"type": "nope"})
    assert r.status_code == 422 and "lander_click" in r.json()["error"]["message"]


def test_go_twice_stores_one_lander_click(server):
    """A reload of the lander's link (or a double click) is one lander click:
    the store keeps the first per click, so lander_ctr stays <= 1, also after
    a restart replays the journal; both visits still reach the offer."""
    s = server()
    src, a, b, lander = workspace(s)
    camp = lander_campaign(s, "twice", src, a, lander)
    r = s.get(f"/c/{camp['token']}")
    click_id = re.search(r"pmc=([0-9A-Za-z]{26})", r.headers["set-cookie"]).group(1)
    first = s.get("/go", params={"clickid": click_id})
    second = s.get("/go", cookies={"pmc": click_id})
    for g in (first, second):
        assert g.status_code == 302 and g.headers["location"] == f"https://a.example/?c={click_id}"

    def check():
        s.wait_materialized()
        hops = s.events("lander_click")
        assert len(hops) == 1 and hops[0]["click_id"] == click_id, hops
        for source in ("auto", "raw"):
            r = s.api("GET", "/reports", params={"group_by": "lander", "source": source,
                                                 "metrics": "clicks,lander_visits,lander_clicks,lander_ctr"})
            assert r.status_code == 200, r.text
            row = r.json()["rows"][0]
            assert (row["clicks"], row["lander_visits"], row["lander_clicks"]) == (1, 1, 1), row
            assert row["lander_ctr"] == 1.0

    check()
    s.restart()
    check()
    # After the restart a third hop is still one lander click.
    assert s.get("/go", params={"clickid": click_id}).headers["location"] == f"https://a.example/?c={click_id}"
    check()
