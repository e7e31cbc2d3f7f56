"""Per-client-address limits (issue 3): [limits] max_connections_per_client and
requests_per_second / burst (a token bucket). Past either: 429 Too Many Requests with Retry-After.

The server listens on 127.0.0.1 only; clients connect from 127.0.0.2 and 127.0.0.3 (the whole
127.0.0.0/8 is loopback on Linux) to show that each address has its own count and bucket. Four
workers, so that one address's connections land on different workers (SO_REUSEPORT hashes the
source port): the limits hold across them.
"""
from __future__ import annotations

import socket
import time

from nuri_helpers import TIME_SCALE, Conn, req

A = "127.0.0.2"
B = "127.0.0.3"


def limited(nuri, tmp_path, www, limits: str, workers: int = 4):
    conf = tmp_path / "limits.toml"
    conf.write_text("[limits]\n" + limits + "\n")
    return nuri("--config", str(conf), "--workers", str(workers), root=www.root)


def connect_from(s, source: str, timeout: float = 5.0) -> Conn:
    """A connection to the server from loopback address `source`, closed at teardown."""
    s.assert_alive()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout * TIME_SCALE)
    sock.bind((source, 0))
    sock.connect(s.addr(0))
    c = Conn(sock, s.server_tokens)
    s.clients.append(c)
    return c


def get_on(c: Conn, path: str = "/a.txt"):
    c.send(req(path))
    return c.read_response()


def served(s, source: str) -> Conn:
    """A new connection from `source` that was admitted: its request got 200."""
    c = connect_from(s, source)
    r = get_on(c)
    assert r.status == 200 and r.body == b"hello", str(r)
    return c


def retry_after(r) -> int:
    value = r.header("Retry-After")
    assert value is not None and value.strip().isdigit(), f"429 without a delay in seconds:\n{r}"
    return int(value)


def assert_refused_on_accept(c: Conn):
    """Answered 429 as soon as accepted, before sending anything, then closed."""
    r = c.read_response(timeout=3)
    assert r.status == 429, str(r)
    assert r.reason == "Too Many Requests", str(r)
    assert retry_after(r) >= 1
    assert "close" in r.tokens("Connection"), str(r)
    c.assert_closed()


def eventually_served(s, source: str, timeout: float = 3.0) -> Conn:
    """The server notices a client's close asynchronously: retry until a connection is admitted."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        c = connect_from(s, source)
        c.send(req("/a.txt"))
        r = c.read_response()
        if r.status == 200 or time.monotonic() > deadline:
            break
        c.close()
        time.sleep(0.05)
    assert r.status == 200 and r.body == b"hello", str(r)
    return c


# -- connections per client --------------------------------------------------------------------

def test_third_connection_from_one_address_gets_429(nuri, tmp_path, www):
    s = limited(nuri, tmp_path, www, "max_connections_per_client = 2")
    held = [served(s, A), served(s, A)]
    assert_refused_on_accept(connect_from(s, A))
    # Other addresses have their own count.
    others = [served(s, B), served(s, B)]
    assert_refused_on_accept(connect_from(s, B))
    local = s.connect()
    assert get_on(local).status == 200
    # The held connections still work: a refusal took nothing from them.
    assert get_on(held[0], "/b.txt").body == www.files["/b.txt"]
    # Closing one frees exactly one slot.
    held[0].close()
    held.append(eventually_served(s, A))
    assert_refused_on_accept(connect_from(s, A))
    for c in held + others:
        c.close()


def test_refused_connections_do_not_use_up_slots(nuri, tmp_path, www):
    s = limited(nuri, tmp_path, www, "max_connections_per_client = 1")
    first = served(s, A)
    for _ in range(20):
        assert_refused_on_accept(connect_from(s, A))
    first.close()
    eventually_served(s, A)


def test_connections_closed_by_the_server_free_their_slots(nuri, tmp_path, www):
    """Every way a connection ends gives its slot back: an error (400, lingering close), an
    idle timeout, and Connection: close."""
    s = limited(nuri, tmp_path, www, "max_connections_per_client = 1\nidle_timeout = 0.5")
    bad = connect_from(s, A)
    bad.send(b"GARBAGE\r\n\r\n")
    assert bad.read_response().status == 400
    bad.close()
    idle = eventually_served(s, A)
    data, closed = idle.read_until_close(3)  # the idle timeout closes it
    assert closed and data == b""
    idle.close()
    last = eventually_served(s, A)
    last.send(req("/a.txt", headers={"Connection": "close"}))
    assert last.read_response().status == 200
    last.assert_closed()
    last.close()
    eventually_served(s, A)


# -- request rate per client -------------------------------------------------------------------

def test_burst_then_429_then_requests_pass_again(nuri, tmp_path, www):
    s = limited(nuri, tmp_path, www, "requests_per_second = 2\nburst = 3")
    # Pipelined: all four are parsed at once, so no token refills between them.
    c = connect_from(s, A)
    c.send(req("/a.txt") * 4)
    rs = [c.read_response() for _ in range(4)]
    assert [r.status for r in rs[:3]] == [200, 200, 200], [str(r) for r in rs]
    assert rs[3].status == 429 and rs[3].reason == "Too Many Requests", str(rs[3])
    wait = retry_after(rs[3])
    assert 1 <= wait <= 2, wait  # 2 per second: half a second to the next token, rounded up
    c.close()
    # Another address has its own bucket.
    other = connect_from(s, B)
    other.send(req("/a.txt") * 3)
    assert [other.read_response().status for _ in range(3)] == [200, 200, 200]
    # After Retry-After, the client is served again: at 2/s, two requests after one second.
    time.sleep(wait + 0.05)
    again = connect_from(s, A)
    again.send(req("/a.txt") * 2)
    assert [again.read_response().status for _ in range(2)] == [200, 200]


def test_bucket_is_shared_by_an_address_across_connections_and_workers(nuri, tmp_path, www):
    s = limited(nuri, tmp_path, www, "requests_per_second = 2\nburst = 3")
    conns = [connect_from(s, A) for _ in range(4)]
    for c in conns:  # sent before any answer is read: the four fall within a few milliseconds
        c.send(req("/a.txt"))
    statuses = sorted(c.read_response().status for c in conns)
    assert statuses == [200, 200, 200, 429], statuses


def test_rate_limited_response_is_a_complete_response(nuri, tmp_path, www):
    """429 is framed (Content-Length) and dated like any response, HEAD included."""
    s = limited(nuri, tmp_path, www, "requests_per_second = 1\nburst = 1")
    c = connect_from(s, A)
    c.send(req("/a.txt") + req("/a.txt", "HEAD"))
    assert c.read_response().status == 200
    r = c.read_response("HEAD")
    assert r.status == 429 and r.body == b"", str(r)
    assert retry_after(r) >= 1


# -- off by default ----------------------------------------------------------------------------

def test_without_limits_one_address_may_open_many_connections(nuri, tmp_path, www):
    s = limited(nuri, tmp_path, www, "max_connections = 1000")
    conns = [connect_from(s, A) for _ in range(50)]
    for c in conns:
        c.send(req("/a.txt"))
    for c in conns:
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello", str(r)
    # Nor is there a rate limit: 100 requests at once all pass.
    conns[0].send(req("/a.txt") * 100)
    assert all(conns[0].read_response().status == 200 for _ in range(100))
