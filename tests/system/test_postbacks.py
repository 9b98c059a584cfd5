"""
Server-to-server postbacks out (docs/postbacks.md): a conversion, and each
change of its status, enqueues a postback to its traffic source's URL
template (and its campaign partner's) in the outbox; the worker
delivers it with retries; every attempt is visible through
/api/v1/postbacks; a kill -9 loses no pending postback.

The traffic source's endpoint is a local http.server whose answers are
scripted per request (500, a hang past the client's timeout, a connection
closed without an answer, then 200). Retry delays are made short with the
serve flags so the tests run fast; nothing here depends on timing beyond
generous waits for a state to be reached.
"""
import http.server
import socket
import threading
import urllib.parse

from conftest import ID_RE, cookies_of, json_error, wait_for

FAST = ["--postback-backoff-ms", "50", "--postback-backoff-max-ms", "200", "--postback-timeout-ms", "1000",
        "--postback-poll-ms", "50"]


class Receiver:
    """A traffic source's postback endpoint. `script` lists the behaviours of
    the next requests ("500", "hang", "close", "200"); when it runs out,
    `default` applies. Every request is logged as (behaviour, path, query)."""

    def __init__(self, script=(), default="200"):
        self.script = list(script)
        self.default = default
        self.log = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends the hangs at teardown
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                with receiver.lock:
                    how = receiver.script.pop(0) if receiver.script else receiver.default
                    u = urllib.parse.urlsplit(self.path)
                    receiver.log.append((how, u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True)))
                if how == "hang":
                    receiver.release.wait(30)
                    self.close_connection = True
                    return
                if how == "close":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                code = int(how)
                body = b"ok" if code == 200 else b"no"
                self.send_response(code)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, rest):
        return f"http://127.0.0.1:{self.port}{rest}"

    def successes(self, path=None):
        with self.lock:
            return [q for how, p, q in self.log if how == "200" and (path is None or p == path)]

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def receiver_fixture(request, **kw):
    r = Receiver(**kw)
    request.addfinalizer(r.close)
    return r


TEMPLATE = ("/pb?ext={external_id}&click={clickid}&p={payout}&r={revenue}&st={status}&tx={txid}"
            "&cur={currency}&camp={campaign_id}&s1={sub1}&s2={sub2}&s10={sub10}&keep={aff_sub}")


def workspace(s, receiver, template=TEMPLATE):
    w = s.setup_campaign()
    r = s.api("PATCH", f"/traffic-sources/{w['source']['id']}", {"postback_url": receiver.url(template)})
    assert r.status_code == 200, r.text
    return w


def click_and_convert(s, token, txid="T-1", payout="7.25", status=None, params=None):
    r = s.get(f"/c/{token}", params=params or {"external_id": "ext 1", "sub1": "a/b&c", "sub2": "x"})
    assert r.status_code == 302, r.text
    click_id = cookies_of(r)["pmc"][0]
    q = {"clickid": click_id, "payout": payout, "txid": txid}
    if status:
        q["status"] = status
    pb = s.get("/pb", params=q)
    assert pb.status_code == 200, pb.text
    return click_id, pb.json()["conversion_id"]


