"""Slow clients against `nuri serve`, driven by slowhttptest: slowloris (slow head, -H), slow body
or R-U-Dead-Yet (-B) and slow read (-X), 1,000 connections each.

The server runs with 5 s timeouts. During each attack a normal client fetches a page every
100 ms on a new connection and every fetch must complete within 1 s (times TIME_SCALE). Then the
attacking connections must be gone, cut by nuri at the configured timeout: counted with `ss` on
the server's port while slowhttptest still holds its side open, polled until they drop, bounded.

The attacks pace their follow-up bytes slower than the timeouts (-i 10, -n 10). A slow body that
sends a byte more often than body_timeout is not cut by it (the timeout runs between reads, as
nginx's client_body_timeout does): docs/security.md says so, and which limits cover that case.

Slow read over loopback: lo's MTU is 64 KiB, so a TCP send buffer starts at about 2.6 MB (ten
64 KiB segments, doubled). 1,000 slow readers of a response larger than that pin over 1.5 GB of
kernel memory, past the host's tcp_mem pressure threshold, and then the kernel drops SYNs of every
TCP socket on the machine: normal fetches took 2.5 s (nuri) and 5.1 s (nginx 1.22, same attack),
and other tests running on the host would suffer too. So the 1,000-connection slow read fetches a
64 KiB page (nuri writes it into the socket buffer at once, and the idle timeout cuts the reader),
and a second attack of 100 connections on an 8 MiB file exercises send_timeout itself.
"""
from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import threading
import time

import pytest

from nuri_helpers import SLACK, TIME_SCALE, req

# `slow`: timing under 1,000 attacking connections, run on the Release build only (make test's
# sanitizer runs deselect it; the memory side of many connections is covered there by other tests).
pytestmark = [pytest.mark.skipif(shutil.which("slowhttptest") is None,
                                 reason="slowhttptest is not installed (scripts/install-deps.sh)"),
              pytest.mark.slow]

TIMEOUT = 5          # header, body, send and idle timeouts of the server under attack (seconds)
CONNECTIONS = 1000   # per attack
RATE = 1000          # connections per second slowhttptest opens
HELD = 900           # at least this many attacking connections must be open at once
PROBE_LIMIT = 1.0 * TIME_SCALE


@pytest.fixture(autouse=True)
def _enough_fds():
    """1,000 attacking connections take 1,000 fds in slowhttptest and in nuri (which inherits
    this process's limit): raise the soft limit (and the hard one: the suite runs as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
        except (ValueError, OSError):
            if hard < 4 * CONNECTIONS:
                pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low and cannot be raised")
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _server(nuri, www):
    (www.root / "page.bin").write_bytes(b"p" * (64 << 10))
    (www.root / "big.bin").write_bytes(b"x" * (8 << 20))  # more than a loopback socket buffer
    return nuri("--workers", "2", "--max-connections", "5000",
                "--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT),
                "--send-timeout", str(TIMEOUT), "--idle-timeout", str(TIMEOUT), root=www.root)


def _established(port: int) -> int:
    """Established TCP connections whose local port is the server's: nuri's side of each."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"sport = :{port}"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


