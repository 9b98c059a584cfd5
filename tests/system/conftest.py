"""
System tests for perfmark: the real binary, on a free port, with a real data
directory, driven over HTTP (black box).

Fixtures
  server      a factory: server(threads=2, name=None, extra_args=(),
              start=True, key=True) starts `perfmark serve --listen
              127.0.0.1:PORT --data DIR --threads N` on a free port with a
              fresh data dir under tmp_path (stdout/stderr captured to files
              there, one pair per start), waits for /healthz, creates an admin
              API key with `perfmark keys create --role admin` and returns a
              Server: s.api(method, path, json) (Bearer admin key), s.get/post,
              s.events(type) (all pages), s.wait_events/wait_event,
              s.wait_materialized(), s.metrics(), s.kill9(), s.start(),
              s.restart() (same port, same data dir), s.setup_campaign().
              Every server a test started is stopped with SIGTERM at teardown;
              the test errors if a server hung, crashed or exited non-zero, or
              if any of its stderr logs holds a sanitizer report (ASan
              "ERROR: AddressSanitizer", UBSan "runtime error:").
  perfmark    a function running the CLI: perfmark("keys", "create", ...)
              -> subprocess.CompletedProcess (text mode).

Helpers
  wait_for(predicate, timeout, what)  polls until predicate() is truthy and
              returns its value; events reach the store asynchronously (the
              materializer), so tests poll the events API instead of sleeping.

The binary is $PERFMARK_BIN, else build-asan/perfmark under the repository
root (what `make system` builds).
"""
import http.cookiejar
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

# The tests speak as a browser unless they say otherwise: python-requests'
# own User-Agent is on the crawler list, and a bot's click is counted apart
# and costs nothing (docs/routing.md), which is not what most tests are
# about. Tests of the bot filter send their own User-Agent.
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
requests.utils.default_user_agent = lambda name="python-requests": BROWSER_UA

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("PERFMARK_BIN") or str(REPO / "build-asan" / "perfmark")

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "ERROR: ThreadSanitizer")

START_TIMEOUT = 30.0   # an ASan build with a big journal to replay can be slow
STOP_TIMEOUT = 20.0


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(f"perfmark binary not found at {BIN}: build it (make build-asan) "
                                "or set PERFMARK_BIN")


