"""Process lifecycle: SIGTERM/SIGINT, draining in-flight responses, the grace period, listeners
(several, IPv6), the banner, and fds after many connections."""
import hashlib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from nuri_helpers import LISTEN_RE, SLACK, TIME_SCALE, curl, have_ipv6_loopback, nuri_bin, req, run_nuri


def _connect_refused(host, port, timeout=3.0):
    """True once a connection to (host, port) is refused (polling up to `timeout`)."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def test_sigterm_on_idle_server_exits_0_quickly(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/a.txt").status == 200
    s.check_leaks()
    start = time.monotonic()
    s.send_signal(signal.SIGTERM)
    rc = s.wait_exit(5)
    assert rc == 0, s.stderr()
    assert time.monotonic() - start < 2 * TIME_SCALE


def test_sigint_exits_0(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/a.txt").status == 200
    s.check_leaks()
    s.send_signal(signal.SIGINT)
    assert s.wait_exit(5) == 0, s.stderr()


def test_sigterm_closes_idle_keepalive_connections_without_waiting(nuri, www):
    s = nuri("--grace-period", "10", "--idle-timeout", "60", root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"
    start = time.monotonic()
    s.send_signal(signal.SIGTERM)
    data, closed = c.read_until_close(5)
    assert closed and data == b"", data[:200]
    assert s.wait_exit(5) == 0
    assert time.monotonic() - start < 3 * TIME_SCALE, "an idle connection held up the drain"


def test_sigterm_drains_inflight_download(nuri, big):
    s = nuri("--grace-period", "10", root=big.path.parent)
    host, port = s.addr()
    c = s.connect(rcvbuf=16384)
    c.send(req(big.url_path))
    head = c.read_head()
    assert head.status == 200 and head.header("Content-Length") == str(big.size)
    h = hashlib.sha256()
    got = 0

    def take(limit):
        nonlocal got
        if c.buf:
            piece = bytes(c.buf[:limit - got])
            del c.buf[:len(piece)]
        else:
            c.sock.settimeout(10 * TIME_SCALE)
            piece = c.sock.recv(min(1 << 20, limit - got))
            assert piece, f"connection closed after {got} of {big.size} bytes"
        h.update(piece)
        got += len(piece)

    while got < 256 * 1024:
        take(256 * 1024)
    s.send_signal(signal.SIGTERM)
    assert _connect_refused(host, port), "new connections still accepted after SIGTERM"
    assert s.alive(), "server exited with a response still in flight"
    while got < big.size:
        take(big.size)
    assert h.hexdigest() == big.digest, "drained response is not byte-exact"
    assert c.read_until_close(5) == (b"", True)
    rc = s.wait_exit(s.grace + 2)
    assert rc == 0, s.stderr()


def test_sigterm_refuses_new_connections_on_every_listener(nuri, www, big):
    s = nuri("--grace-period", "5", root=www.root, listen=("127.0.0.1:0", "127.0.0.1:0"))
    c = s.connect(rcvbuf=16384)
    c.send(req(big.url_path))
    assert c.read_head().status == 200
    s.send_signal(signal.SIGTERM)
    for host, port in s.addrs:
        assert _connect_refused(host, port), f"{host}:{port} still accepting"
    c.close()
    assert s.wait_exit(7) == 0


def test_grace_period_bounds_the_drain(nuri, big):
    s = nuri("--grace-period", "1", root=big.path.parent)
    c = s.connect(rcvbuf=4096)
    c.send(req(big.url_path))
    assert c.read_head().status == 200
    start = time.monotonic()
    s.send_signal(signal.SIGTERM)
    rc = s.wait_exit(6)
    elapsed = time.monotonic() - start
    assert rc is not None, "server kept draining a stalled client past --grace-period"
    assert rc == 0, s.stderr()
    assert 0.7 <= elapsed <= 1 + SLACK, elapsed


def test_request_completed_during_drain_on_open_connection(nuri, www, big):
    """A keep-alive connection busy with a response finishes it; the server then closes it."""
    s = nuri("--grace-period", "5", root=www.root)
    c = s.connect(rcvbuf=16384)
    c.send(req(big.url_path) + req("/a.txt"))
    assert c.read_head().status == 200
    s.send_signal(signal.SIGTERM)
    h = hashlib.sha256(bytes(c.buf))
    got = len(c.buf)
    c.buf.clear()
    c.sock.settimeout(10 * TIME_SCALE)
    while got < big.size:
        piece = c.sock.recv(min(1 << 20, big.size - got))
        assert piece, f"closed after {got} bytes"
        h.update(piece)
        got += len(piece)
    assert h.hexdigest() == big.digest
    # The pipelined second request may be answered (with Connection: close) or not at all.
    rest, closed = c.read_until_close(5)
    assert closed
    if rest:
        assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"hello"), rest[:300]
    assert s.wait_exit(7) == 0


# -- listeners and banner ----------------------------------------------------------------------

def test_banner_one_line_per_listener(nuri, www):
    s = nuri(root=www.root, listen=("127.0.0.1:0", "127.0.0.1:0"))
    lines = [l for l in s.stdout_lines if LISTEN_RE.search(l)]
    assert len(lines) == 2, s.stdout_lines
    assert s.addrs[0][1] != s.addrs[1][1]
    for i in range(2):
        r = curl(s.url("/a.txt", i))
        assert r.status == 200 and r.body == b"hello"


def test_banner_says_loopback_is_this_machine_only(nuri, www):
    s = nuri(root=www.root)
    line = next(l for l in s.stdout_lines if LISTEN_RE.search(l))
    assert f"http://127.0.0.1:{s.port}/" in line
    assert "this machine only" in line, line


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_listener(nuri, www):
    s = nuri(root=www.root, listen=("[::1]:0",))
    assert s.addrs[0][0] == "::1"
    assert any(f"http://[::1]:{s.port}/" in l for l in s.stdout_lines), s.stdout_lines
    r = curl(s.url("/a.txt"))
    assert r.rc == 0, r.stderr
    assert r.status == 200 and r.body == b"hello"
    raw = s.get("/b.txt", host=f"[::1]:{s.port}")
    assert raw.body == www.files["/b.txt"]


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv4_and_ipv6_listeners_together(nuri, www):
    s = nuri(root=www.root, listen=("127.0.0.1:0", "[::1]:0"))
    assert s.addrs[0][0] == "127.0.0.1" and s.addrs[1][0] == "::1"
    assert s.get("/a.txt").body == b"hello"
    c = s.connect(1)
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"


@pytest.mark.parametrize("workers", ["1", "3"])
def test_workers_option(nuri, www, workers):
    s = nuri("--workers", workers, root=www.root)
    conns = [s.connect() for _ in range(8)]
    for c in conns:
        c.send(req("/a.txt"))
    for c in conns:
        assert c.read_response().body == b"hello"


def test_no_fd_leak_after_many_connection_kinds(nuri, www):
    s = nuri(root=www.root)
    for i in range(40):
        c = s.connect()
        kind = i % 5
        if kind == 0:
            c.send(req("/a.txt"))
            c.read_response()
        elif kind == 1:
            c.send(b"GET /a.txt HTTP/1.1\r\nHo")  # abandoned mid-header
        elif kind == 2:
            c.send(b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
            c.read_response()
        elif kind == 3:
            c.send(req("/letters.txt", headers={"Range": "bytes=0-1,5-6"}))
            c.read_response()
        c.close()
    s.check_leaks()
    assert s.get("/a.txt").body == b"hello"


def test_sigterm_drains_several_downloads_at_once(nuri, big):
    s = nuri("--grace-period", "20", root=big.path.parent)
    conns = []
    for _ in range(3):
        c = s.connect(rcvbuf=16384)
        c.send(req(big.url_path))
        assert c.read_head().status == 200
        conns.append(c)
    s.send_signal(signal.SIGTERM)
    assert _connect_refused(*s.addr())
    digests = [hashlib.sha256(bytes(c.buf)) for c in conns]
    got = [len(c.buf) for c in conns]
    for c in conns:
        c.buf.clear()
        c.sock.settimeout(10 * TIME_SCALE)
    while any(g < big.size for g in got):  # read the three in turns
        for i, c in enumerate(conns):
            if got[i] < big.size:
                piece = c.sock.recv(min(1 << 20, big.size - got[i]))
                assert piece, f"download {i} cut at {got[i]}"
                digests[i].update(piece)
                got[i] += len(piece)
    assert [d.hexdigest() for d in digests] == [big.digest] * 3
    assert s.wait_exit(10) == 0, s.stderr()


def _built_with_sanitizers() -> bool:
    out = run_nuri("--version").stdout.decode()
    return "sanitizers: none" not in out


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_kernel_without_openat2_refuses_to_serve_files(www):
    """Valgrind 3.19 (Debian 12) answers openat2 with ENOSYS, as a kernel older than 5.6 would:
    nuri must refuse to start rather than serve files it cannot keep inside the root."""
    if _built_with_sanitizers():
        pytest.skip("valgrind cannot run a sanitizer build")
    r = subprocess.run(["valgrind", "-q", str(nuri_bin()), "serve", "--root", str(www.root),
                        "--listen", "127.0.0.1:0"], capture_output=True, timeout=60 * TIME_SCALE,
                       stdin=subprocess.DEVNULL)
    lines = [l for l in r.stderr.decode().splitlines() if l.startswith("nuri")]
    assert r.returncode == 1, r.stderr
    assert lines == ["nuri serve: this kernel has no openat2 (Linux 5.6 or later), which keeps every "
                     "file lookup inside its document root; nothing was started"], r.stderr
