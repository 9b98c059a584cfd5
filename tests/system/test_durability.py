"""
Durability (DESIGN §3): every event whose response was received is in the
store exactly once after a kill -9 and a restart; replays are idempotent;
conversions dedupe on (offer, txid) across restarts; torn journal tails are
detected, reported and skipped; tracking keeps answering while the store is
down and the materializer catches up later.

Journal records on disk: u32 magic 0x314A4D50 (LE) | u32 len | u32 crc | payload,
in DATA/journal/L<lineage>-<seq>.pmj.
"""
import collections
import contextlib
import sqlite3
import struct
import threading
import time

import requests

from conftest import ID_RE, cookies_of, wait_for

MAGIC = 0x314A4D50


# --- helpers ----------------------------------------------------------------

def segments(s):
    return sorted((s.data / "journal").glob("*.pmj"))


def records(path):
    """[(offset, length)] of the whole records at the start of a segment."""
    data = path.read_bytes()
    out, off = [], 0
    while off + 12 <= len(data):
        magic, n, _crc = struct.unpack_from("<III", data, off)
        if magic != MAGIC or off + 12 + n > len(data):
            break
        out.append((off, n))
        off += 12 + n
    return out


@contextlib.contextmanager
def store_locked(s):
    """Hold the SQLite write lock on the server's store: the materializer
    cannot commit (the store is "slow or down") while reads still work."""
    con = sqlite3.connect(str(s.data / "perfmark.db"), timeout=20, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        yield con
    finally:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        con.close()


def pmc(r):
    return cookies_of(r)["pmc"][0]


def count_ids(rows):
    return collections.Counter(r["id"] for r in rows)


def assert_exactly_once(s, type, acked, what):
    rows = s.events(type)
    counts = count_ids(rows)
    dupes = {k: v for k, v in counts.items() if v > 1}
    assert not dupes, f"{what}: duplicated ids {list(dupes.items())[:5]}"
    missing = [i for i in acked if counts.get(i, 0) != 1]
    assert not missing, f"{what}: {len(missing)} of {len(acked)} acknowledged ids missing, e.g. {missing[:5]}"
    return rows


# --- kill -9 under load -------------------------------------------------------

def test_kill9_under_load_loses_no_acknowledged_event(server):
    s = server(threads=2)
    w = s.setup_campaign(payout="5.00")
    token = w["token"]
    stop = threading.Event()
    lock = threading.Lock()
    acked_clicks, acked_convs = [], []   # click ids; (conversion answer, params)
    errors = collections.Counter()

    def worker(n):
        sess = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = sess.get(s.url(f"/c/{token}"), params={"sub1": f"w{n}", "sub2": str(i)},
                             allow_redirects=False, timeout=10)
                if r.status_code != 302:
                    errors[f"click {r.status_code}"] += 1
                    continue
                cid = pmc(r)
                with lock:
                    acked_clicks.append(cid)
                if i % 2 == 0:
                    params = {"clickid": cid, "txid": f"tx-{n}-{i}", "payout": "1.25"}
                    r = sess.get(s.url("/pb"), params=params, timeout=10)
                    if r.status_code != 200:
                        errors[f"postback {r.status_code}"] += 1
                        continue
                    with lock:
                        acked_convs.append((r.status_code, r.content, r.json(), params))
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError):
                errors["connection"] += 1
                if not s.alive():
                    return
                time.sleep(0.01)
        sess.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)                   # the load phase: the only fixed sleep
    s.kill9()                         # in-flight requests fail on the dead server
    stop.set()
    for t in threads:
        t.join(15)
    load_s = time.monotonic() - t0
    assert len(acked_clicks) > 50, (len(acked_clicks), errors)
    assert len(acked_convs) > 10, (len(acked_convs), errors)
    assert not {k for k in errors if k != "connection"}, errors

    s.start()
    m = s.metrics()
    print(f"load {load_s:.1f}s: {len(acked_clicks)} clicks, {len(acked_convs)} conversions acknowledged; "
          f"recovered_events={m['perfmark_recovered_events']}, torn_tails={m['perfmark_journal_torn_tails']}")
    assert m["perfmark_recovered_events"] >= 0
    assert m["perfmark_journal_corrupt_regions"] == 0

    clicks = assert_exactly_once(s, "click", acked_clicks, "clicks")
    conv_ids = [a[2]["conversion_id"] for a in acked_convs]
    convs = assert_exactly_once(s, "conversion", conv_ids, "conversions")
    by_txid = collections.Counter(c["txid"] for c in convs)
    assert all(v == 1 for v in by_txid.values()), [k for k, v in by_txid.items() if v > 1][:5]
    click_ids = {c["id"] for c in clicks}
    assert all(c["click_id"] in click_ids for c in convs)
    for status, content, doc, params in acked_convs[:5]:
        stored = next(c for c in convs if c["id"] == doc["conversion_id"])
        assert stored["txid"] == params["txid"] and stored["revenue"] == {"amount": "1.25", "currency": "USD"}

    # Repeat every acknowledged postback: the same conversion, not recorded again.
    sess = requests.Session()
    changed = []
    for status, content, doc, params in acked_convs:
        r = sess.get(s.url("/pb"), params=params, timeout=10)
        assert r.status_code == status, (params, r.status_code, r.text)
        if r.json()["conversion_id"] != doc["conversion_id"]:
            changed.append((params["txid"], doc["conversion_id"], r.json()["conversion_id"]))
        elif r.content != content:
            changed.append((params["txid"], content, r.content))
    assert not changed, f"{len(changed)} repeated postbacks answered differently, e.g. {changed[:3]}"
    m = s.metrics()
    assert m["perfmark_conversions_total"] == 0
    assert m["perfmark_duplicate_postbacks_total"] == len(acked_convs)
    s.wait_materialized()
    assert len(s.events("conversion")) == len(convs)


