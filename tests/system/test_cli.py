"""
The command line: `perfmark --help` and `perfmark <verb> --help` explain
every verb and flag (exit 0); unknown verbs and flags exit 2; `keys create`
prints the key alone on stdout; `serve` refuses what it cannot do.
"""
import re
import socket
import subprocess
import time

import pytest

from conftest import BIN, free_port, run_cli, sanitizer_env

VERBS = ["serve", "demo", "keys", "version", "import", "ledger"]

# Flags each verb accepts, with a harmless value (None for switches).
FLAGS = {
    "serve": {"--listen": "127.0.0.1:1", "--data": "/nonexistent", "--threads": "2", "--sync-ms": "10"},
    "demo": {"--listen": "127.0.0.1:1", "--data": "/nonexistent", "--threads": "2", "--sync-ms": "10"},
    "keys create": {"--data": "/nonexistent", "--role": "viewer", "--name": "x"},
}


def test_top_level_help():
    for args in (["--help"], ["-h"], ["help"]):
        r = run_cli(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert "usage" in r.stdout.lower()
        for verb in VERBS:
            assert re.search(rf"^\s+{verb}\s+\S", r.stdout, re.M), (verb, r.stdout)
        assert r.stderr == "" or "runtime error" not in r.stderr


def test_no_arguments_is_a_usage_error():
    r = run_cli()
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()
    assert r.stdout == ""


def test_unknown_verb_exits_2():
    for verb in ("bogus", "--bogus", "SERVE", "serve2", ""):
        r = run_cli(verb)
        assert r.returncode == 2, (verb, r.returncode, r.stdout)
        assert "usage" in r.stderr.lower() or "unknown" in r.stderr.lower(), r.stderr
        assert r.stdout == "", (verb, r.stdout)


@pytest.mark.parametrize("verb", ["serve", "demo", "keys", "keys create", "version", "import", "ledger"])
def test_verb_help(verb):
    for flag in ("--help", "-h"):
        r = run_cli(*verb.split(), flag)
        assert r.returncode == 0, (verb, flag, r.returncode, r.stderr)
        out = r.stdout
        assert out.lower().startswith("usage:"), (verb, flag, out[:200])
        assert verb.split()[0] in out
        # Help goes to stdout and does nothing else.
        assert r.stderr == "", r.stderr


@pytest.mark.parametrize("verb", sorted(FLAGS))
def test_every_accepted_flag_is_explained(verb):
    """Each flag the verb accepts appears in its --help with an explanation
    (the flag at the start of a line followed by text, not only in the usage
    line)."""
    r = run_cli(*verb.split(), "--help")
    assert r.returncode == 0
    text = r.stdout
    missing = []
    for flag, value in FLAGS[verb].items():
        # The flag is accepted: with --help after it the verb prints help, exit 0.
        probe = run_cli(*verb.split(), flag, value, "--help")
        assert probe.returncode == 0, (verb, flag, probe.returncode, probe.stderr)
        if not re.search(rf"^\s+(-\w,\s+)?{re.escape(flag)}\b.*\S\s+\w+", text, re.M):
            missing.append(flag)
    assert not missing, f"`perfmark {verb} --help` does not explain {missing}:\n{text}"


@pytest.mark.parametrize("args", [
    ["serve", "--bogus"], ["serve", "--threads", "0"], ["serve", "--threads", "x"], ["serve", "--threads", "65"],
    ["serve", "--sync-ms", "0"], ["serve", "extra"], ["serve", "--listen"],
    ["demo", "--bogus"], ["keys"], ["keys", "frobnicate"], ["keys", "create", "--bogus"],
    ["keys", "create", "--role", "root"], ["keys", "create", "extra-arg"],
    ["version", "--bogus"], ["version", "extra"],
], ids=lambda a: " ".join(a))
def test_bad_flags_exit_2(args, tmp_path):
    args = [a for a in args]
    if args[:2] == ["keys", "create"]:
        args += ["--data", str(tmp_path / "d")]
    r = run_cli(*args, timeout=20)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.strip(), f"{args}: no message on stderr"
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr


def test_version():
    r = run_cli("version")
    assert r.returncode == 0
    assert re.fullmatch(r"perfmark \d+\.\d+\.\d+\n", r.stdout), r.stdout


def test_keys_create_prints_the_key_alone(tmp_path):
    data = tmp_path / "d"
    r1 = run_cli("keys", "create", "--data", data, "--role", "admin")
    assert r1.returncode == 0, r1.stderr
    assert re.fullmatch(r"pm_[0-9a-z]{40}\n", r1.stdout), repr(r1.stdout)
    r2 = run_cli("keys", "create", "--data", data, "--role", "viewer", "--name", "dashboard")
    assert r2.returncode == 0, r2.stderr
    assert re.fullmatch(r"pm_[0-9a-z]{40}\n", r2.stdout), repr(r2.stdout)
    assert r1.stdout != r2.stdout
    r3 = run_cli("keys", "create", "--data", data)  # role defaults to admin
    assert r3.returncode == 0 and re.fullmatch(r"pm_[0-9a-z]{40}\n", r3.stdout)


def test_keys_create_works_while_serving_and_roles_hold(server):
    s = server(key=False)
    admin = s.create_key("admin")
    viewer = s.create_key("viewer")
    for _ in range(6):  # whichever loop answers
        assert s.api("POST", "/traffic-sources", {"name": "x"}, key=admin).status_code == 201
        assert s.api("POST", "/traffic-sources", {"name": "x"}, key=viewer).status_code == 403
        assert s.api("GET", "/traffic-sources", key=viewer).status_code == 200


def test_first_start_prints_an_admin_key_once(server):
    s = server(key=False)
    first = s.stdout()
    m = re.search(r"pm_[0-9a-z]{40}", first)
    assert m, first
    s.key = m.group(0)
    assert s.api("GET", "/offers").status_code == 200
    s.restart()
    assert re.search(r"pm_[0-9a-z]{40}", s.stdout()) is None, "the key must be shown only on the first start"


def test_serve_refuses_a_bad_listen_address(tmp_path):
    for listen in ("nonsense", "127.0.0.1:", "127.0.0.1:99999", "999.1.1.1:80", "127.0.0.1:-1"):
        r = run_cli("serve", "--listen", listen, "--data", tmp_path / "d", "--threads", "1", timeout=20)
        assert r.returncode != 0, (listen, r.stdout, r.stderr)
        assert r.stderr.strip(), listen
        assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        r = run_cli("serve", "--listen", f"127.0.0.1:{port}", "--data", tmp_path / "d", "--threads", "1", timeout=20)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "in use" in r.stderr.lower() or "address" in r.stderr.lower(), r.stderr


def _try_second_server(args, timeout=3.0):
    """Start a second perfmark serve; return (exit code or None if it kept running, stderr)."""
    p = subprocess.Popen([BIN, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=sanitizer_env(), text=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.terminate()
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        return None, err


def test_a_second_server_on_the_same_port_is_refused(server, tmp_path):
    """SO_REUSEPORT is for this process' own loops: another perfmark on the same
    port would silently get part of the traffic (and its own store)."""
    s = server()
    rc, err = _try_second_server(["serve", "--listen", f"127.0.0.1:{s.port}", "--data", tmp_path / "other",
                                  "--threads", "1"])
    assert rc not in (None, 0), f"a second server started on port {s.port} next to the first"
    assert rc == 1, err
    for _ in range(10):
        assert s.api("GET", "/offers").status_code == 200


def test_a_second_server_on_the_same_data_dir_is_refused(server):
    """Two processes on one data dir would replay and delete each other's live
    journal segments. Whatever the second start does, the first server's
    clicks must still reach its store."""
    s = server()
    w = s.setup_campaign()
    before = s.get(f"/c/{w['token']}")
    s.wait_event("click", _pmc(before))
    rc, err = _try_second_server(["serve", "--listen", f"127.0.0.1:{free_port()}", "--data", s.data,
                                  "--threads", "1"])
    after = s.get(f"/c/{w['token']}")
    assert after.status_code == 302
    s.wait_event("click", _pmc(after), timeout=5)
    assert rc not in (None, 0), "a second server started on the same data directory"
    assert rc == 1, err


def _pmc(r):
    for line in r.raw.headers.getlist("set-cookie"):
        if line.startswith("pmc="):
            return line[4:].split(";", 1)[0]
    raise AssertionError(r.headers)


def test_demo_creates_a_working_workspace(tmp_path):
    port = free_port()
    data = tmp_path / "demo"
    p = subprocess.Popen([BIN, "demo", "--listen", f"127.0.0.1:{port}", "--data", str(data), "--threads", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sanitizer_env(), text=True)
    try:
        import requests
        deadline = time.monotonic() + 180  # an ASan build storing a month of demo traffic
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert p.poll() is None, p.communicate()[1]
            assert time.monotonic() < deadline, "demo did not come up"
            time.sleep(0.05)
        r = requests.get(f"http://127.0.0.1:{port}/c/demo", params={"sub1": "d"}, allow_redirects=False, timeout=5)
        assert r.status_code == 302
        assert r.headers["location"].startswith("https://offer.example.com/")
        assert "s1=d" in r.headers["location"]
    finally:
        p.terminate()
        out, err = p.communicate(timeout=20)
    assert "tracking URL" in out and "/c/demo" in out, out
    assert re.search(r"pm_[0-9a-z]{40}", out), out
    assert p.returncode == 0, err
    assert "runtime error" not in err and "AddressSanitizer" not in err, err
