"""
Visitor detection end to end (src/route, docs/routing.md): real clicks and
impressions over HTTP with chosen client addresses (X-Forwarded-For from the
trusted loopback proxy) and user agents, then the stored events, the
reports by the new dimensions, /metrics and conversions inheriting the
click's context. A GeoIP2-City-shaped database written here
(mmdb_writer.py) checks `--geoip` and regions; the built-in DB-IP database
answers the rest.
"""
import socket

from conftest import free_port, run_cli
from mmdb_writer import write as write_mmdb

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.2 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def click(s, token, ip, ua, params=None):
    headers = {"X-Forwarded-For": ip}
    if ua is not None:
        headers["User-Agent"] = ua
    r = s.new_session().get(s.url(f"/c/{token}"), params=params, headers=headers, allow_redirects=False,
                            timeout=10)
    assert r.status_code == 302, r.text
    return r


def no_ua_click(s, token, ip):
    """A raw request: requests and urllib3 always add a User-Agent."""
    host, port = s.base.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET /c/{token} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: {ip}\r\n"
                     "Connection: close\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 302"), head


def by_sub1(rows):
    return {r["sub1"]: r for r in rows if r.get("sub1")}


def test_clicks_carry_geo_device_and_bot_reason(server):
    s = server()
    w = s.setup_campaign()
    token = w["token"]
    dest = click(s, token, "8.8.8.8", CHROME, {"sub1": "chrome"}).headers["location"]
    click(s, token, "2a00:1450:4001:82b::200e", IPHONE, {"sub1": "iphone"})
    bot = click(s, token, "193.0.6.139", GOOGLEBOT, {"sub1": "googlebot"})
    assert bot.headers["location"].startswith("https://offer.example/land?")   # bots are still redirected
    assert dest.startswith("https://offer.example/land?")
    no_ua_click(s, token, "10.9.8.7")
    rows = s.wait_events("click", lambda rs: len(rs) == 4)
    c = by_sub1(rows)
    assert (c["chrome"]["country"], c["chrome"]["device_type"], c["chrome"]["os"], c["chrome"]["browser"],
            c["chrome"]["browser_version"], c["chrome"].get("bot_reason")) == ("US", "desktop", "Windows", "Chrome",
                                                                            "120.0", None)
    assert c["chrome"].get("region") is None                      # a country database
    assert c["chrome"]["ip"] == "8.8.8.0"                     # detection used the full address, storage truncates
    assert (c["iphone"]["country"], c["iphone"]["device_type"], c["iphone"]["os"], c["iphone"]["os_version"],
            c["iphone"]["browser"]) == ("DE", "mobile", "iOS", "17.2", "Mobile Safari")
    assert (c["googlebot"]["country"], c["googlebot"]["device_type"], c["googlebot"].get("bot_reason")) == (
        "NL", "bot", "ua_crawler")
    empty = next(r for r in rows if not r.get("sub1"))
    assert empty.get("bot_reason") == "empty_ua" and empty.get("country") is None   # private address: no country
    m = s.metrics()
    assert m["perfmark_bot_clicks_total"] == 2
    # impressions get the same context
    r = s.get(f"/i/{token}", headers={"X-Forwarded-For": "8.8.4.4", "User-Agent": IPHONE})
    assert r.status_code == 200
    imp = s.wait_events("impression", lambda rs: len(rs) == 1)[0]
    assert (imp["country"], imp["device_type"], imp["os"]) == ("US", "mobile", "iOS")