def sanitizer_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def run_cli(*args, timeout=30, input=None, binary=None):
    return subprocess.run([binary or BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=sanitizer_env(), input=input)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, what="condition", interval=0.02):
    """Poll predicate() until it returns something truthy; return that value.
    Fails the test after `timeout` seconds, naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (requests.ConnectionError, requests.Timeout) as e:  # server still starting
            last_exc = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc})" if last_exc else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def parse_metrics(text):
    """Prometheus text format -> {name: float} (no labels are used here)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        assert m, f"malformed metrics line: {line!r}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Server:
    """One perfmark serve process (and its restarts) over one data dir."""

    def __init__(self, root, threads=2, extra_args=()):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.threads = threads
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.starts = 0
        self.logs = []          # (stdout path, stderr path) per start
        self.problems = []      # unclean exits, found at stop
        self.key = None
        self.http = self.new_session()

    # --- process control ---------------------------------------------------

    @property
    def stdout_path(self):
        return self.logs[-1][0]

    @property
    def stderr_path(self):
        return self.logs[-1][1]

    def start(self, wait=True):
        assert self.proc is None, "already running"
        self.starts += 1
        out = self.root / f"stdout.{self.starts}.log"
        err = self.root / f"stderr.{self.starts}.log"
        self.logs.append((out, err))
        with open(out, "wb") as o, open(err, "wb") as e:
            self.proc = subprocess.Popen(
                [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(self.data),
                 "--threads", str(self.threads), *self.extra_args],
                stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=sanitizer_env())
        self.http = self.new_session()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=START_TIMEOUT):
        def up():
            if self.proc.poll() is not None:
                pytest.fail(f"perfmark serve exited with {self.proc.returncode} during start:\n"
                            + self.stderr())
            r = requests.get(self.url("/healthz"), timeout=2)
            return r.status_code == 200
        wait_for(up, timeout, "the server to answer /healthz")

    def kill9(self):
        """SIGKILL the server (a crash) and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None
        self.http.close()

    def stop(self):
        """SIGTERM, wait; record an unclean exit (hang, crash, non-zero)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        self.http.close()
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.problems.append(f"start #{self.starts}: did not exit within {STOP_TIMEOUT}s of SIGTERM")
                return p.returncode
        if p.returncode != 0:
            self.problems.append(f"start #{self.starts}: exited with status {p.returncode}"
                                 + (" (killed by signal %d)" % -p.returncode if p.returncode < 0 else ""))
        return p.returncode

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self, all_starts=False):
        paths = [e for _, e in self.logs] if all_starts else [self.stderr_path]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def sanitizer_reports(self):
        text = self.stderr(all_starts=True)
        return [m for m in SANITIZER_MARKERS if m in text]

    # --- HTTP --------------------------------------------------------------

    @staticmethod
    def new_session():
        """A keep-alive session that never stores cookies: each request sends
        exactly the cookies the test passes."""
        sess = requests.Session()
        sess.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return sess

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        return self.http.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        return self.http.post(self.url(path), **kw)

    def request(self, method, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        return self.http.request(method, self.url(path), **kw)

    def api(self, method, path, json=None, key=None, **kw):
        """An admin API call with the Bearer key (the admin key by default;
        key="" sends none). `path` is relative to /api/v1 unless it starts
        with /api/."""
        if not path.startswith("/api/"):
            path = "/api/v1" + (path if path.startswith("/") else "/" + path)
        headers = dict(kw.pop("headers", {}) or {})
        k = self.key if key is None else key
        if k:
            headers["Authorization"] = f"Bearer {k}"
        return self.request(method, path, json=json, headers=headers, **kw)

    def create_key(self, role="admin"):
        r = run_cli("keys", "create", "--data", self.data, "--role", role)
        assert r.returncode == 0, r.stderr
        key = r.stdout.strip()
        assert re.fullmatch(r"\S+", key), f"keys create printed more than a key: {r.stdout!r}"
        return key

    # --- reading the store through the API ---------------------------------

    def events(self, type, campaign=None, page=1000):
        """Every event of `type` (all pages), in id order."""
        rows, after = [], None
        while True:
            params = {"type": type, "limit": page}
            if campaign is not None:
                params["campaign"] = campaign
            if after is not None:
                params["after"] = after
            r = self.api("GET", "/events", params=params)
            assert r.status_code == 200, r.text
            doc = r.json()
            rows.extend(doc["rows"])
            if doc["next"] is None:
                return rows
            assert doc["next"] != after, "paging does not advance"
            after = doc["next"]

    def wait_events(self, type, predicate, timeout=10.0, what=None, **kw):
        """Poll the events API until predicate(rows) is truthy; return rows."""
        holder = {}

        def check():
            holder["rows"] = self.events(type, **kw)
            return predicate(holder["rows"])
        wait_for(check, timeout, what or f"{type} events")
        return holder["rows"]

    def wait_event(self, type, id, timeout=10.0):
        rows = self.wait_events(type, lambda rs: any(r["id"] == id for r in rs), timeout,
                                f"{type} {id} in the events API")
        return next(r for r in rows if r["id"] == id)

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return parse_metrics(r.text)

    def wait_materialized(self, timeout=10.0):
        """Until the materializer has stored every record this process has
        journaled so far (/metrics reads the journal counters before the
        materializer's, so materialized >= journaled means caught up)."""
        def caught_up():
            m = self.metrics()
            return m["perfmark_materialized_events_total"] >= m["perfmark_journal_records_total"]
        wait_for(caught_up, timeout, "the materializer to catch up with the journal")

    # --- a workspace -------------------------------------------------------

    def setup_campaign(self, offer_url=None, lander_url=None, with_offer=True, payout="12.50",
                       cost=("cpc", "0.40"), name="c"):
        """Source, offer (and lander) and an active campaign; returns a dict."""
        src = self.api("POST", "/traffic-sources",
                       {"name": f"{name} source", "postback_url": "https://ts.example/pb?c={external_id}"})
        assert src.status_code == 201, src.text
        out = {"source": src.json()}
        dest = {}
        if with_offer:
            offer = self.api("POST", "/offers", {
                "name": f"{name} offer",
                "url": offer_url or "https://offer.example/land?cid={clickid}&camp={campaign_id}&s1={sub1}",
                "payout": {"type": "cpa", "amount": payout, "currency": "USD"}})
            assert offer.status_code == 201, offer.text
            out["offer"] = offer.json()
            dest["offer_id"] = out["offer"]["id"]
        if lander_url:
            lander = self.api("POST", "/landers", {"name": f"{name} lander", "url": lander_url})
            assert lander.status_code == 201, lander.text
            out["lander"] = lander.json()
            dest["lander_id"] = out["lander"]["id"]
        camp = self.api("POST", "/campaigns", {
            "name": f"{name} campaign", "traffic_source_id": out["source"]["id"], "destination": dest,
            "cost": {"model": cost[0], "amount": cost[1], "currency": "USD"}})
        assert camp.status_code == 201, camp.text
        out["campaign"] = camp.json()
        out["token"] = out["campaign"]["token"]
        return out


def start_demo(s, *args, timeout=180.0):
    """Start `perfmark demo ARGS` for Server `s` (made with start=False) on
    its port and data dir, wait until it answers /healthz (the first start
    stores the simulated traffic first). Returns (process, stdout path,
    stderr path); the caller stops the process (stop_demo)."""
    cmd = [BIN, "demo", "--listen", f"127.0.0.1:{s.port}", "--data", str(s.data), *map(str, args)]
    out_path, err_path = s.root / "demo.stdout", s.root / "demo.stderr"
    with open(out_path, "wb") as o, open(err_path, "wb") as e:
        proc = subprocess.Popen(cmd, stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=sanitizer_env())

    def up():
        if proc.poll() is not None:
            pytest.fail(f"perfmark demo exited with {proc.returncode}:\n{err_path.read_text()}")
        try:
            return requests.get(s.url("/healthz"), timeout=2).status_code == 200
        except requests.ConnectionError:
            return False
    wait_for(up, timeout, "perfmark demo to answer /healthz")
    return proc, out_path, err_path


def stop_demo(proc, err_path):
    """Stop a start_demo process; fail on any sanitizer report in its log."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    err = err_path.read_text(errors="replace")
    assert "runtime error" not in err and "AddressSanitizer" not in err, err[-4000:]


@pytest.fixture
def server(tmp_path):
    """Factory: server(threads=2, name=None, extra_args=(), start=True)."""
    made = []

    def make(threads=2, name=None, extra_args=(), start=True, key=True):
        s = Server(tmp_path / (name or f"server{len(made)}"), threads=threads, extra_args=extra_args)
        made.append(s)
        if start:
            s.start()
            if key:
                s.key = s.create_key("admin")
        return s

    yield make

    problems = []
    for s in made:
        s.stop()
        problems.extend(f"{s.root.name}: {p}" for p in s.problems)
        for marker in s.sanitizer_reports():
            problems.append(f"{s.root.name}: sanitizer report ({marker}) in its stderr:\n"
                            + s.stderr(all_starts=True)[-6000:])
    if problems:
        pytest.fail("server teardown found problems:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def perfmark():
    return run_cli


def json_error(r, status=None):
    """Assert r is a JSON error {"error":{"code","message","field"}}; return the inner object."""
    if status is not None:
        if isinstance(status, (tuple, list, set)):
            assert r.status_code in status, (r.status_code, r.text)
        else:
            assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    doc = r.json()
    assert set(doc) == {"error"}, doc
    err = doc["error"]
    assert set(err) >= {"code", "message", "field"}, err
    assert isinstance(err["code"], str) and err["code"], err
    assert isinstance(err["message"], str) and err["message"], err
    return err


def cookies_of(r):
    """name -> (value, full Set-Cookie line) for every Set-Cookie header."""
    out = {}
    raw = r.raw.headers.getlist("set-cookie") if hasattr(r.raw.headers, "getlist") else []
    for line in raw:
        name, _, rest = line.partition("=")
        out[name.strip()] = (rest.split(";", 1)[0], line)
    return out


ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
