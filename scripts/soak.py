#!/usr/bin/env python3
"""Soak test of `rul serve`: mixed REST load with faults for a bounded time, then SIGTERM under load.

Faults while the load runs: hot reloads (POST /admin/reload every few seconds), slow clients (stalled
connections that send half a request line and stay open), remote failures (a share of requests asks for
SageMaker, whose endpoint is a closed port, so each is answered by the local fallback), and at the end SIGTERM
while every client is still sending. Reports, from the clients' side:

  answered      requests that got a complete HTTP answer, by status class
  refused       requests whose connection was refused (never sent: the server had stopped listening)
  lost          requests written to a connection that then failed without an answer
  peak/final RSS of the server process (VmHWM / VmRSS)

Usage: python3 scripts/soak.py --rul target/release/rul --model models/fd001 [--seconds 60] [--clients 16]
Needs only Python's standard library; the server runs on free loopback ports with a scratch SQLite store.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reading(i, n):
    # Plausible FD001-like values (the informative sensors), drifting slowly over the life.
    wear = (i + 1) / n
    base = {"s2": 642.5, "s3": 1590.0, "s4": 1409.0, "s7": 553.4, "s8": 2388.1, "s9": 9060.0,
            "s11": 47.5, "s12": 521.7, "s13": 2388.1, "s14": 8140.0, "s15": 8.42, "s17": 393.0,
            "s20": 38.8, "s21": 23.3}
    drift = {"s2": 0.5, "s3": 10.0, "s4": 12.0, "s7": -1.0, "s11": 0.4, "s12": -1.0, "s15": 0.05}
    return {k: round(v + drift.get(k, 0.0) * wear, 4) for k, v in base.items()}


def rss(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) // 1024
    except OSError:
        pass
    return out


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def client(port, stop, tally, remote_share, seed):
    rng = random.Random(seed)
    conn = None
    n = 0
    while not stop.is_set():
        n += 1
        body = json.dumps({
            "engine_id": f"soak-{seed}-{n % 50}",
            "sensor_data": [reading(i, 40) for i in range(40)],
            "use_sagemaker": rng.random() < remote_share,
        })
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sent = False
        try:
            conn.connect() if conn.sock is None else None
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            sent = True
            answer = conn.getresponse()
            data = answer.read()
            tally.add(f"{answer.status // 100}xx")
            if b'"source":"local_fallback"' in data:
                tally.add("answered_by_fallback")
            if answer.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except ConnectionRefusedError:
            tally.add("refused")
            conn = None
            if stop.wait(0.05):
                break
        except (OSError, http.client.HTTPException):
            # Written but unanswered: a request the server accepted and dropped, or a keep-alive connection the
            # server closed just before the write. Retry once on a fresh connection to tell them apart.
            conn = None
            if not sent:
                tally.add("not_sent")
                continue
            try:
                retry = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                retry.request("POST", "/predict", body, {"Content-Type": "application/json"})
                retry.getresponse().read()
                retry.close()
                tally.add("closed_idle_then_answered")
            except ConnectionRefusedError:
                tally.add("lost")
            except (OSError, http.client.HTTPException):
                tally.add("lost")


def stalled(port, count, hold):
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /hea")
            socks.append(s)
        except OSError:
            break
    hold.wait()
    for s in socks:
        s.close()
    return len(socks)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rul", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--stalled", type=int, default=300)
    p.add_argument("--remote-share", type=float, default=0.1)
    p.add_argument("--reload-every", type=float, default=5)
    args = p.parse_args()

    http_port, grpc_port, dead = free_port(), free_port(), free_port()
    token = "soak-admin-token-0123456789abcdef"
    work = tempfile.mkdtemp(prefix="rul-soak.")
    env = dict(os.environ, HOST="127.0.0.1", HTTP_PORT=str(http_port), GRPC_PORT=str(grpc_port),
               MODEL_PATH=os.path.abspath(args.model), ADMIN_TOKEN=token, LOG_LEVEL="warn",
               DATABASE_URL=f"sqlite://{work}/fleet.db", SAGEMAKER_ENDPOINT="rul-soak",
               AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="AKIDSOAK", AWS_SECRET_ACCESS_KEY="soak",
               SAGEMAKER_ENDPOINT_URL=f"http://127.0.0.1:{dead}", SHUTDOWN_DELAY_SECS="2")
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([args.rul, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    started = time.time()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        if server.poll() is not None or time.time() - started > 60:
            sys.exit(f"rul serve did not become ready; see {work}/server.log")
        time.sleep(0.2)

    tally, stop, hold = Tally(), threading.Event(), threading.Event()
    workers = [threading.Thread(target=client, args=(http_port, stop, tally, args.remote_share, i))
               for i in range(args.clients)]
    for w in workers:
        w.start()
    stall = threading.Thread(target=stalled, args=(http_port, args.stalled, hold))
    stall.start()
    peak, reloads, reload_errors = 0, 0, 0
    end = time.time() + args.seconds
    next_reload = time.time() + args.reload_every
    while time.time() < end:
        time.sleep(0.5)
        peak = max(peak, rss(server.pid).get("VmRSS", 0))
        if time.time() >= next_reload:
            next_reload += args.reload_every
            try:
                c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
                c.request("POST", "/admin/reload", headers={"Authorization": f"Bearer {token}"})
                reloads += 1
                reload_errors += c.getresponse().status != 200
            except OSError:
                reload_errors += 1
    before_term = rss(server.pid)
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=120)
    stop.set()
    hold.set()
    for w in workers:
        w.join()
    stall.join()
    report = {
        "seconds": args.seconds, "clients": args.clients, "stalled_connections": args.stalled,
        "reloads": reloads, "reload_errors": reload_errors, "exit_code": code,
        "requests": dict(sorted(tally.counts.items())),
        "lost": tally.counts.get("lost", 0), "5xx": tally.counts.get("5xx", 0),
        "peak_rss_mb": max(peak, before_term.get("VmHWM", 0)), "rss_before_sigterm_mb": before_term.get("VmRSS"),
    }
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["lost"] == 0 and report["5xx"] == 0 and code == 0 else 1)


if __name__ == "__main__":
    main()