class Probe(threading.Thread):
    """A normal client: GET /a.txt on a new connection every 100 ms; records each latency."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.latencies = []
        self.failures = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                c = self.server.connect(timeout=3)
                c.send(req("/a.txt", headers={"Connection": "close"}))
                r = c.read_response(timeout=3)
                c.close()
                self.server.clients.remove(c)
                if r.status != 200 or r.body != b"hello":
                    self.failures.append(f"status {r.status} {r.body[:60]!r}")
            except (AssertionError, OSError) as e:
                self.failures.append(f"{type(e).__name__}: {str(e)[:200]}")
            self.latencies.append(time.monotonic() - start)
            self.stop.wait(0.1)


def _attack(nuri, www, mode_args, duration, path="/", connections=CONNECTIONS):
    """Runs one slowhttptest attack with a probe beside it. Returns (probe, timeline, output):
    timeline is [(seconds since the attack began, established connections on the port)]."""
    s = _server(nuri, www)
    url = s.url(path)
    held_enough = connections * HELD // CONNECTIONS
    cmd = ["slowhttptest", *mode_args, "-c", str(connections), "-r", str(RATE),
           "-l", str(duration), "-p", "3", "-v", "1", "-u", url]
    probe = Probe(s)
    timeline = []
    attacker = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    probe.start()
    try:
        # Until the attack is over and its connections are gone, bounded by its length.
        while time.monotonic() - t0 < duration + 5 * TIME_SCALE:
            n = _established(s.port)
            timeline.append((time.monotonic() - t0, n))
            held = max(m for _, m in timeline)
            if held >= held_enough and n <= 2 and time.monotonic() - t0 > 2:
                break
            time.sleep(0.2)
        # The probe keeps going a little after the drop: the server must be fine then too.
        time.sleep(0.5)
    finally:
        probe.stop.set()
        probe.join(10)
        # In -X mode slowhttptest does not notice that its connections were closed and would
        # wait for the end of -l: the drop was seen, stop it.
        if attacker.poll() is None:
            attacker.terminate()
        try:
            out, _ = attacker.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            attacker.kill()
            out, _ = attacker.communicate()
    s.assert_alive()
    return probe, timeline, out.decode("utf-8", "replace")


def _check(probe, timeline, output, cut_after, connections=CONNECTIONS):
    """The probe was always served fast; the attack held about 1,000 connections; every one was
    cut `cut_after` seconds after it opened, give or take the ramp and SLACK."""
    detail = (f"timeline {[(round(t, 1), n) for t, n in timeline]}\n"
              f"slowhttptest said: {output[-1500:]}")
    assert probe.latencies, "the probe never ran"
    assert not probe.failures, f"normal client failed during the attack: {probe.failures[:5]}"
    worst = max(probe.latencies)
    assert worst < PROBE_LIMIT, (
        f"a normal fetch took {worst:.3f}s during the attack (limit {PROBE_LIMIT:.1f}s); "
        f"median {statistics.median(probe.latencies):.4f}s\n{detail}")
    held_enough = connections * HELD // CONNECTIONS
    peak = max(n for _, n in timeline)
    assert peak >= held_enough, f"the attack held only {peak} connections\n{detail}"
    first = next(t for t, n in timeline if n > 0)        # the first attacking connection is open
    full = next(t for t, n in timeline if n >= held_enough)  # about all of them are open
    # Not cut early: a connection lives at least its timeout (0.5 s of polling and accept
    # jitter aside), so some are still open until `first + cut_after`.
    early = [(t, n) for t, n in timeline if t < first + cut_after - 0.5 and n < 10]
    assert not any(t > full for t, _ in early), f"connections cut before {cut_after}s\n{detail}"
    # Cut in time: the last ones opened around `full` (the ramp's end plus the polling step).
    gone = next((t for t, n in timeline if t > full and n <= 2), None)
    assert gone is not None, f"attacking connections were never cut\n{detail}"
    assert gone <= full + cut_after + SLACK + 0.5, \
        f"attacking connections cut at {gone:.1f}s, later than {cut_after}s + slack\n{detail}"
    print(f"probe: {len(probe.latencies)} fetches, median {statistics.median(probe.latencies):.4f}s, "
          f"max {worst:.4f}s; attack: first {first:.1f}s, {peak} held at {full:.1f}s, "
          f"all cut at {gone:.1f}s")
    return gone


def test_slowloris_heads_are_cut_at_header_timeout(nuri, www):
    # -H: an unfinished head, a header line every 10 s. header_timeout runs from the first
    # byte of a head (trickling does not extend it): each connection gets 408 and a close.
    probe, timeline, out = _attack(nuri, www, ["-H", "-i", "10"], duration=15)
    _check(probe, timeline, out, TIMEOUT)


def test_slow_body_is_cut_at_body_timeout(nuri, www):
    # -B: a complete POST head announcing 8 KiB, then a few body bytes every 10 s: 408 after
    # body_timeout without a read.
    probe, timeline, out = _attack(nuri, www, ["-B", "-i", "10", "-s", "8192"], duration=15)
    _check(probe, timeline, out, TIMEOUT)


def test_slow_read_is_cut_at_idle_timeout(nuri, www):
    # -X: GET of a 64 KiB page with a receive window of 512-1024 bytes, 32 bytes read every
    # 10 s. The page fits the socket buffer: nuri is done with it at once, and the connection
    # waits for its next request, so idle_timeout cuts it (the kernel drops the unread rest).
    probe, timeline, out = _attack(nuri, www, ["-X", "-w", "512", "-y", "1024", "-n", "10",
                                               "-z", "32", "-k", "1"], duration=15,
                                   path="/page.bin")
    _check(probe, timeline, out, TIMEOUT)


def test_slow_read_of_a_large_file_is_cut_at_send_timeout(nuri, www):
    # 100 readers of an 8 MiB file: nuri's writes stop making progress once the socket buffer is
    # full, and send_timeout cuts them (see the module docstring for why not 1,000).
    probe, timeline, out = _attack(nuri, www, ["-X", "-w", "512", "-y", "1024", "-n", "10",
                                               "-z", "32", "-k", "1"], duration=15,
                                   path="/big.bin", connections=100)
    _check(probe, timeline, out, TIMEOUT, connections=100)
