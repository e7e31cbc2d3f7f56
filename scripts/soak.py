#!/usr/bin/env python3
"""`make soak`: 10,000 idle keep-alive connections held open on `nuri serve` while wrk loads it
for ten minutes (SOAK_MINUTES). Samples the server's RSS, fds and CPU every 30 s and fails when:
a connection below the configured limit was refused, an idle connection was closed or stops
answering, wrk saw socket errors or non-2xx answers, or the RSS at the end exceeds the RSS at the
start of the load by more than 2 % + 1 MiB (memory must be flat, not merely bounded).

    python3 scripts/soak.py [--nuri build/release/nuri] [--minutes 10] [--idle 10000]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUEST = b"GET /1k.bin HTTP/1.1\r\nHost: soak\r\n\r\n"
BODY = 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exchange_all(socks: list[socket.socket], timeout: float) -> int:
    """Sends one request on every socket and reads one whole response; returns how many did."""
    sel = selectors.DefaultSelector()
    want = {}
    for s in socks:
        s.setblocking(False)
        try:
            s.send(REQUEST)
        except OSError:
            continue
        want[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    done = 0
    deadline = time.monotonic() + timeout
    while want and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            buf = want[s]
            buf += chunk
            head_end = buf.find(b"\r\n\r\n")
            if not chunk or (head_end >= 0 and len(buf) >= head_end + 4 + BODY):
                if chunk and buf.startswith(b"HTTP/1.1 200 "):
                    done += 1
                sel.unregister(s)
                del want[s]
    sel.close()
    return done


def open_idle(port: int, n: int) -> tuple[list[socket.socket], int]:
    socks, refused = [], 0
    for _ in range(n):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            refused += 1
            s.close()
            continue
        socks.append(s)
    return socks, refused


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nuri", default=os.environ.get("NURI_BIN", str(REPO / "build/release/nuri")))
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--wrk-connections", type=int, default=16)
    args = ap.parse_args()

    # The idle connections and the server each need one fd per connection (the server inherits
    # this limit). A container may cap the hard limit (20,000 here), so take what there is.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + 2000
    if hard != resource.RLIM_INFINITY and hard < want:
        print(f"soak: the fd limit ({hard}) is too low for {args.idle} connections", file=sys.stderr)
        return 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else hard, hard))
    max_connections = args.idle + 1000  # the configured limit the idle connections stay below
    tmp = Path(tempfile.mkdtemp(prefix="nuri-soak-"))
    (tmp / "www").mkdir()
    (tmp / "www/1k.bin").write_bytes(os.urandom(BODY))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen(
        [args.nuri, "serve", "--root", str(tmp / "www"), "--listen", f"127.0.0.1:{port}",
         "--workers", "2", "--max-connections", str(max_connections), "--idle-timeout", "36000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures = []
    try:
        for line in server.stdout:
            if "worker(s)" in line:
                break
        pid = server.pid
        rss_empty = rss_kib(pid)
        t0 = time.monotonic()
        idle, refused = open_idle(port, args.idle)
        answered = exchange_all(idle, timeout=120)
        rss_idle = rss_kib(pid)
        print(f"soak: {len(idle)} idle keep-alive connections open in {time.monotonic() - t0:.1f} s "
              f"({refused} refused, {answered} answered their first request)")
        print(f"soak: RSS {rss_empty} KiB empty, {rss_idle} KiB with them: "
              f"{(rss_idle - rss_empty) * 1024 / max(1, len(idle)):.0f} bytes per idle connection")
        if refused:
            failures.append(f"{refused} connections refused below the limit of {max_connections}")
        if answered != args.idle:
            failures.append(f"only {answered} of {args.idle} idle connections answered their first request")

        seconds = int(args.minutes * 60)
        wrk = subprocess.Popen(
            ["wrk", "-t1", f"-c{args.wrk_connections}", f"-d{seconds}s", "--latency",
             f"http://127.0.0.1:{port}/1k.bin"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        samples = []
        cpu0 = cpu_seconds(pid)
        start = time.monotonic()
        time.sleep(min(30, seconds / 4))
        rss_start = rss_kib(pid)
        while wrk.poll() is None:
            samples.append((time.monotonic() - start, rss_kib(pid), fd_count(pid)))
            print(f"soak: {samples[-1][0]:6.0f} s  RSS {samples[-1][1]} KiB  fds {samples[-1][2]}", flush=True)
            for _ in range(30):
                if wrk.poll() is not None:
                    break
                time.sleep(1)
        out = wrk.stdout.read()
        rss_end = rss_kib(pid)
        cpu = cpu_seconds(pid) - cpu0
        rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
        requests = re.search(r"(\d+) requests in", out)
        print(f"soak: wrk {rate.group(1) if rate else '?'} req/s, {requests.group(1) if requests else '?'} "
              f"requests, server CPU {cpu:.0f} s")
        print(f"soak: RSS under load {rss_start} KiB at the start, {rss_end} KiB at the end, "
              f"max {max([rss_end] + [s[1] for s in samples])} KiB")
        if "Socket errors" in out or "Non-2xx" in out:
            failures.append("wrk: " + "; ".join(l.strip() for l in out.splitlines()
                                                if "Socket errors" in l or "Non-2xx" in l))
        if rss_end > rss_start * 1.02 + 1024:
            failures.append(f"RSS grew from {rss_start} to {rss_end} KiB under a steady load")
        still = exchange_all(idle, timeout=120)
        print(f"soak: {still} of {len(idle)} idle connections still answer after the load")
        if still != len(idle):
            failures.append(f"{len(idle) - still} idle connections were lost")
        for s in idle:
            s.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for f in failures:
        print(f"soak: FAIL: {f}")
    print("soak: " + ("ok" if not failures else f"{len(failures)} failure(s)"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
