"""Limits (414, 431, 413, 503 over --max-connections) and timeouts (header 408, idle close,
body). Timeouts are short (0.5-1 s) to keep the suite fast."""
import os
import time

from nuri_helpers import SLACK, TIME_SCALE, req

H = b"Host: x\r\n"


def _rejected(c, status, method="GET"):
    r = c.read_response(method)
    assert r.status == status, str(r)
    assert "close" in r.tokens("Connection"), str(r)
    assert str(status).encode() in r.body
    c.assert_closed()
    return r


# -- sizes -------------------------------------------------------------------------------------

def test_uri_over_8k_is_414(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /" + b"a" * 8300 + b" HTTP/1.1\r\n" + H + b"\r\n")
    _rejected(c, 414)


def test_huge_uri_is_414_without_waiting_for_the_end_of_line(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /" + b"a" * 12000)  # the line never ends: the server must not wait for it
    _rejected(c, 414)


def test_header_over_16k_is_431(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 17000 + b"\r\n\r\n")
    _rejected(c, 431)


def test_many_headers_over_16k_total_is_431(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\n" + H
           + b"".join(b"X-H%03d: %s\r\n" % (i, b"v" * 90) for i in range(200)) + b"\r\n")
    _rejected(c, 431)


def test_headers_just_under_16k_are_fine(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 15000 + b"\r\n\r\n")
    assert r.status == 200 and r.body == b"hello"


def test_max_header_size_option(nuri, www):
    s = nuri("--max-header-size", "1024", root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Mid: " + b"v" * 700 + b"\r\n\r\n")
    assert r.status == 200
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 2000 + b"\r\n\r\n")
    _rejected(c, 431)


def test_body_over_default_limit_is_413_before_the_body_is_sent(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"POST /a.txt HTTP/1.1\r\n" + H + b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
    _rejected(c, 413, "POST")


def test_body_at_limit_is_accepted_over_limit_is_413(nuri, www):
    s = nuri("--max-body-size", "100", root=www.root)
    rs = s.exchange(req("/a.txt", "POST", body=b"x" * 100) + req("/a.txt"), ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == b"hello"
    c = s.connect()
    c.send(req("/a.txt", "POST", body=b"x" * 101))
    _rejected(c, 413, "POST")


def test_chunked_body_over_limit_is_413(nuri, www):
    s = nuri("--max-body-size", "100", root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "POST", {"Transfer-Encoding": "chunked"})
           + b"40\r\n" + b"y" * 64 + b"\r\n40\r\n" + b"z" * 64 + b"\r\n0\r\n\r\n")
    _rejected(c, 413, "POST")


def test_expect_100_continue_with_too_large_body_gets_413(nuri, www):
    s = nuri("--max-body-size", "100", root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "POST", {"Content-Length": "5000", "Expect": "100-continue"}))
    r = c.read_response("POST", interim=True)
    assert r.status == 413, "expected 413 instead of inviting the body: " + str(r)


# -- connections -------------------------------------------------------------------------------

def test_max_connections_503_then_recovers(nuri, www):
    s = nuri("--max-connections", "2", "--workers", "1", root=www.root)
    held = [s.connect() for _ in range(2)]
    for c in held:
        c.send(req("/a.txt"))
        assert c.read_response().body == b"hello"
    third = s.connect()  # answered on accept, before any request is sent
    r = third.read_response(timeout=3)
    assert r.status == 503, str(r)
    assert r.header("Retry-After") and r.header("Retry-After").strip().isdigit(), str(r)
    third.assert_closed()
    # The held connections still work.
    held[0].send(req("/b.txt"))
    assert held[0].read_response().body == www.files["/b.txt"]
    # Release one: a new connection is served again.
    held[1].close()
    deadline = time.monotonic() + 3 * TIME_SCALE
    while True:
        c = s.connect()
        c.send(req("/a.txt"))
        r = c.read_response()
        c.close()
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status == 200 and r.body == b"hello", str(r)


# -- timeouts ----------------------------------------------------------------------------------

def test_header_timeout_gives_408_and_close(nuri, www):
    s = nuri("--header-timeout", "1", root=www.root)
    c = s.connect()
    start = time.monotonic()
    c.send(b"GET /a.txt HTTP/1.1\r\nHo")
    r = c.read_response(timeout=5)
    elapsed = time.monotonic() - start
    assert r.status == 408, str(r)
    assert "close" in r.tokens("Connection")
    c.assert_closed(1)
    assert 0.8 <= elapsed <= 1 + SLACK, elapsed


def test_fractional_header_timeout(nuri, www):
    s = nuri("--header-timeout", "0.5", root=www.root)
    c = s.connect()
    start = time.monotonic()
    c.send(b"GET /a.txt HTTP/1.1\r\n")
    r = c.read_response(timeout=5)
    elapsed = time.monotonic() - start
    assert r.status == 408
    assert 0.35 <= elapsed <= 0.5 + SLACK, elapsed


def test_header_timeout_is_not_reset_by_trickled_bytes(nuri, www):
    """Slowloris: one byte every 0.2 s must not keep a header alive past --header-timeout."""
    s = nuri("--header-timeout", "1", root=www.root)
    c = s.connect()
    start = time.monotonic()
    payload = b"GET /a.txt HTTP/1.1\r\nX-Slow: " + b"s" * 200
    closed_at = None
    for b in payload:
        if not c.send(bytes([b])):
            closed_at = time.monotonic()
            break
        time.sleep(0.2)
        if time.monotonic() - start > 5 * TIME_SCALE:
            break
    data, closed = c.read_until_close(3)
    elapsed = (closed_at or time.monotonic()) - start
    assert closed, "trickling client kept the connection open"
    assert data.startswith(b"HTTP/1.1 408") or data == b"", data[:200]
    assert elapsed < 1 + SLACK, elapsed


def test_idle_keepalive_closed_silently(nuri, www):
    s = nuri("--idle-timeout", "0.5", root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"
    start = time.monotonic()
    data, closed = c.read_until_close(5)
    elapsed = time.monotonic() - start
    assert closed and data == b"", data[:200]
    assert 0.3 <= elapsed <= 0.5 + SLACK, elapsed


def test_idle_timer_restarts_with_each_request(nuri, www):
    s = nuri("--idle-timeout", "1.5", root=www.root)
    c = s.connect()
    for _ in range(5):  # 2.5 s in all: alive only if each request restarts the idle timer
        c.send(req("/a.txt"))
        assert c.read_response().body == b"hello"
        time.sleep(0.5)
    c.send(req("/b.txt"))
    assert c.read_response().body == www.files["/b.txt"]


def test_header_timeout_does_not_cut_idle_keepalive(nuri, www):
    s = nuri("--header-timeout", "0.5", "--idle-timeout", "10", root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"
    time.sleep(1.2)
    c.send(req("/b.txt"))
    assert c.read_response().body == www.files["/b.txt"]


def test_silent_new_connection_is_closed(nuri, www):
    s = nuri("--header-timeout", "0.5", "--idle-timeout", "0.5", root=www.root)
    c = s.connect()
    data, closed = c.read_until_close(4)
    assert closed, "a connection that never sent a byte was kept open"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]


def test_body_timeout_closes_stalled_upload(nuri, www):
    s = nuri("--body-timeout", "0.5", "--header-timeout", "10", root=www.root)
    c = s.connect()
    c.send(b"POST /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\n" + b"x" * 10)
    start = time.monotonic()
    data, closed = c.read_until_close(5)
    elapsed = time.monotonic() - start
    assert closed, "stalled body kept the connection open"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
    assert 0.3 <= elapsed <= 0.5 + SLACK, elapsed


def test_slow_but_steady_body_is_not_cut(nuri, www):
    s = nuri("--body-timeout", "1", root=www.root)
    c = s.connect()
    c.send(b"POST /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 8\r\n\r\n")
    for b in b"abcdefgh":  # 2 s in all, never 1 s without a byte
        time.sleep(0.25)
        c.send(bytes([b]))
    c.send(req("/a.txt"))
    assert c.read_response("POST").status == 405
    assert c.read_response().body == b"hello"


def test_hundreds_of_concurrent_connections(nuri, www):
    s = nuri(root=www.root)
    conns = [s.connect() for _ in range(400)]
    for c in conns:
        c.send(req("/a.txt"))
    for c in conns:
        assert c.read_response(timeout=10).body == b"hello"
    for c in conns[::2]:
        c.close()
    for c in conns[1::2]:
        c.send(req("/b.txt"))
        assert c.read_response(timeout=10).body == www.files["/b.txt"]


def test_header_timeout_on_second_request_of_keepalive(nuri, www):
    s = nuri("--header-timeout", "0.5", "--idle-timeout", "10", root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"
    start = time.monotonic()
    c.send(b"GET /b.txt HTTP/1.1\r\nHost")
    r = c.read_response(timeout=5)
    assert r.status == 408, str(r)
    assert time.monotonic() - start < 3 * TIME_SCALE
    c.assert_closed()


def test_chunked_body_exactly_at_limit_is_accepted(nuri, www):
    s = nuri("--max-body-size", "100", root=www.root)
    body = b"32\r\n" + b"y" * 50 + b"\r\n32\r\n" + b"z" * 50 + b"\r\n0\r\n\r\n"
    rs = s.exchange(req("/a.txt", "POST", {"Transfer-Encoding": "chunked"}) + body + req("/a.txt"),
                    ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == b"hello"


def test_slow_reader_is_not_cut_by_idle_or_header_timeout(nuri, www):
    """A client reading a response slowly is neither idle nor sending a header."""
    data = os.urandom(4 * 1024 * 1024)
    (www.root / "four.bin").write_bytes(data)
    s = nuri("--idle-timeout", "0.5", "--header-timeout", "0.5", root=www.root)
    c = s.connect(rcvbuf=16384)
    c.send(req("/four.bin"))
    head = c.read_head()
    assert head.status == 200
    got = bytearray(c.buf)
    c.buf.clear()
    c.sock.settimeout(5 * TIME_SCALE)
    start = time.monotonic()
    next_pause = 0
    while len(got) < len(data):
        piece = c.sock.recv(min(256 * 1024, len(data) - len(got)))
        assert piece, f"connection closed after {len(got)} bytes, {time.monotonic() - start:.1f}s"
        got += piece
        if len(got) >= next_pause:  # ~0.15 s pause every 512 KiB: 1.2 s in all
            time.sleep(0.15)
            next_pause += 512 * 1024
    assert bytes(got) == data
    assert time.monotonic() - start > 1.0  # the test really was slower than both timeouts