def test_sigterm_keeps_everything_and_restart_is_idempotent(server):
    s = server(threads=2)
    w = s.setup_campaign()
    ids = [pmc(s.get(f"/c/{w['token']}", params={"sub1": str(i)})) for i in range(50)]
    conv = s.get("/pb", params={"clickid": ids[0], "txid": "t-1"}).json()
    s.restart()
    assert_exactly_once(s, "click", ids, "clicks after SIGTERM")
    assert_exactly_once(s, "conversion", [conv["conversion_id"]], "conversion after SIGTERM")
    s.restart()
    s.kill9()
    s.start()
    assert_exactly_once(s, "click", ids, "clicks after two more restarts")
    assert len(s.events("click")) == 50
    assert s.get("/pb", params={"clickid": ids[0], "txid": "t-1"}).json() == conv


# --- the store is down ---------------------------------------------------------

def test_tracking_answers_while_the_store_is_locked_then_recovers_after_kill9(server):
    s = server(threads=2)
    w = s.setup_campaign()
    with store_locked(s):
        t0 = time.monotonic()
        ids = [pmc(s.get(f"/c/{w['token']}", params={"sub1": str(i)})) for i in range(40)]
        elapsed = time.monotonic() - t0
        assert elapsed < 10, f"clicks waited on the store: {elapsed:.1f}s for 40"
        # A postback right after its click finds it in memory, not in the store.
        pb = s.get("/pb", params={"clickid": ids[-1], "txid": "locked-1"}, timeout=15)
        assert pb.status_code == 200, pb.text
        assert s.metrics()["perfmark_recent_clicks"] >= 40
        assert s.api("GET", "/events", params={"type": "click"}).json()["rows"] == []
        s.kill9()
    s.start()
    m = s.metrics()
    assert m["perfmark_recovered_events"] == 41, m["perfmark_recovered_events"]
    assert_exactly_once(s, "click", ids, "clicks journaled while the store was locked")
    assert_exactly_once(s, "conversion", [pb.json()["conversion_id"]], "conversion")


def test_materializer_lag_is_visible_while_the_store_is_locked(server):
    """DESIGN §3: "the materializer catches up later; the lag is visible in /metrics"."""
    s = server(threads=2)
    w = s.setup_campaign()
    with store_locked(s):
        for _ in range(20):
            s.get(f"/c/{w['token']}")
        t0 = time.monotonic()
        wait_for(lambda: s.metrics()["perfmark_materializer_lag_bytes"] > 0, 3,
                 "perfmark_materializer_lag_bytes > 0 while 20 clicks wait for the store")
        assert s.get("/healthz").json()["materializer_lag_bytes"] > 0
        print(f"lag visible after {time.monotonic() - t0:.2f}s")
    s.wait_events("click", lambda rs: len(rs) == 20, timeout=30)
    wait_for(lambda: s.metrics()["perfmark_materializer_lag_bytes"] == 0, 5, "the lag to return to 0")


def test_store_locked_then_unlocked_catches_up(server):
    s = server(threads=2)
    w = s.setup_campaign()
    with store_locked(s):
        ids = [pmc(s.get(f"/c/{w['token']}")) for _ in range(20)]
    s.wait_events("click", lambda rs: len(rs) >= 20, timeout=30, what="the materializer to catch up")
    assert_exactly_once(s, "click", ids, "clicks")
    s.wait_materialized()
    # The clicks are forgotten from memory once stored.
    wait_for(lambda: s.metrics()["perfmark_recent_clicks"] == 0, 5, "recent_clicks to drain")


def test_a_second_crash_after_a_restart_loses_nothing(server):
    """Life 1 fills the journal and is materialized; life 2 journals clicks the
    store has not taken yet (store locked) and is killed; life 3 must replay
    them. Every start reuses segment names (seq 1 after recovery deleted the
    old ones) while the store's high-water mark still holds life 1's offset."""
    s = server(threads=1)
    w = s.setup_campaign()
    life1 = [pmc(s.get(f"/c/{w['token']}", params={"sub1": "life1-" + "x" * 200})) for _ in range(100)]
    s.wait_materialized()
    s.kill9()
    s.start()
    assert_exactly_once(s, "click", life1, "life 1 clicks")
    with store_locked(s):
        life2 = [pmc(s.get(f"/c/{w['token']}", params={"sub1": f"life2-{i}"})) for i in range(10)]
        s.kill9()
    s.start()
    print("segments after life 3 start:", [p.name for p in segments(s)],
          "recovered:", s.metrics()["perfmark_recovered_events"])
    assert_exactly_once(s, "click", life1, "life 1 clicks")
    assert_exactly_once(s, "click", life2, "life 2 clicks (acknowledged, then kill -9)")