def postbacks(s, **params):
    r = s.api("GET", "/postbacks", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(s, conversion_id, status, timeout=30):
    def check():
        rows = postbacks(s, conversion_id=conversion_id)["rows"]
        return rows[0] if rows and rows[0]["status"] == status else None
    return wait_for(check, timeout, f"the postback of {conversion_id} to be {status}")


def test_retries_until_delivered_once_with_the_right_values(server, request):
    rx = receiver_fixture(request, script=["500", "500", "hang", "close"])
    s = server(threads=2, extra_args=FAST)
    w = workspace(s, rx)
    click_id, conv_id = click_and_convert(s, w["token"])

    row = wait_status(s, conv_id, "delivered")
    assert row["attempt_count"] == 5
    assert row["conversion_status"] == "approved" and row["event"] == "conversion"
    assert row["target"] == "traffic_source" and row["traffic_source_id"] == w["source"]["id"]
    assert row["campaign_id"] == w["campaign"]["id"] and row["click_id"] == click_id
    assert row["delivered_at"] and row["next_attempt_at"] is None and row["last_http_status"] == 200

    # Exactly one success reached the receiver, with every macro's value.
    ok = rx.successes()
    assert len(ok) == 1, rx.log
    assert ok[0] == {"ext": ["ext 1"], "click": [click_id], "p": ["7.25"], "r": ["7.25"], "st": ["approved"],
                     "tx": ["T-1"], "cur": ["USD"], "camp": [str(w["campaign"]["id"])], "s1": ["a/b&c"],
                     "s2": ["x"], "s10": [""], "keep": ["{aff_sub}"]}
    assert [how for how, _, _ in rx.log] == ["500", "500", "hang", "close", "200"]
    assert all(q == ok[0] for _, _, q in rx.log), "every attempt sends the same URL"

    one = s.api("GET", f"/postbacks/{row['id']}")
    assert one.status_code == 200, one.text
    doc = one.json()
    assert doc["url"].startswith(rx.url("/pb?ext=ext%201&click=" + click_id))
    atts = doc["attempts"]
    assert [a["n"] for a in atts] == [1, 2, 3, 4, 5]
    assert [a["http_status"] for a in atts] == [500, 500, None, None, 200]
    assert atts[0]["error"] == "HTTP 500" and atts[4]["error"] is None
    assert "timeout" in atts[2]["error"].lower() or "timed out" in atts[2]["error"].lower(), atts[2]
    assert atts[3]["error"], atts[3]
    assert all(a["duration_us"] >= 0 and a["at"] for a in atts)
    assert atts == sorted(atts, key=lambda a: a["at"])

    m = s.metrics()
    assert m["perfmark_postback_attempts_total"] == 5
    assert m["perfmark_postbacks_delivered_total"] == 1
    assert m["perfmark_postbacks_failed_total"] == 0
    wait_for(lambda: s.metrics()["perfmark_postbacks_delivered"] == 1, 10, "the delivered gauge")
    assert s.metrics()["perfmark_postbacks_queued"] == 0

    # A repeated postback for the same conversion enqueues nothing new.
    r = s.get("/pb", params={"clickid": click_id, "payout": "7.25", "txid": "T-1"})
    assert r.status_code == 200 and r.json()["conversion_id"] == conv_id
    s.wait_materialized()
    assert len(postbacks(s)["rows"]) == 1


def test_each_conversion_reports_its_status_and_sources_without_a_template_get_none(server, request):
    rx = receiver_fixture(request)
    s = server(threads=2, extra_args=FAST)
    w = workspace(s, rx, "/pb?st={status}&tx={txid}")
    _, pending = click_and_convert(s, w["token"], txid="P-1", status="pending")
    _, approved = click_and_convert(s, w["token"], txid="A-1")
    assert wait_status(s, pending, "delivered")["conversion_status"] == "pending"
    assert wait_status(s, approved, "delivered")["conversion_status"] == "approved"
    got = sorted((q["tx"][0], q["st"][0]) for q in rx.successes())
    assert got == [("A-1", "approved"), ("P-1", "pending")]

    other = s.setup_campaign(name="quiet")
    r = s.api("PATCH", f"/traffic-sources/{other['source']['id']}", {"postback_url": ""})
    assert r.status_code == 200
    _, quiet = click_and_convert(s, other["token"], txid="Q-1")
    s.wait_materialized()
    assert postbacks(s, conversion_id=quiet)["rows"] == []


def convert(s, click_id, txid, **q):
    pb = s.get("/pb", params={"clickid": click_id, "txid": txid, **q})
    assert pb.status_code == 200, pb.text
    return pb.json()["conversion_id"]


def test_status_changes_and_the_partner_get_one_postback_each(server, request):
    rx = receiver_fixture(request)
    s = server(threads=2, extra_args=FAST)
    w = workspace(s, rx, "/pb?v={conversion_id}&st={status}&was={prev_status}&e={event}&p={payout}&r={revenue}"
                         "&cur={currency}&tx={txid}&ext={external_id}&s1={sub1}")
    partner = s.api("POST", "/partners", {
        "name": "Aff", "payout": {"model": "fixed", "amount": "3.00", "currency": "EUR"},
        "postback_url": rx.url("/aff?v={conversion_id}&st={status}&p={payout}&r={revenue}&cur={currency}"
                               "&pa={partner_id}&e={event}&s1={sub1}")})
    assert partner.status_code == 201, partner.text
    assert partner.json()["postback_url"].startswith(rx.url("/aff?v={conversion_id}"))
    pid = partner.json()["id"]
    r = s.api("PATCH", f"/campaigns/{w['campaign']['id']}", {"partner_id": pid})
    assert r.status_code == 200, r.text

    r = s.get(f"/c/{w['token']}", params={"external_id": "g-1", "sub1": "kw"})
    assert r.status_code == 302, r.text
    click_id = cookies_of(r)["pmc"][0]
    conv = convert(s, click_id, "S-1", payout="10.00", status="pending")
    assert convert(s, click_id, "S-1", status="approved") == conv
    assert convert(s, click_id, "S-1", status="approved") == conv  # a repeat: nothing new
    assert convert(s, click_id, "S-1", status="chargeback") == conv

    def all_delivered():
        rows = postbacks(s, conversion_id=conv)["rows"]
        return rows if len(rows) == 6 and all(r["status"] == "delivered" for r in rows) else None
    rows = wait_for(all_delivered, 30, "six delivered postbacks")
    by = sorted((r["target"], r["event"], r["conversion_status"]) for r in rows)
    assert by == [("partner", "conversion", "pending"), ("partner", "status_change", "approved"),
                  ("partner", "status_change", "chargeback"), ("traffic_source", "conversion", "pending"),
                  ("traffic_source", "status_change", "approved"),
                  ("traffic_source", "status_change", "chargeback")]
    assert all(r["partner_id"] == pid and r["traffic_source_id"] == w["source"]["id"] for r in rows)

    base = {"v": [conv], "p": ["10.00"], "r": ["10.00"], "cur": ["USD"], "tx": ["S-1"], "ext": ["g-1"],
            "s1": ["kw"]}
    src = sorted(rx.successes("/pb"), key=lambda q: ["pending", "approved", "chargeback"].index(q["st"][0]))
    assert src == [dict(base, st=["pending"], was=[""], e=["conversion"]),
                   dict(base, st=["approved"], was=["pending"], e=["status_change"]),
                   dict(base, st=["chargeback"], was=["approved"], e=["status_change"])], rx.log
    aff = sorted(rx.successes("/aff"), key=lambda q: ["pending", "approved", "chargeback"].index(q["st"][0]))
    pbase = {"v": [conv], "p": ["3.00"], "r": ["3.00"], "cur": ["EUR"], "pa": [str(pid)], "s1": ["kw"]}
    assert aff == [dict(pbase, st=["pending"], e=["conversion"]),
                   dict(pbase, st=["approved"], e=["status_change"]),
                   dict(pbase, st=["chargeback"], e=["status_change"])], rx.log
    assert len(rx.log) == 6

    # A restart replays nothing twice.
    s.restart()
    s.wait_materialized()
    assert len(postbacks(s, conversion_id=conv)["rows"]) == 6

    # A partner without a template gets none; an invalid template is refused.
    quiet = s.api("PATCH", f"/partners/{pid}", {"postback_url": ""})
    assert quiet.status_code == 200, quiet.text
    other = convert(s, click_id, "S-2")
    wait_status(s, other, "delivered")
    assert [r["target"] for r in postbacks(s, conversion_id=other)["rows"]] == ["traffic_source"]
    assert json_error(s.api("PATCH", f"/partners/{pid}", {"postback_url": "not a url"}), 422)["field"] == \
        "postback_url"


def test_failed_after_max_attempts_then_retry_delivers(server, request):
    rx = receiver_fixture(request, default="500")
    s = server(threads=1, extra_args=FAST + ["--postback-attempts", "3"])
    w = workspace(s, rx)
    _, conv_id = click_and_convert(s, w["token"])
    row = wait_status(s, conv_id, "failed")
    assert row["attempt_count"] == 3 and row["last_http_status"] == 500 and row["last_error"] == "HTTP 500"
    assert row["next_attempt_at"] is None and row["delivered_at"] is None
    assert [r["id"] for r in postbacks(s, status="failed")["rows"]] == [row["id"]]
    assert postbacks(s, status="pending")["rows"] == []
    wait_for(lambda: s.metrics()["perfmark_postbacks_failed"] == 1, 10, "the failed gauge")
    assert s.metrics()["perfmark_postbacks_failed_total"] == 1
    assert len(rx.log) == 3

    # Viewers may not re-queue; admins may, once it has failed.
    viewer = s.create_key("viewer")
    json_error(s.api("POST", f"/postbacks/{row['id']}/retry", key=viewer), 403)
    rx.default = "200"
    r = s.api("POST", f"/postbacks/{row['id']}/retry")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    row = wait_status(s, conv_id, "delivered")
    assert row["attempt_count"] == 4
    assert len(rx.successes()) == 1
    err = json_error(s.api("POST", f"/postbacks/{row['id']}/retry"), 409)
    assert err["field"] == "status"


def test_api_validation_and_paging(server, request):
    rx = receiver_fixture(request)
    s = server(threads=1, extra_args=FAST)
    w = workspace(s, rx)
    convs = [click_and_convert(s, w["token"], txid=f"T-{i}")[1] for i in range(3)]
    for c in convs:
        wait_status(s, c, "delivered")
    page1 = postbacks(s, limit=2)
    assert len(page1["rows"]) == 2 and page1["next"] == page1["rows"][1]["id"]
    page2 = postbacks(s, limit=2, after=page1["next"])
    assert len(page2["rows"]) == 1 and page2["next"] is None
    assert [r["conversion_id"] for r in page1["rows"] + page2["rows"]] == convs
    assert all(ID_RE.match(r["conversion_id"]) for r in page2["rows"])
    assert postbacks(s, status="delivered")["next"] is None

    assert json_error(s.api("GET", "/postbacks", params={"status": "sent"}), 422)["field"] == "status"
    assert json_error(s.api("GET", "/postbacks", params={"limit": "0"}), 422)["field"] == "limit"
    assert json_error(s.api("GET", "/postbacks", params={"colour": "red"}), 422)["field"] == "colour"
    json_error(s.api("GET", "/postbacks/999999"), 404)
    json_error(s.api("GET", "/postbacks/abc"), 404)
    json_error(s.api("POST", "/postbacks/999999/retry"), 404)
    json_error(s.api("POST", "/postbacks/1/again"), 404)
    json_error(s.api("DELETE", "/postbacks/1"), 405)
    json_error(s.api("GET", "/postbacks", key=""), 401)


def test_kill9_with_pending_postbacks_delivers_them_after_restart(server, request):
    rx = receiver_fixture(request, default="500")
    s = server(threads=2, extra_args=FAST)
    w = workspace(s, rx)
    _, tried = click_and_convert(s, w["token"], txid="K-1")
    wait_for(lambda: postbacks(s, conversion_id=tried)["rows"][0]["attempt_count"] >= 1
             if postbacks(s, conversion_id=tried)["rows"] else None, 20, "a first failed attempt")
    # A second conversion killed right after its answer: it may not even be
    # in the store yet, only in the journal.
    _, fresh = click_and_convert(s, w["token"], txid="K-2")
    s.kill9()
    rx.default = "200"
    s.start()
    wait_status(s, tried, "delivered")
    wait_status(s, fresh, "delivered")
    got = sorted(q["tx"][0] for q in rx.successes())
    assert got == ["K-1", "K-2"], rx.log
    assert len(postbacks(s)["rows"]) == 2
    # The all-time gauge is counted from the store at start.
    s.restart()
    wait_for(lambda: s.metrics()["perfmark_postbacks_delivered"] == 2, 10, "the delivered gauge after a restart")
    assert s.metrics()["perfmark_postbacks_delivered_total"] == 0 and len(rx.successes()) == 2


def test_sigterm_with_a_transfer_in_flight_exits_cleanly_and_resends(server, request):
    rx = receiver_fixture(request, script=["hang"])
    s = server(threads=1, extra_args=["--postback-timeout-ms", "60000", "--postback-poll-ms", "50"])
    w = workspace(s, rx)
    _, conv = click_and_convert(s, w["token"], txid="H-1")
    wait_for(lambda: s.metrics()["perfmark_postbacks_in_flight"] == 1, 20, "a transfer in flight")
    assert s.stop() == 0  # does not wait for the receiver
    rx.release.set()
    s.start()
    row = wait_status(s, conv, "delivered")
    assert row["attempt_count"] == 1  # the abandoned transfer was no attempt on record
    assert [q["tx"] for q in rx.successes()] == [["H-1"]]


def test_serve_rejects_bad_postback_flags(perfmark):
    for flag, value in (("--postback-attempts", "0"), ("--postback-backoff-ms", "x"),
                        ("--postback-timeout-ms", "-5"), ("--postback-max-age", "99999999999")):
        r = perfmark("serve", flag, value, "--data", "/nonexistent/never-created")
        assert r.returncode == 2, (flag, r.stderr)
        assert "--postback-" in r.stderr and "usage: perfmark serve" in r.stderr
    r = perfmark("serve", "--help")
    assert r.returncode == 0 and "--postback-backoff-ms" in r.stdout
