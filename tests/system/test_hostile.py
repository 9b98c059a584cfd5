"""
Hostile and malformed input: the tracker must keep sending visitors somewhere
sane, store only valid, capped UTF-8, answer API mistakes with the JSON error
shape, survive oversize bodies, and record concurrent duplicate postbacks
once.
"""
import http.client
import socket
import threading
import time

import pytest
import requests

from conftest import ID_RE, cookies_of, json_error

CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"}


def raw_http(s, data, timeout=10):
    """Send raw bytes on a fresh connection and read until the server closes."""
    with socket.create_connection(("127.0.0.1", s.port), timeout=timeout) as c:
        c.sendall(data)
        chunks = []
        while True:
            try:
                b = c.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


def exact_get(s, target, headers=None, timeout=20):
    """GET exactly this request target (requests would re-quote a query with
    malformed percent-escapes). Returns (status, {lower-case name: [values]}, body)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
    try:
        c.request("GET", target, headers=headers or {})
        r = c.getresponse()
        hdrs = {}
        for k, v in r.getheaders():
            hdrs.setdefault(k.lower(), []).append(v)
        return r.status, hdrs, r.read()
    finally:
        c.close()


def set_cookies(hdrs):
    out = {}
    for line in hdrs.get("set-cookie", []):
        name, _, rest = line.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def status_and_headers(raw):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    return status, headers


def assert_sane_location(loc, limit=8192):
    assert loc, "no Location"
    assert loc.startswith("https://") or loc.startswith("http://"), loc[:200]
    assert len(loc) <= limit, len(loc)
    assert all(0x21 <= ord(ch) < 0x7F for ch in loc), f"unsafe character in Location: {loc[:300]!r}"


def assert_clean_text(value, cap):
    assert isinstance(value, str)
    assert not (set(value) & CONTROL), repr(value[:200])
    assert len(value.encode("utf-8")) <= cap, len(value.encode("utf-8"))


def strict_events(s, type):
    """Events whose JSON must be valid UTF-8 on the wire."""
    r = s.api("GET", "/events", params={"type": type, "limit": 1000})
    assert r.status_code == 200, r.text
    r.content.decode("utf-8")  # raises on invalid UTF-8
    return r.json()["rows"]


def test_click_with_invalid_utf8_and_control_characters(server):
    s = server()
    w = s.setup_campaign(offer_url="https://offer.example/?s1={sub1}&s2={sub2}&u={utm_source}&e={external_id}"
                                   "&t={utm_term}&cid={clickid}")
    raw_q = ("sub1=%FF%FEab%00%01%1B[31mX%7F&sub2=%C3%28%ED%A0%80%F4%90%80%80&utm_source=%0D%0ASet-Cookie:%20evil=1"
             "&external_id=%E2%82%AC%F0%9F%98%80&utm_term=%25%%zz%2")
    status, hdrs, _ = exact_get(s, f"/c/{w['token']}?{raw_q}")
    assert status == 302
    loc = hdrs["location"][0]
    assert_sane_location(loc)
    assert set(set_cookies(hdrs)) == {"pmv", "pmc"}, hdrs
    assert not any(k.startswith("set-cookie:") or k == "evil" for k in hdrs)
    cid = set_cookies(hdrs)["pmc"]

    # The same through a raw socket: raw (unescaped) high bytes and a tab in the query.
    req = (b"GET /c/" + w["token"].encode() + b"?sub1=\xff\xc0\xafraw\ttab&sub2=caf\xc3\xa9 HTTP/1.1\r\n"
           b"Host: x\r\nUser-Agent: \xff\xfeUA\x01\r\nReferer: http://r.example/\xe9\r\nConnection: close\r\n\r\n")
    raw = raw_http(s, req)
    status, headers = status_and_headers(raw)
    if status == 302:
        assert_sane_location(dict((k.lower(), v) for k, v in headers)["location"])
    else:
        assert status == 400, raw[:300]

    s.wait_event("click", cid)
    s.wait_materialized()
    rows = strict_events(s, "click")
    ev = next(x for x in rows if x["id"] == cid)
    for k in ("sub1", "sub2", "utm_source", "external_id", "utm_term"):
        assert_clean_text(ev[k], 256)
    assert ev["sub1"].startswith("\ufffd\ufffdab") and ev["sub1"].endswith("X")
    assert "\ufffd" in ev["sub2"]
    assert ev["utm_source"].strip().startswith("Set-Cookie")
    assert ev["external_id"] == "\u20ac\U0001F600"
    for row in rows:
        for k, v in row.items():
            if isinstance(v, str):
                assert not (set(v) & CONTROL), (k, v[:200])


def test_click_with_huge_values_and_many_parameters(server):
    s = server()
    w = s.setup_campaign(offer_url="https://offer.example/?s1={sub1}&s2={sub2}&s3={sub3}&cid={clickid}")
    big = "a" * 100_000
    euro = "%E2%82%AC" * 11_000  # 99 KB of escapes, 33 KB decoded, multi-byte
    many = "&".join(f"p{i}=v{i}" for i in range(500))
    cases = {
        "big": f"sub1={big}&sub2=ok",
        "euro": f"sub1={euro}&sub2=ok",
        "many": f"sub1=first&sub3=third&{many}",
        "bigkey": f"{'k' * 100_000}=1&sub1=after-big-key",
    }
    ids = {}
    for name, q in cases.items():
        status, hdrs, _ = exact_get(s, f"/c/{w['token']}?{q}")
        assert status == 302, (name, status)
        assert_sane_location(hdrs["location"][0])
        ids[name] = set_cookies(hdrs)["pmc"]
    # A 50 KB user agent and referrer.
    r = s.get(f"/c/{w['token']}", headers={"User-Agent": "U" * 50_000, "Referer": "https://r.example/" + "r" * 50_000})
    assert r.status_code == 302
    ids["headers"] = cookies_of(r)["pmc"][0]

    rows = s.wait_events("click", lambda rs: len(rs) == len(ids))
    by = {x["id"]: x for x in rows}
    for name, cid in ids.items():
        for k, v in by[cid].items():
            if isinstance(v, str) and k != "destination_url":
                assert_clean_text(v, 4096)
    assert set(by[ids["big"]]["sub1"]) == {"a"} and by[ids["big"]]["sub2"] == "ok"
    euro_val = by[ids["euro"]]["sub1"]
    assert set(euro_val) == {"\u20ac"}, "cut inside a character"
    assert by[ids["many"]]["sub1"] == "first" and by[ids["many"]]["sub3"] == "third"
    assert by[ids["bigkey"]]["sub1"] == "after-big-key"
    assert set(by[ids["headers"]]["user_agent"]) == {"U"}
    strict_events(s, "click")


def test_hostile_tokens_and_paths_go_to_fallback(server):
    s = server()
    s.setup_campaign()
    for path in ("/c/%00%FF", "/c/..%2F..%2Fetc%2Fpasswd", "/c/" + "t" * 10_000, "/c/%E2%82%AC",
                 "/c/a/b/c", "/c//", "/c/%0d%0aSet-Cookie:x=1", "/c/%", "/c/%zz?sub1=%"):
        status, hdrs, _ = exact_get(s, path)
        assert status == 302, (path[:50], status)
        assert hdrs["location"] == ["https://www.example.com/"], path[:50]
        assert "set-cookie" not in hdrs, (path[:50], hdrs)
    assert s.get("/healthz").status_code == 200


def test_garbage_cookies_are_ignored(server):
    s = server()
    w = s.setup_campaign()
    garbage = [
        "pmv=garbage; pmc=%%%",
        "pmv=ZZZZZZZZZZZZZZZZZZZZZZZZZZ",       # 26 chars but overflows 128 bits
        "pmv=01ARZ3NDEKTSV4RRFFQ69G5FA",        # 25 chars
        "pmv=\"\"; ;;; =; pmv",
        "; ".join(f"c{i}=v{i}" for i in range(300)) + "; pmv=01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "pmv=" + "A" * 6000,
    ]
    seen = set()
    for cookie in garbage:
        r = s.get(f"/c/{w['token']}", headers={"Cookie": cookie})
        assert r.status_code == 302, cookie[:60]
        v = cookies_of(r)["pmv"][0]
        assert ID_RE.match(v), v
        assert v not in ("ZZZZZZZZZZZZZZZZZZZZZZZZZZ",), v
        seen.add(v)
    assert len(seen) == len(garbage), "garbage cookies must not make visitors collide"
    # Raw garbage bytes in the Cookie header.
    raw = raw_http(s, b"GET /c/" + w["token"].encode() + b" HTTP/1.1\r\nHost: x\r\nCookie: pmv=\xff\xfe\x01; pmc=\x80"
                   b"\r\nConnection: close\r\n\r\n")
    assert status_and_headers(raw)[0] in (302, 400)
    # A valid pmv is kept; a valid-looking pmc on /px for an unknown click is an orphan, still a GIF.
    px = s.get("/px", headers={"Cookie": "pmc=\"01ARZ3NDEKTSV4RRFFQ69G5FAV\"; pmc=zzz"})
    assert px.status_code == 200 and px.content.startswith(b"GIF89a")
    strict_events(s, "click")


@pytest.mark.parametrize("body", [
    b"{", b"[1]", b"\"x\"", b"", b"null", b"{\"name\": \"\xff\"}", b"{\"name\":\"a\",\"name\":\"b\"}",
    b"[" * 100_000, b"{\"name\": NaN}", b"{\"name\":\"x\"} trailing", b"\x00\x01\x02", b"{'name': 'x'}",
    "{\"name\":\"\\ud800\"}".encode(),
])
def test_bad_json_bodies(server, body):
    s = server()
    r = s.api("POST", "/traffic-sources", headers={"Content-Type": "application/json"}, data=body)
    err = json_error(r, 400)
    assert err["code"] == "invalid_json", err
    assert err["field"] is None
    r.content.decode("utf-8")
    assert s.api("GET", "/traffic-sources").json()["rows"] == []


def test_unknown_fields_are_named(server):
    s = server()
    cases = [
        ("/traffic-sources", {"name": "x", "colour": "red"}, "colour"),
        ("/offers", {"name": "x", "url": "https://o.example/",
                     "payout": {"type": "cpa", "amount": "1", "currency": "USD", "bonus": "1"}}, "payout.bonus"),
        ("/landers", {"name": "x", "url": "https://l.example/", "id": 5}, "id"),
        ("/traffic-sources", {"name": "x", "k" * 5000: 1}, "k" * 5000),
        ("/traffic-sources", {"name": "x", "caf\u00e9\u0001": 1}, "caf\u00e9\u0001"),
    ]
    for path, body, field in cases:
        err = json_error(s.api("POST", path, body), 422)
        assert err["code"] == "unknown_field", err
        assert err["field"] == field, (err["field"][:80], field[:80])
    src = s.api("POST", "/traffic-sources", {"name": "ok"}).json()
    off = s.api("POST", "/offers", {"name": "o", "url": "https://o.example/",
                                    "payout": {"type": "cpa", "amount": "1", "currency": "USD"}}).json()
    body = {"name": "c", "traffic_source_id": src["id"], "destination": {"offer_id": off["id"], "split": 1},
            "cost": {"model": "cpc", "amount": "0.4", "currency": "USD"}}
    assert json_error(s.api("POST", "/campaigns", body), 422)["field"] == "destination.split"


BAD_AMOUNTS = ["1.2345678", 12.5, 12, "-1", "1e3", "1,000", " 1", "1 ", "+1", "", "0x10", "1.", ".5", "NaN",
               "99999999999999999999", "１２", None, True, {"v": "1"}]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=[repr(a) for a in BAD_AMOUNTS])
def test_bad_money_is_rejected_naming_the_field(server, amount):
    s = server()
    r = s.api("POST", "/offers", {"name": "o", "url": "https://o.example/",
                                  "payout": {"type": "cpa", "amount": amount, "currency": "USD"}})
    err = json_error(r, 422)
    assert err["field"] == "payout.amount", err
    src = s.api("POST", "/traffic-sources", {"name": "s"}).json()
    lander = s.api("POST", "/landers", {"name": "l", "url": "https://l.example/"}).json()
    r = s.api("POST", "/campaigns", {"name": "c", "traffic_source_id": src["id"],
                                     "destination": {"lander_id": lander["id"]},
                                     "cost": {"model": "cpc", "amount": amount, "currency": "USD"}})
    err = json_error(r, 422)
    assert err["field"] == "cost.amount", err
    assert s.api("GET", "/offers").json()["rows"] == []
    assert s.api("GET", "/campaigns").json()["rows"] == []


def test_oversize_bodies_are_refused_and_the_server_stays_up(server):
    s = server()
    huge = b'{"name":"' + b"a" * 2_000_000 + b'","url":"https://x.example/"}'
    r = requests.post(s.url("/api/v1/landers"), data=huge, timeout=30,
                      headers={"Authorization": f"Bearer {s.key}", "Content-Type": "application/json"})
    assert r.status_code in (400, 413), r.status_code
    r = requests.post(s.url("/pb"), data=b"clickid=" + b"x" * 2_000_000, timeout=30,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 413), r.status_code
    # Just under the limit: a normal validation error, not a crash.
    under = b'{"name":"' + b"a" * 900_000 + b'","url":"https://x.example/"}'
    r = s.api("POST", "/landers", data=under, headers={"Content-Type": "application/json"})
    assert json_error(r, 422)["field"] == "name"
    # Chunked upload of 2 MB.
    def gen():
        for _ in range(200):
            yield b"a" * 10_000
    r = requests.post(s.url("/pb"), data=gen(), timeout=30)
    assert r.status_code in (400, 413), r.status_code
    assert s.get("/healthz").status_code == 200
    assert s.api("POST", "/traffic-sources", {"name": "still alive"}).status_code == 201


def test_malformed_http_does_not_hurt(server):
    s = server()
    w = s.setup_campaign()
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,   # a TLS hello
                 b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
                 b"GARBAGE\r\n\r\n",
                 b"GET /c/" + w["token"].encode() + b"?sub1=a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                 b"POST /pb HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nclickid=x",
                 b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        try:
            raw_http(s, junk, timeout=3)
        except OSError:
            pass
        assert s.get("/healthz").status_code == 200


def test_hostile_postbacks_store_clean_orphans(server):
    s = server()
    s.setup_campaign()
    status, hdrs, body = exact_get(s, "/pb?clickid=%FF%00&txid=%00%01%1B" + "%E2%82" + "&payout=" + "9" * 5000)
    assert status == 404, body
    long_txid = "t" * 129
    cid = s.setup_campaign(name="x")["token"]
    click = s.get(f"/c/{cid}")
    err = json_error(s.get("/pb", params={"clickid": cookies_of(click)["pmc"][0], "txid": long_txid}), 400)
    assert err["field"] == "txid"
    s.wait_events("orphan", lambda rs: len(rs) == 2)
    s.wait_materialized()
    for o in strict_events(s, "orphan"):
        for k, v in o.items():
            if isinstance(v, str):
                assert_clean_text(v, 4096)
    assert s.events("conversion") == []


def test_concurrent_duplicate_postbacks_are_recorded_once(server):
    s = server(threads=2)
    w = s.setup_campaign()
    cid = cookies_of(s.get(f"/c/{w['token']}"))["pmc"][0]
    n, rounds = 20, 5
    sessions = [requests.Session() for _ in range(n)]
    for sess in sessions:  # open every connection first, spread over the loops
        assert sess.get(s.url("/healthz"), timeout=10).status_code == 200
    answers = {}
    for rnd in range(rounds):
        txid = f"dup-{rnd}"
        barrier = threading.Barrier(n)
        results = [None] * n

        def fire(i):
            barrier.wait()
            try:
                r = sessions[i].get(s.url("/pb"), params={"clickid": cid, "txid": txid, "payout": "2.00"}, timeout=20)
                results[i] = (r.status_code, r.content)
            except requests.RequestException as e:  # pragma: no cover - reported below
                results[i] = ("error", repr(e))
        threads = [threading.Thread(target=fire, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = {r[0] for r in results}
        assert statuses == {200}, results
        bodies = {r[1] for r in results}
        assert len(bodies) == 1, f"round {rnd}: {len(bodies)} different answers: {sorted(bodies)[:3]}"
        answers[txid] = requests.models.complexjson.loads(bodies.pop())
    for sess in sessions:
        sess.close()
    s.wait_materialized()
    convs = s.events("conversion")
    by_txid = {}
    for c in convs:
        by_txid.setdefault(c["txid"], []).append(c)
    for txid, a in answers.items():
        assert len(by_txid.get(txid, [])) == 1, (txid, by_txid.get(txid))
        assert by_txid[txid][0]["id"] == a["conversion_id"]
    m = s.metrics()
    assert m["perfmark_conversions_total"] == rounds
    assert m["perfmark_duplicate_postbacks_total"] == rounds * (n - 1)


def test_staggered_duplicate_postbacks_get_one_conversion_id(server):
    """Duplicates spread over a few milliseconds straddle the moment the
    materializer stores the first one and forgets it from memory. Each answer
    must still name the one recorded conversion. (A stress test: a race shows
    up in a fraction of the rounds, so it runs for a few seconds; it cannot
    fail when the server is right.)"""
    s = server(threads=2)
    w = s.setup_campaign()
    runners, per_round, gap, duration = 3, 10, 0.0008, 6.0
    lock = threading.Lock()
    stats = {"rounds": 0}
    bad = []
    acked = {}

    def runner(rid):
        sess0 = requests.Session()
        cid = cookies_of(sess0.get(s.url(f"/c/{w['token']}"), allow_redirects=False, timeout=10))["pmc"][0]
        sessions = [requests.Session() for _ in range(per_round)]
        for x in sessions:
            x.get(s.url("/healthz"), timeout=10)
        deadline = time.monotonic() + duration
        k = 0
        while time.monotonic() < deadline:
            k += 1
            txid = f"stag-{rid}-{k}"
            res = []

            def one(i):
                time.sleep(i * gap)
                r = sessions[i].get(s.url("/pb"), params={"clickid": cid, "txid": txid}, timeout=20)
                res.append((r.status_code, r.content))
            ts = [threading.Thread(target=one, args=(i,)) for i in range(per_round)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            ids = {requests.models.complexjson.loads(c)["conversion_id"] for st, c in res if st == 200}
            with lock:
                stats["rounds"] += 1
                acked[txid] = ids
                if len(ids) != 1 or len(res) != per_round or {st for st, _ in res} != {200}:
                    bad.append((txid, sorted(ids), sorted({st for st, _ in res})))
        for x in sessions + [sess0]:
            x.close()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(runners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    s.wait_materialized()
    stored = {c["txid"]: c["id"] for c in s.events("conversion")}
    phantom = [(tx, ids) for tx, ids in acked.items() if not ids <= {stored.get(tx)}]
    assert not bad, (f"{len(bad)} of {stats['rounds']} rounds answered one conversion with several ids; "
                     f"e.g. {bad[:3]}; answered ids not in the store: {phantom[:3]}")
    m = s.metrics()
    assert m["perfmark_conversions_total"] == len(stored), (m["perfmark_conversions_total"], len(stored))
