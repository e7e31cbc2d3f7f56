"""Running out of file descriptors: nuri under RLIMIT_NOFILE 64 (set in the child before exec).

When accept4 fails with EMFILE the worker gives up its reserve descriptor, accepts the waiting
connection, answers it 503 and takes the reserve back (src/server/worker.cpp): a new client is
refused, never left hanging in the backlog, connections already open keep being served, nothing
spins, and the server takes new connections again once some close. Every client here sends its
request at once: a silent one is held by the kernel (TCP_DEFER_ACCEPT, test_defer_accept.py)
before it reaches accept4 at all.
"""
from __future__ import annotations

import re
import time

import pytest

from nuri_helpers import TIME_SCALE, assert_no_busy_loop, nofile_limiter, req

NOFILE = 64


def _fetch(c, path="/a.txt"):
    c.send(req(path))
    return c.read_response(timeout=2)


def _logged_refusals(err: str) -> int:
    return sum(int(m[1]) for m in re.finditer(r"out of file descriptors: refused (\d+) connection", err))


@pytest.mark.parametrize("workers", [1, 2])
def test_out_of_fds_refuses_with_503_serves_open_connections_and_recovers(nuri, www, workers):
    s = nuri("--workers", str(workers), root=www.root, preexec_fn=nofile_limiter(NOFILE))
    limits = open(f"/proc/{s.pid}/limits").read()
    assert f"Max open files            {NOFILE}" in limits, limits
    # Fill the table: keep-alive connections, each served once, until two in a row are refused.
    # With two workers the first refusal can come one descriptor early: the other worker's last
    # accept4 of a turn takes the last free number for a moment before it finds its queue empty.
    # The next connection then gets that number (a 200), and only after it is the table full.
    held, refusals, in_a_row = [], 0, 0
    for _ in range(NOFILE + 10):
        c = s.connect(timeout=3)
        r = _fetch(c)
        if r.status != 200:
            assert r.status == 503 and r.header("Retry-After"), str(r)
            refusals += 1
            in_a_row += 1
            if in_a_row == 2:
                break
            continue
        assert r.body == b"hello"
        held.append(c)
        in_a_row = 0
    assert in_a_row == 2, f"{len(held)} connections with a limit of {NOFILE} fds, {refusals} refused"
    assert refusals <= 2 + (workers > 1), f"{refusals} refusals before the table was full"
    assert len(held) >= NOFILE - 20, f"refused after only {len(held)} connections"

    # Full: every new connection gets its 503 at once (none waits in the backlog).
    for _ in range(10):
        refusals += 1
        start = time.monotonic()
        c = s.connect(timeout=3)
        r = _fetch(c)
        assert r.status == 503, str(r)
        assert "close" in r.tokens("Connection")
        c.assert_closed(2)
        c.close()
        assert time.monotonic() - start < 1.0 * TIME_SCALE

    # The open connections are still served (their file is in the open-file cache).
    for c in held[:5] + held[-5:]:
        r = _fetch(c)
        assert r.status == 200 and r.body == b"hello", str(r)

    # Full for 2 s, with a refused client waiting now and then: no busy loop.
    def refused_client():
        nonlocal refusals
        c = s.connect(timeout=3)
        assert _fetch(c).status == 503
        refusals += 1
        c.close()
    used = assert_no_busy_loop(s.pid, refused_client)
    refused_client()  # right after a line: held back by the throttle, and nothing follows it

    # Some close: new connections are served again.
    for c in held[:8]:
        c.close()
    deadline = time.monotonic() + 3 * TIME_SCALE
    while True:
        c = s.connect(timeout=3)
        r = _fetch(c)
        c.close()
        if r.status == 200 or time.monotonic() > deadline:
            break
        refusals += r.status == 503
        time.sleep(0.1)
    assert r.status == 200 and r.body == b"hello", str(r)
    print(f"workers {workers}: {len(held)} connections open when full, {used:.3f}s CPU in 2 s full")
    s.assert_alive()
    # Every refusal is in the log, at most a line a second per worker: those held back by the
    # throttle within a second or so, though no later refusal comes to carry them.
    deadline = time.monotonic() + 3 * TIME_SCALE
    while _logged_refusals(s.stderr()) < refusals and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _logged_refusals(s.stderr()) == refusals, s.stderr()
