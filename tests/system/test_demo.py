"""
The demo workspace and the traffic simulator, black box: `perfmark demo` on a
fresh data dir seeds five traffic sources and twelve campaigns, simulates a
few days of traffic into the journal and serves it; the first start stores
that traffic through the normal recovery. Checks, through /api/v1/events,
that every channel has impressions, clicks and conversions, that every
conversion's click exists, precedes it and shares its campaign and visitor;
that every campaign has its creative entities and every click, impression
and conversion carries the creative its sub2 names (the click's, for a
conversion);
that restarts replay nothing twice; that `perfmark simulate` run beside a
running server is stored at its next start, and that simulating the same
seed and window again stores nothing new.
"""
import datetime
import re
import time

import pytest
import requests

from conftest import start_demo, stop_demo

DEMO_START_TIMEOUT = 180.0  # an ASan build storing ~120k events with their rollups

CHANNEL_WORDS = {"search": "search", "social": "social", "native": "native",
                 "affiliate": "affiliate", "ctv": "tv"}
# The simulator's channel profiles (src/sim/model.c): creatives per campaign.
CREATIVES_PER_CHANNEL = {"search": 5, "social": 8, "native": 6, "affiliate": 4, "ctv": 3}


def all_rows(s, path, params):
    rows, after = [], None
    while True:
        p = dict(params, limit=1000)
        if after:
            p["after"] = after
        r = s.api("GET", path, params=p, timeout=60)
        assert r.status_code == 200, r.text
        doc = r.json()
        rows.extend(doc["rows"])
        if doc["next"] is None:
            return rows
        after = doc["next"]


def channels_by_campaign(s):
    sources = {src["id"]: src["name"] for src in all_rows(s, "/traffic-sources", {})}
    out = {}
    for c in all_rows(s, "/campaigns", {}):
        name = sources[c["traffic_source_id"]].lower()
        out[c["id"]] = next(ch for ch, word in CHANNEL_WORDS.items() if word in name)
    return out


def snapshot(s, campaign):
    """Counts that must not move on a restart: all clicks and conversions,
    and one campaign's impressions (all impressions would be slow to page)."""
    return {
        "clicks": len(all_rows(s, "/events", {"type": "click"})),
        "conversions": len(all_rows(s, "/events", {"type": "conversion"})),
        "impressions": len(all_rows(s, "/events", {"type": "impression", "campaign": campaign})),
    }


@pytest.fixture
def demo(server):
    """A demo workspace (3 days at 4x volume) served on a free port. Returns
    the Server (not yet owning the process) and the demo's stdout."""
    s = server(threads=2, start=False)
    t0 = time.monotonic()
    proc, out_path, err_path = start_demo(s, "--threads", "2", "--days", "3", "--scale", "4", "--seed", "11",
                                          timeout=DEMO_START_TIMEOUT)
    try:
        print(f"demo up (simulated and stored) in {time.monotonic() - t0:.1f}s")
        out = out_path.read_text()
        m = re.search(r"pm_[0-9a-z]{40}", out)
        assert m, out
        s.key = m.group(0)
        yield s, proc, out
    finally:
        stop_demo(proc, err_path)