def test_conversion_inherits_context_and_reports_group_by_it(server):
    s = server()
    w = s.setup_campaign()
    token = w["token"]
    loc = click(s, token, "8.8.8.8", IPHONE).headers["location"]
    clickid = loc.split("cid=")[1].split("&")[0]
    click(s, token, "193.0.6.139", CHROME)
    click(s, token, "193.0.6.140", GOOGLEBOT)
    r = s.get("/pb", params={"clickid": clickid, "payout": "3.00"})
    assert r.status_code == 200, r.text
    conv = s.wait_events("conversion", lambda rs: len(rs) == 1)[0]
    assert (conv["country"], conv["device_type"], conv["os"], conv["browser"]) == ("US", "mobile", "iOS",
                                                                                   "Mobile Safari")
    s.wait_materialized()
    metrics = {"metrics": "clicks,bot_clicks,conversions"}
    doc = s.api("GET", "/reports", params={"group_by": "country", **metrics}).json()
    assert doc["source"].startswith("rollup:"), doc["source"]
    rows = {row["country"]: (row["clicks"], row["bot_clicks"], row["conversions"]) for row in doc["rows"]}
    assert rows == {"US": (1, 0, 1), "NL": (1, 1, 0)}     # the crawler counts apart
    for dim, want in (("device_type", {"mobile": (1, 0), "desktop": (1, 0), "bot": (0, 1)}),
                      ("bot_reason", {"ua_crawler": (0, 1)}),
                      ("browser", {"Mobile Safari": (1, 0), "Chrome": (1, 0), "Googlebot": (0, 1)}),
                      ("os", {"iOS": (1, 0), "Windows": (1, 0), "Other": (0, 1)})):
        doc = s.api("GET", "/reports", params={"group_by": dim, **metrics}).json()
        got = {row[dim]: (row["clicks"], row["bot_clicks"]) for row in doc["rows"] if row[dim]}
        assert got == want, (dim, doc)
        assert doc["totals"]["bot_clicks"] == 1
    # the same numbers from a raw scan
    raw = s.api("GET", "/reports", params={"group_by": "country", "source": "raw", **metrics})
    assert raw.status_code == 200, raw.text
    assert raw.json()["source"] == "raw"
    assert {r["country"]: (r["clicks"], r["bot_clicks"], r["conversions"]) for r in raw.json()["rows"]} == rows


def test_geoip_file_with_regions(server, tmp_path):
    db = tmp_path / "city.mmdb"
    write_mmdb(db, [("203.0.113.0/24", {"country": {"iso_code": "US"}, "subdivisions": [{"iso_code": "CA"}]}),
                    ("2001:db8::/32", {"country": {"iso_code": "FR"}, "subdivisions": [{"iso_code": "IDF"}]}),
                    ("198.51.100.0/24", {"registered_country": {"iso_code": "jp"}})])
    s = server(extra_args=("--geoip", str(db)))
    assert "city.mmdb" in s.stderr()
    token = s.setup_campaign()["token"]
    click(s, token, "203.0.113.77", CHROME, {"sub1": "ca"})
    click(s, token, "2001:db8::42", CHROME, {"sub1": "fr"})
    click(s, token, "198.51.100.1", CHROME, {"sub1": "jp"})
    click(s, token, "8.8.8.8", CHROME, {"sub1": "unknown"})
    c = by_sub1(s.wait_events("click", lambda rs: len(rs) == 4))
    assert (c["ca"]["country"], c["ca"]["region"]) == ("US", "US-CA")
    assert (c["fr"]["country"], c["fr"]["region"]) == ("FR", "FR-IDF")
    assert (c["jp"]["country"], c["jp"].get("region")) == ("JP", None)
    assert c["unknown"].get("country") is None
    doc = s.api("GET", "/reports", params={"group_by": "region"}).json()
    assert {r["region"]: r["clicks"] for r in doc["rows"] if r["region"]} == {"US-CA": 1, "FR-IDF": 1}