# --- torn tails ------------------------------------------------------------------

def test_torn_tail_half_record_appended(server):
    s = server(threads=2)
    w = s.setup_campaign()
    ids = [pmc(s.get(f"/c/{w['token']}", params={"sub1": str(i)})) for i in range(30)]
    s.wait_events("click", lambda rs: len(rs) == 30)
    s.kill9()
    segs = [p for p in segments(s) if p.stat().st_size > 0]
    assert segs, "no journal segment with records"
    newest = max(segs, key=lambda p: (p.stat().st_mtime_ns, p.name))
    size = newest.stat().st_size
    # A record header announcing 300 bytes, then only 40 of them: a write cut short.
    with open(newest, "ab") as f:
        f.write(struct.pack("<III", MAGIC, 300, 0xDEADBEEF) + b"\x01\x01" + b"z" * 38)
    assert newest.stat().st_size == size + 52
    s.start()
    assert "torn" in s.stderr().lower(), s.stderr()
    m = s.metrics()
    assert m["perfmark_journal_torn_tails"] == 1
    assert m["perfmark_journal_corrupt_regions"] == 0
    assert_exactly_once(s, "click", ids, "clicks before the torn tail")
    assert len(s.events("click")) == 30
    # And it keeps working.
    new = pmc(s.get(f"/c/{w['token']}"))
    assert ID_RE.match(new)
    s.wait_event("click", new)
    # The next start finds nothing torn any more.
    s.restart()
    assert s.metrics()["perfmark_journal_torn_tails"] == 0


def test_torn_tail_truncated_mid_record(server):
    """The last record cut in the middle (the crash hit during its write).
    The store is locked so the records are only in the journal."""
    s = server(threads=1)
    w = s.setup_campaign()
    with store_locked(s):
        sess = requests.Session()  # one connection: one loop, one lineage, in order
        ids = [pmc(sess.get(s.url(f"/c/{w['token']}"), params={"sub1": str(i)}, allow_redirects=False,
                            timeout=10)) for i in range(25)]
        sess.close()
        s.kill9()
    segs = [p for p in segments(s) if p.stat().st_size > 0]
    assert len(segs) == 1, segs
    recs = records(segs[0])
    assert len(recs) == 25, len(recs)
    off, n = recs[-1]
    with open(segs[0], "r+b") as f:
        f.truncate(off + 12 + n // 2)
    s.start()
    assert "torn" in s.stderr().lower(), s.stderr()
    m = s.metrics()
    assert m["perfmark_journal_torn_tails"] == 1
    assert m["perfmark_recovered_events"] == 24
    assert_exactly_once(s, "click", ids[:-1], "clicks before the torn one")
    assert ids[-1] not in {r["id"] for r in s.events("click")}


def test_corrupt_record_in_the_middle_is_skipped(server):
    s = server(threads=1)
    w = s.setup_campaign()
    with store_locked(s):
        sess = requests.Session()
        ids = [pmc(sess.get(s.url(f"/c/{w['token']}"), params={"sub1": str(i)}, allow_redirects=False,
                            timeout=10)) for i in range(10)]
        sess.close()
        s.kill9()
    seg = [p for p in segments(s) if p.stat().st_size > 0][0]
    recs = records(seg)
    off, n = recs[4]
    data = bytearray(seg.read_bytes())
    data[off + 12 + n // 2] ^= 0xFF           # flip a payload byte of record #5: its CRC fails
    seg.write_bytes(bytes(data))
    s.start()
    m = s.metrics()
    assert m["perfmark_journal_corrupt_regions"] == 1
    assert m["perfmark_journal_torn_tails"] == 0
    assert m["perfmark_recovered_events"] == 9
    stored = {r["id"] for r in s.events("click")}
    assert set(ids[:4] + ids[5:]) <= stored
    assert ids[4] not in stored
    assert "corrupt" in s.stderr().lower()


def test_journal_garbage_files_do_not_stop_the_server(server):
    s = server(threads=1)
    w = s.setup_campaign()
    ids = [pmc(s.get(f"/c/{w['token']}")) for _ in range(5)]
    s.wait_events("click", lambda rs: len(rs) == 5)
    s.kill9()
    jdir = s.data / "journal"
    (jdir / "L000-0000000099.pmj").write_bytes(b"\x00" * 1000)      # zeros
    (jdir / "L000-0000000100.pmj").write_bytes(b"")                 # empty
    (jdir / "L007-0000000001.pmj").write_bytes(struct.pack("<III", MAGIC, 10**8, 0))  # absurd length
    (jdir / "notes.txt").write_text("not a segment")
    s.start()
    assert_exactly_once(s, "click", ids, "clicks")
    assert pmc(s.get(f"/c/{w['token']}"))
    wait_for(lambda: s.get("/healthz").status_code == 200, 5, "healthz")
