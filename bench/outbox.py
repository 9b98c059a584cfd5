"""
Outgoing postbacks: how far the outbox trails the conversions.

Starts `perfmark serve --threads 2` on a temp data dir and a local
http.server receiver as the traffic source's postback endpoint, makes N
clicks, posts N conversions one after the other, and reports when the
receiver has had all N postbacks.

    python3 bench/outbox.py build/perfmark [N]
"""
import http.server
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests


def main():
    binp, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    got, lock = [], threading.Lock()

    class Receiver(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            with lock:
                got.append(time.monotonic())
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

    rx = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    rx.daemon_threads = True
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="pm_bench_outbox_")
    p = subprocess.Popen([binp, "serve", "--listen", f"127.0.0.1:{port}", "--data", data, "--threads", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        key = None
        while key is None:
            m = re.search(r"(pm_[0-9a-z]{40})", p.stdout.readline())
            key = m and m.group(1)
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        while True:
            try:
                if requests.get(base + "/healthz").ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        tpl = f"http://127.0.0.1:{rx.server_address[1]}/pb?c={{clickid}}&t={{txid}}"
        src = requests.post(base + "/api/v1/traffic-sources", json={"name": "s", "postback_url": tpl},
                            headers=auth).json()
        off = requests.post(base + "/api/v1/offers", json={"name": "o", "url": "https://o.example/?c={clickid}",
                            "payout": {"type": "cpa", "amount": "1", "currency": "USD"}}, headers=auth).json()
        requests.post(base + "/api/v1/campaigns", json={"name": "c", "token": "bench", "traffic_source_id": src["id"],
                      "destination": {"offer_id": off["id"]},
                      "cost": {"model": "cpc", "amount": "0.01", "currency": "USD"}}, headers=auth)
        sess = requests.Session()
        clicks = [re.search(r"c=([0-9A-Z]{26})", sess.get(base + "/c/bench", allow_redirects=False)
                            .headers["location"]).group(1) for _ in range(n)]
        t0 = time.monotonic()
        for i, c in enumerate(clicks):
            assert sess.get(base + "/pb", params={"clickid": c, "txid": f"t{i}"}).ok
        t1 = time.monotonic()
        while len(got) < n:
            time.sleep(0.005)
        t2 = time.monotonic()
        print(f"{n} conversions posted in {t1 - t0:.2f}s; all {n} postbacks delivered {t2 - t1:.2f}s after the last")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