def test_demo_has_every_channel_and_consistent_conversions(demo):
    s, proc, out = demo
    assert "tracking URL" in out and "/c/demo" in out and "/ui" in out and "/pb?clickid=" in out, out
    assert re.search(r"simulated 3 days of traffic", out), out
    channels = channels_by_campaign(s)
    assert len(channels) == 12 and set(channels.values()) == set(CHANNEL_WORDS), channels

    clicks = {c["id"]: c for c in all_rows(s, "/events", {"type": "click"})}
    conversions = all_rows(s, "/events", {"type": "conversion"})
    seen = {t: set() for t in ("impression", "click", "conversion")}
    for cid, ch in channels.items():
        if all_rows(s, "/events", {"type": "impression", "campaign": cid})[:1]:
            seen["impression"].add(ch)
    for c in clicks.values():
        seen["click"].add(channels[c["campaign_id"]])
    for v in conversions:
        seen["conversion"].add(channels[v["campaign_id"]])
        click = clicks.get(v["click_id"])
        assert click is not None, f"conversion {v['id']} credits unknown click {v['click_id']}"
        assert click["ts"] < v["ts"] and click["id"] < v["id"], (click, v)
        assert click["campaign_id"] == v["campaign_id"] and click["visitor_id"] == v["visitor_id"], (click, v)
        assert v["status"] in ("approved", "pending", "rejected"), v
        assert v["revenue"]["currency"] == "USD", v
    for kind, chans in seen.items():
        assert chans == set(CHANNEL_WORDS), f"{kind}s missing for {set(CHANNEL_WORDS) - chans}"
    print(f"{len(clicks)} clicks, {len(conversions)} conversions over {len(channels)} campaigns")

    # Creatives: each campaign has its channel's creative entities, named as
    # the sub2 of its events; every click and impression carries the one its
    # sub2 names, of its own campaign, and every conversion its click's.
    creatives = {k["id"]: k for k in all_rows(s, "/creatives", {})}
    per_campaign = {}
    for k in creatives.values():
        per_campaign.setdefault(k["campaign_id"], []).append(k)
        assert k["status"] == "active" and k["url"].startswith("https://"), k
    assert set(per_campaign) == set(channels), (set(channels) - set(per_campaign))
    for cid, ch in channels.items():
        assert len(per_campaign[cid]) == CREATIVES_PER_CHANNEL[ch], (cid, ch, per_campaign[cid])
    for c in clicks.values():
        k = creatives.get(c.get("creative_id"))
        assert k is not None, f"click {c['id']} without a creative: {c}"
        assert k["campaign_id"] == c["campaign_id"] and k["name"] == c["sub2"], (k, c)
    for v in conversions:
        assert v.get("creative_id") == clicks[v["click_id"]]["creative_id"], (v, clicks[v["click_id"]])
    for cid in channels:
        page = s.api("GET", "/events", params={"type": "impression", "campaign": cid, "limit": 300}, timeout=60)
        assert page.status_code == 200 and page.json()["rows"], page.text
        for i in page.json()["rows"]:
            k = creatives.get(i.get("creative_id"))
            assert k is not None and k["campaign_id"] == cid and k["name"] == i["sub2"], (k, i)
    assert all(len({c["creative_id"] for c in clicks.values() if c["campaign_id"] == cid}) > 1 for cid in channels)

    # Lander clicks: at most one per click, of a click that showed a lander,
    # and on lander campaigns conversions only from visitors who clicked through.
    hops = all_rows(s, "/events", {"type": "lander_click"})
    assert hops, "no lander clicks"
    through = {h["click_id"] for h in hops}
    assert len(through) == len(hops), "a click with two lander clicks"
    for h in hops:
        click = clicks[h["click_id"]]
        assert click.get("lander_id") and h["lander_id"] == click["lander_id"] and click["ts"] < h["ts"], (click, h)
    lander_visits = sum(1 for c in clicks.values() if c.get("lander_id") and not c.get("bot_reason"))
    assert 0 < len(hops) < lander_visits, (len(hops), lander_visits)
    for v in conversions:
        if clicks[v["click_id"]].get("lander_id") and clicks[v["click_id"]].get("offer_id"):
            assert v["click_id"] in through, f"conversion {v['id']} without a lander click"

    # Realistic text: UTM on search and social, sub-ids, user agents, bots.
    search = [c for c in clicks.values() if channels[c["campaign_id"]] == "search"]
    assert all(c.get("utm_medium") == "cpc" and c.get("sub1", "").startswith("kw-") for c in search[:200])
    assert any("bot" in c.get("user_agent", "").lower() for c in clicks.values()), "no crawler clicks"
    assert len({c["visitor_id"] for c in clicks.values()}) < len(clicks), "no returning visitors"

    # The demo campaign still tracks live clicks.
    r = requests.get(s.url("/c/demo"), params={"sub1": "d"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["location"].startswith("https://offer.example.com/")


def test_restart_and_resimulation_store_nothing_twice(demo, perfmark):
    s, proc, out = demo
    demo_campaign = next(c["id"] for c in all_rows(s, "/campaigns", {}) if c["token"] == "demo")
    before = snapshot(s, demo_campaign)
    assert min(before.values()) > 0, before
    creatives = sorted(k["id"] for k in all_rows(s, "/creatives", {}))

    # A restart (the demo process stops, `serve` takes over): no reseeding,
    # no replay, the same events.
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    s.start()
    assert s.metrics()["perfmark_recovered_events"] == 0
    assert snapshot(s, demo_campaign) == before
    assert len(all_rows(s, "/campaigns", {})) == 12

    # Simulate two more past days beside the running server: stored only at
    # its next start.
    yesterday = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
    args = ("simulate", "--data", s.data, "--days", "2", "--end", yesterday, "--seed", "5", "--scale", "0.5")
    r = perfmark(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "restarts" in r.stdout, r.stdout
    assert snapshot(s, demo_campaign) == before
    s.restart()
    added = s.metrics()["perfmark_recovered_events"]
    after = snapshot(s, demo_campaign)
    assert added > 0 and after["clicks"] > before["clicks"], (added, before, after)

    # The same seed and window again: the same ids, nothing new stored.
    r = perfmark(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    s.restart()
    assert s.metrics()["perfmark_recovered_events"] == added
    assert snapshot(s, demo_campaign) == after
    s.restart()
    assert s.metrics()["perfmark_recovered_events"] == 0
    assert snapshot(s, demo_campaign) == after
    # Simulating again found the demo's creatives: none made twice.
    assert sorted(k["id"] for k in all_rows(s, "/creatives", {})) == creatives


def test_simulate_refuses_what_it_cannot_do(tmp_path, perfmark):
    r = perfmark("simulate", "--data", tmp_path / "none")
    assert r.returncode == 1 and "no workspace" in r.stderr, r.stderr
    for bad in (["--days", "0"], ["--scale", "0"], ["--scale", "x"], ["--end", "2026-13-01"], ["--bogus"]):
        r = perfmark("simulate", "--data", tmp_path, *bad)
        assert r.returncode == 2 and r.stderr.strip(), (bad, r.stderr)
    r = perfmark("simulate", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage:") and r.stderr == ""