def test_datacenter_list_and_velocity(server, tmp_path):
    cidrs = tmp_path / "dc.txt"
    cidrs.write_text("# cloud ranges\n192.0.2.0/24\n2001:db8:dc::/48  # another\n")
    s = server(extra_args=("--datacenter-cidrs", str(cidrs), "--bot-velocity", "3"))
    token = s.setup_campaign()["token"]
    click(s, token, "192.0.2.10", CHROME, {"sub1": "dc4"})
    click(s, token, "2001:db8:dc::1", CHROME, {"sub1": "dc6"})
    for i in range(5):
        click(s, token, "198.51.100.200", CHROME, {"sub1": f"v{i}"})
    c = by_sub1(s.wait_events("click", lambda rs: len(rs) == 7))
    assert c["dc4"].get("bot_reason") == "datacenter_ip" and c["dc6"].get("bot_reason") == "datacenter_ip"
    reasons = [c[f"v{i}"].get("bot_reason") for i in range(5)]
    # a minute boundary may fall inside the burst: then the count restarts
    assert reasons[:3] == [None, None, None] or "velocity" not in reasons[:2]
    assert reasons.count("velocity") >= 1
    assert all(r in (None, "velocity") for r in reasons)


def test_bad_detector_files_stop_the_start(tmp_path):
    bad = tmp_path / "dc.txt"
    bad.write_text("192.0.2.0/24\nnot a range\n")
    for flag, value, what in (("--datacenter-cidrs", bad, "dc.txt:2"),
                              ("--geoip", tmp_path / "missing.mmdb", "missing.mmdb"),
                              ("--geoip", bad, "dc.txt")):
        r = run_cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--data", tmp_path / "data", flag, value)
        assert r.returncode != 0 and what in r.stderr, r.stderr
    r = run_cli("serve", "--bot-velocity", "-2")
    assert r.returncode == 2 and "--bot-velocity" in r.stderr


def test_js_check(server):
    """bot_check "js" (docs/routing.md): a first click gets a script page,
    recorded as nothing; the script's return with its cookie is a human
    click (with the first hop's referrer), the meta refresh's return is
    no_js, a return without the cookie no_cookie. Hostile query bytes stay
    escaped in the page."""
    import re
    s = server()
    w = s.setup_campaign(name="js")
    camp = w["campaign"]
    assert camp["bot_check"] == "none"
    r = s.api("PATCH", f"/campaigns/{camp['id']}", {"bot_check": "js"})
    assert r.status_code == 200 and r.json()["bot_check"] == "js", r.text
    bad = s.api("PATCH", f"/campaigns/{camp['id']}", {"bot_check": "captcha"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "bot_check"
    tok = w["token"]
    hostile = '"</script><script>alert(1)</script>'
    page = s.new_session().get(s.url(f"/c/{tok}"), params={"sub1": "human", "sub2": hostile},
                               headers={"Referer": "https://news.example/a?b=1&c=\"x\"", "User-Agent": CHROME},
                               allow_redirects=False, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store" and "set-cookie" not in page.headers
    html = page.text
    assert "<script>alert" not in html and '"</script>' not in html
    js_url = re.search(r'location\.replace\("([^"]+)"\)', html).group(1)
    meta_url = re.search(r'content="0;url=([^"]+)"', html).group(1).replace("&amp;", "&")
    assert js_url.startswith(f"/c/{tok}?") and "pmjs=1" in js_url and "pmref=" in js_url
    assert meta_url == js_url.replace("pmjs=1", "pmjs=0")
    assert s.metrics()["perfmark_js_check_pages_total"] == 1
    assert s.events("click") == []

    def back(url, sub1, cookie=None):
        url = url.replace("sub1=human", f"sub1={sub1}")
        headers = {"User-Agent": CHROME}
        if cookie:
            headers["Cookie"] = cookie
        r = s.new_session().get(s.url(url), headers=headers, allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["location"].startswith("https://offer.example/"), r.text
        return r

    back(js_url, "human", cookie="pmjs=1")
    back(meta_url, "nojs")
    back(js_url, "nocookie", cookie="other=1")
    rows = {r["sub1"]: r for r in s.wait_events("click", lambda rs: len(rs) >= 3)}
    assert rows["human"].get("bot_reason") is None
    assert rows["human"]["referrer"] == 'https://news.example/a?b=1&c="x"'
    assert rows["human"]["sub2"] == hostile
    assert rows["nojs"]["bot_reason"] == "no_js"
    assert rows["nocookie"]["bot_reason"] == "no_cookie"
