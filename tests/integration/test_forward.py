"""`nuri forward`: the lecture's port forwarding (router:65535 -> 192.168.17.17:80) as a program.

Loopback tests drive the real binary between python clients and python targets; the lab test
builds the lecture's three hosts as network namespaces. Every forwarder is checked at the end
for descriptor leaks, a clean exit 0 on SIGTERM and no sanitizer report.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

from fake_dns import FakeDns
from forward_helpers import (closed_port, echo, fd_kinds, lab, read_outcome, recv_all, rst_close,
                             run_cmd, stream_both_ways)
from nuri_helpers import (SLACK, TIME_SCALE, NuriServer, assert_no_busy_loop, can_load_bpf,
                          have_ipv6_loopback, nofile_limiter, nuri_bin, run_nuri)


# ----------------------------------------------------------------------------------------------
# Command line


def test_help_explains_the_lecture_picture():
    p = run_nuri("forward", "--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    assert "0.0.0.0:65535 192.168.17.17:80" in out and "port 65535" in out
    for option in ("--allow", "--deny", "--max-conns", "--connect-timeout", "--idle-timeout", "--log"):
        assert option in out


@pytest.mark.parametrize("listen,target,expected", [
    ("1.2.3:80", "127.0.0.1:80", "LISTEN '1.2.3:80': expected ADDR:PORT"),
    ("127.0.0.1:0", "127.0.0.1", "expected HOST:PORT"),
    ("127.0.0.1:0", "300.1.2.3:80", "300.1.2.3 is not a valid IPv4 address"),
    ("127.0.0.1:0", "127.0.0.1:0", "port 0"),
    ("127.0.0.1:0", "no-such-host.invalid:80", "cannot resolve target host no-such-host.invalid"),
])
def test_bad_addresses_are_one_clear_line(listen, target, expected):
    p = run_nuri("forward", listen, target)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert expected in err, err
    assert err.startswith("nuri forward: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("target,shown", [("127.0.0.1:{port}", "127.0.0.1:{port}"),
                                          ("localhost:{port}", "localhost:{port} (127.0.0.1:{port})")])
def test_a_target_that_is_the_listener_itself_is_refused(target, shown):
    """Each connection would be forwarded to the forwarder again, until out of descriptors. A
    name is checked as it resolves at start (localhost: /etc/hosts)."""
    port = closed_port()
    p = run_nuri("forward", f"127.0.0.1:{port}", target.format(port=port), timeout=5)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert err == (f"nuri forward: target {shown.format(port=port)} is the listen address itself: "
                   "connections would loop back to this rule until out of file descriptors\n")


def test_bad_cidr_is_one_clear_line():
    p = run_nuri("forward", "127.0.0.1:0", "127.0.0.1:80", "--deny", "10.0.0.1/8")
    assert p.returncode == 2
    assert p.stderr.decode() == "nuri forward: --deny 10.0.0.1/8: host bits set beyond /8 (the network is 10.0.0.0/8)\n"


def test_port_in_use():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        p = run_nuri("forward", f"127.0.0.1:{port}", "127.0.0.1:80")
    finally:
        holder.close()
    assert p.returncode == 1
    assert p.stderr.decode() == (f"nuri forward: cannot listen on 127.0.0.1:{port}: the port is already "
                                 "in use by another program\n")


def test_permission_denied_below_1024(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    # Ports below 1024 need privileges: run as nobody, in a fresh network namespace so that
    # the sysctl net.ipv4.ip_unprivileged_port_start has its default (1024).
    ns = f"nfperm{os.getpid() % 100000}"
    run_cmd("ip", "netns", "add", ns)
    try:
        run_cmd("ip", "-n", ns, "link", "set", "lo", "up")
        binary = run_nuri.__globals__["nuri_bin"]()
        if not all(os.access(p, os.X_OK) for p in [binary]) or \
                (os.stat(binary).st_mode & 0o001) == 0:
            pytest.skip("the binary is not executable by other users")
        p = subprocess.run(["ip", "netns", "exec", ns, "setpriv", "--reuid=nobody", "--regid=nogroup",
                            "--clear-groups", str(binary), "forward", "127.0.0.1:80", "127.0.0.1:8080"],
                           capture_output=True, timeout=10 * TIME_SCALE)
    finally:
        run_cmd("ip", "netns", "del", ns, check=False)
    assert p.returncode == 1, p.stderr
    assert p.stderr.decode() == ("nuri forward: cannot listen on 127.0.0.1:80: permission denied (ports "
                                 "below 1024 need root or CAP_NET_BIND_SERVICE)\n")


# ----------------------------------------------------------------------------------------------
# Relaying


def test_echo_and_log_line(forward, targets):
    t = targets(echo)
    f = forward(t.address)
    c = f.connect()
    c.sendall(b"hello through the router\n")
    assert c.recv(100) == b"hello through the router\n"
    c.shutdown(socket.SHUT_WR)
    assert read_outcome(c, 5 * TIME_SCALE) == ("eof", b"")
    client_port = c.getsockname()[1]
    c.close()
    (entry,) = f.wait_log(end="fin")
    assert entry["client"] == f"127.0.0.1:{client_port}"
    assert entry["target"] == t.address and entry["listen"] == f"127.0.0.1:{f.port}"
    assert entry["up"] == "25" and entry["down"] == "25"
    assert int(entry["ms"]) >= 0 and entry["time"].endswith("Z")


# The "1 GiB each way with SHA-256 compared at both ends". Streamed in 1 MiB chunks that
# each carry their own number (a lost, repeated or reordered chunk changes the hash), hashed by
# hashlib and sent with sendall, both of which release the GIL: ~5 s on loopback here.
GIB = 1 << 30


def test_gib_each_way_sha256_compared_at_both_ends(forward, targets):
    def handler(conn):
        result = stream_both_ways(conn, GIB, seed=b"target")
        conn.close()
        return result

    t = targets(handler)
    f = forward(t.address)
    c = f.connect(timeout=60)
    client_sent, client_got = stream_both_ways(c, GIB, seed=b"client")
    c.close()
    (result,) = t.wait_results(1, timeout=60)
    assert not t.errors, t.errors
    target_sent, target_got = result
    assert client_sent[1] == GIB and target_sent[1] == GIB
    assert target_got == client_sent, "client -> target: what arrived is not what was sent"
    assert client_got == target_sent, "target -> client: what arrived is not what was sent"
    (entry,) = f.wait_log(end="fin")
    assert entry["up"] == str(GIB) and entry["down"] == str(GIB)


def test_small_and_bulk_messages_alternate_byte_exact(forward, targets):
    """Ping-pong of messages from 1 byte to 300 KiB through an echo target: each direction goes
    back and forth between the copy path (a message that fits the 16 KiB buffer) and splice
    (bulk), and every echo must come back whole and in order."""
    rng = random.Random(5)
    sizes = [1, 16383, 16384, 16385, 300 * 1024, 7, 65536, 2, 200_000, 1024] + \
        [rng.choice((rng.randint(1, 2048), rng.randint(16000, 70000), rng.randint(100_000, 300_000)))
         for _ in range(60)]
    t = targets(echo)
    f = forward(t.address)
    c = f.connect(timeout=20)
    total = 0
    for i, size in enumerate(sizes):
        message = rng.randbytes(size)
        c.sendall(message)
        got = bytearray()
        while len(got) < size:
            chunk = c.recv(size - len(got))
            assert chunk, f"message {i} ({size} bytes): the echo ended after {len(got)} bytes"
            got += chunk
        assert got == message, f"message {i} ({size} bytes) came back different"
        total += size
    c.shutdown(socket.SHUT_WR)
    assert c.recv(1) == b""
    c.close()
    (entry,) = f.wait_log(end="fin")
    assert entry["up"] == str(total) and entry["down"] == str(total)


def test_backpressure_slow_reader_bounds_buffering(forward, targets):
    """A client that does not read stops the forwarder reading the target: the target's sends
    block instead of the forwarder buffering without limit; then everything arrives intact."""
    sent = {"n": 0, "hash": hashlib.sha256()}
    block = os.urandom(1 << 16)

    def handler(conn):
        conn.setblocking(False)
        deadline = time.monotonic() + 1.5 * TIME_SCALE
        while time.monotonic() < deadline:
            try:
                n = conn.send(block)
                sent["hash"].update(block[:n])
                sent["n"] += n
            except BlockingIOError:
                time.sleep(0.01)
        conn.setblocking(True)
        conn.close()
        return sent["n"]

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    (total,) = t.wait_results(1, timeout=10)
    # Socket buffers and two pipes of 256 KiB bound what can be in flight: far from 1.5 s of
    # loopback bandwidth (gigabytes). The buffers are the kernel's to size: the target's send
    # buffer and the forwarder's to the client grow to tcp_wmem's maximum, the forwarder's
    # receive buffer to tcp_rmem's (32 MiB on some hosts), the client's is set above.
    def sysctl_max(name):
        return int(open(f"/proc/sys/net/ipv4/{name}").read().split()[2])
    bound = 2 * sysctl_max("tcp_wmem") + sysctl_max("tcp_rmem") + 2 * (256 << 10) + (4 << 20)
    assert total < bound, (total, bound)
    data = recv_all(c)
    c.close()
    assert len(data) == total
    assert hashlib.sha256(data).hexdigest() == sent["hash"].hexdigest()


def test_half_close_client_then_reply(forward, targets):
    """The client sends its request and shuts its write side; the target sees the FIN, and its
    reply, sent only after that, still reaches the client."""
    reply = os.urandom(3 * 1024 * 1024)

    def handler(conn):
        request = recv_all(conn)  # until the FIN passed on by the forwarder
        time.sleep(0.2)
        conn.sendall(reply)
        conn.close()
        return request

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    c.sendall(b"REQUEST" * 1000)
    c.shutdown(socket.SHUT_WR)
    assert recv_all(c) == reply
    c.close()
    assert t.wait_results(1) == [b"REQUEST" * 1000]
    (entry,) = f.wait_log(end="fin")
    assert entry["up"] == "7000" and entry["down"] == str(len(reply))


def test_half_close_target_first(forward, targets):
    """The target answers and shuts its write side first; the client still sends afterwards and
    the target receives it."""
    def handler(conn):
        conn.sendall(b"banner\n")
        conn.shutdown(socket.SHUT_WR)
        got = recv_all(conn)
        conn.close()
        return got

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    assert recv_all(c) == b"banner\n"  # the target's FIN arrived as ours
    c.sendall(b"late data after the server's FIN")
    c.shutdown(socket.SHUT_WR)
    assert t.wait_results(1) == [b"late data after the server's FIN"]
    c.close()
    f.wait_log(end="fin")


def test_client_reset_reaches_target(forward, targets):
    def handler(conn):
        conn.recv(100)
        return read_outcome(conn, 5 * TIME_SCALE)[0]

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    c.sendall(b"x")
    time.sleep(0.2)
    rst_close(c)
    assert t.wait_results(1) == ["rst"]
    f.wait_log(end="rst")


def test_target_reset_reaches_client(forward, targets):
    def handler(conn):
        conn.recv(100)
        conn.sendall(b"partial")
        time.sleep(0.1)
        rst_close(conn)
        return True

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    c.sendall(b"x")
    outcome, data = read_outcome(c, 5 * TIME_SCALE)
    c.close()
    assert (outcome, data) == ("rst", b"partial")
    f.wait_log(end="rst")


def test_reset_after_half_close_is_passed_on(forward, targets):
    """A RST that arrives when no read or write runs into it (the client already sent its FIN
    and nothing flows) is still passed on at once."""
    def handler(conn):
        assert recv_all(conn) == b"q"
        # Reading is over (EOF came); a reset shows as the socket's pending error.
        deadline = time.monotonic() + 3 * TIME_SCALE
        while time.monotonic() < deadline:
            # EPIPE: how Linux reports a reset on a socket that had received a FIN (CLOSE_WAIT).
            if conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in (errno.ECONNRESET, errno.EPIPE):
                return "rst"
            time.sleep(0.02)
        return "no reset"

    t = targets(handler)
    f = forward(t.address)
    c = f.connect()
    c.sendall(b"q")
    c.shutdown(socket.SHUT_WR)
    time.sleep(0.3)
    rst_close(c)
    assert t.wait_results(1) == ["rst"]
    f.wait_log(end="rst")


# ----------------------------------------------------------------------------------------------
# Failures and limits


def test_target_refusing_closes_client_quickly(forward):
    f = forward(f"127.0.0.1:{closed_port()}")
    start = time.monotonic()
    try:
        c = f.connect()
    except ConnectionResetError:  # the reset can come before connect() even returns
        outcome, data = "rst", b""
    else:
        outcome, data = read_outcome(c, 3 * TIME_SCALE)
        c.close()
    assert outcome in ("rst", "eof") and data == b""
    assert time.monotonic() - start < 1.0 * TIME_SCALE
    (entry,) = f.wait_log(end="refused")
    assert entry["up"] == "0" and entry["down"] == "0"


@contextlib.contextmanager
def blackholed_listener():
    """(listener, fillers): a listener whose accept queue the fillers keep full, so that the
    kernel drops the SYNs of any other connect: a target that never answers. Closing the
    fillers lets connections through again."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = []
    try:
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(hole.getsockname())
            fillers.append(s)
        time.sleep(0.2)
        yield hole, fillers
    finally:
        for s in fillers:
            s.close()
        hole.close()


def test_connect_timeout_to_blackholed_target(forward):
    with blackholed_listener() as (hole, _):
        f = forward("127.0.0.1:%d" % hole.getsockname()[1], "--connect-timeout", "1")
        c = f.connect()
        start = time.monotonic()
        outcome, _ = read_outcome(c, 1 + 3 * SLACK)
        elapsed = time.monotonic() - start
        c.close()
        assert outcome in ("rst", "eof"), outcome
        assert 0.8 <= elapsed <= 1 + SLACK, elapsed
        f.wait_log(end="connect-timeout")


def test_client_leaving_while_connecting_ends_the_session_at_once(forward):
    """A client that resets while the target has not answered is gone: the session ends at once
    as end=rst and gives its sockets back instead of holding them until --connect-timeout. A
    client that only half-closed still wants the answer, and gets it once the target accepts."""
    with blackholed_listener() as (hole, fillers):
        f = forward("127.0.0.1:%d" % hole.getsockname()[1], "--connect-timeout", "3")
        clients = [f.connect() for _ in range(10)]
        for c in clients:
            c.sendall(b"a request nobody will answer")
        time.sleep(0.2)
        start = time.monotonic()
        for c in clients:
            rst_close(c)
        entries = f.wait_log(count=10, timeout=1.5, end="rst")
        assert [(e["up"], e["down"]) for e in entries] == [("0", "0")] * 10
        while fd_kinds(f.pid)["socket"] > f.baseline["socket"] and time.monotonic() - start < 2:
            time.sleep(0.02)
        assert fd_kinds(f.pid)["socket"] == f.baseline["socket"]
        assert time.monotonic() - start < 2, "the sockets waited for the connect timeout"

        c = f.connect()
        c.sendall(b"question")
        c.shutdown(socket.SHUT_WR)
        time.sleep(0.2)  # the FIN arrives while the connect is still pending

        def answer():
            hole.settimeout(5 * TIME_SCALE)
            while True:  # the filler that was queued comes first: it only closes
                conn, _ = hole.accept()
                with conn:
                    conn.settimeout(5 * TIME_SCALE)
                    if recv_all(conn) == b"question":
                        conn.sendall(b"answer")
                        return

        for s in fillers:
            s.close()
        server = threading.Thread(target=answer, daemon=True)
        server.start()
        assert read_outcome(c, 5 * TIME_SCALE) == ("eof", b"answer")
        c.close()
        server.join(5 * TIME_SCALE)
        (entry,) = f.wait_log(end="fin")
        assert (entry["up"], entry["down"]) == ("8", "6")
        assert all(e["end"] != "connect-timeout" for e in f.log_entries())


def test_idle_timeout_closes_both_sides(forward, targets):
    def handler(conn):
        conn.sendall(conn.recv(100))
        start = time.monotonic()
        outcome = read_outcome(conn, 5 * TIME_SCALE)[0]
        return outcome, time.monotonic() - start

    t = targets(handler)
    f = forward(t.address, "--idle-timeout", "1")
    c = f.connect()
    c.sendall(b"ping")
    assert c.recv(10) == b"ping"
    start = time.monotonic()
    outcome, _ = read_outcome(c, 1 + 3 * SLACK)
    elapsed = time.monotonic() - start
    c.close()
    assert outcome == "eof" and 0.8 <= elapsed <= 1 + SLACK, (outcome, elapsed)
    ((target_outcome, target_elapsed),) = t.wait_results(1)
    assert target_outcome == "eof" and target_elapsed <= 1 + SLACK
    f.wait_log(end="timeout")


def test_traffic_keeps_a_connection_alive(forward, targets):
    t = targets(echo)
    f = forward(t.address, "--idle-timeout", "1")
    c = f.connect()
    for _ in range(8):  # 2 s in all, never 1 s quiet
        c.sendall(b"tick")
        assert c.recv(10) == b"tick"
        time.sleep(0.25)
    c.close()
    f.wait_log(end="fin")


def test_max_conns(forward, targets):
    t = targets(echo)
    f = forward(t.address, "--max-conns", "2", "--workers", "2")
    a, b = f.connect(), f.connect()
    for s in (a, b):
        s.sendall(b"in")
        assert s.recv(10) == b"in"
    over = f.connect()
    outcome, data = read_outcome(over, 3 * TIME_SCALE)
    over.close()
    assert outcome in ("eof", "rst") and data == b""
    f.wait_log(end="limit")
    assert t.accepted == 2  # the one over the limit never reached the target
    a.close()
    f.wait_log(end="fin")
    c = f.connect()
    c.sendall(b"again")
    assert c.recv(10) == b"again"
    for s in (b, c):
        s.close()
    f.wait_log(3, end="fin")
    assert t.accepted == 3


def test_deny_closes_before_connecting(forward, targets):
    t = targets(echo)
    f = forward(t.address, "--deny", "127.0.0.0/8")
    c = f.connect()
    outcome, data = read_outcome(c, 3 * TIME_SCALE)
    c.close()
    assert outcome in ("eof", "rst") and data == b""
    (entry,) = f.wait_log(end="denied")
    assert entry["up"] == "0" and entry["down"] == "0"
    time.sleep(0.2)
    assert t.accepted == 0


@pytest.mark.parametrize("rules,allowed", [
    (["--allow", "127.0.0.0/8"], True),
    (["--allow", "10.0.0.0/8"], False),                    # ends in allow: the rest is denied
    (["--deny", "10.0.0.0/8"], True),                      # ends in deny: the rest is allowed
    (["--deny", "127.0.0.1", "--allow", "127.0.0.0/8"], False),  # first match wins
    (["--allow", "127.0.0.1", "--deny", "127.0.0.0/8"], True),
])
def test_allow_deny_order(forward, targets, rules, allowed):
    t = targets(echo)
    f = forward(t.address, *rules)
    c = f.connect()
    c.sendall(b"hi")
    outcome, data = read_outcome(c, 0.5 * TIME_SCALE)
    c.close()
    if allowed:
        assert data == b"hi"
    else:
        assert outcome in ("eof", "rst") and data == b""
        f.wait_log(end="denied")


def test_many_concurrent_connections(forward, targets):
    import selectors
    n = 1000
    t = targets(echo, backlog=1024)
    f = forward(t.address)
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s = f.connect()
        s.setblocking(False)
        socks.append(s)
    for i, s in enumerate(socks):
        s.send(b"%06d" % i)
        sel.register(s, selectors.EVENT_READ, i)
    got = {}
    deadline = time.monotonic() + 30 * TIME_SCALE
    while len(got) < n and time.monotonic() < deadline:
        for key, _ in sel.select(1):
            data = key.fileobj.recv(16)
            got[key.data] = data
            sel.unregister(key.fileobj)
    assert len(got) == n and all(got[i] == b"%06d" % i for i in range(n))
    for s in socks:
        s.close()
    f.wait_log(n, timeout=20, end="fin")


def test_sigterm_lets_open_connections_finish(forward, targets):
    t = targets(echo)
    f = forward(t.address, "--grace-period", "5")
    c = f.connect()
    c.sendall(b"one")
    assert c.recv(10) == b"one"
    f.proc.send_signal(__import__("signal").SIGTERM)
    time.sleep(0.3)
    with pytest.raises(OSError):  # the listener is closed
        f.connect(timeout=1)
    c.sendall(b"two")  # the open connection still flows
    assert c.recv(10) == b"two"
    c.close()
    assert f.proc.wait(5 * TIME_SCALE) == 0
    f.returncode = 0
    assert "1 connection(s) forwarded" in f.stderr()
    assert f.wait_log(end="fin")


# ----------------------------------------------------------------------------------------------
# Several targets


def _one_echo(f):
    c = f.connect()
    c.sendall(b"hey")
    assert c.recv(10) == b"hey"
    c.shutdown(socket.SHUT_WR)
    assert read_outcome(c, 5 * TIME_SCALE)[0] == "eof"
    c.close()


def test_round_robin_over_targets(forward, targets):
    a, b = targets(echo), targets(echo)
    f = forward(a.address, b.address, "--workers", "1")
    assert f"forwarding to {a.address}, {b.address} (round-robin)" in f.stdout
    for _ in range(4):
        _one_echo(f)
    entries = f.wait_log(4, end="fin")
    assert [e["target"] for e in entries] == [a.address, b.address] * 2
    assert (a.accepted, b.accepted) == (2, 2)


def test_new_connections_go_to_the_workers_in_turn(forward, targets):
    """Connections are dealt to the 2 workers in turn (a BPF program on the SO_REUSEPORT group,
    net/reuseport_balance.h), and each worker takes its targets in turn from the first: so the
    targets come as a, a, b, b, a, a, ... (CI has CAP_BPF: root). Without it the kernel's hash
    picks the workers in no set order, and only the forwarding itself is left to check."""
    a, b = targets(echo), targets(echo)
    f = forward(a.address, b.address, "--workers", "2")
    order = []
    for _ in range(12):
        before = a.accepted
        _one_echo(f)  # the target accepted before it echoed
        order.append("a" if a.accepted > before else "b")
    assert a.accepted + b.accepted == 12
    if can_load_bpf():
        assert order == list("aabb" * 3), order
    f.wait_log(12, end="fin")


def test_failover_skips_a_dead_target(forward, targets):
    live = targets(echo)
    dead = f"127.0.0.1:{closed_port()}"
    f = forward(dead, live.address, "--workers", "1")
    for _ in range(3):
        _one_echo(f)  # the client never notices the dead one
    entries = f.wait_log(3, end="fin")
    assert all(e["target"] == live.address for e in entries)
    assert live.accepted == 3


def test_failover_after_connect_timeout(forward, targets):
    with blackholed_listener() as (hole, _):
        live = targets(echo)
        f = forward("127.0.0.1:%d" % hole.getsockname()[1], live.address, "--workers", "1",
                    "--connect-timeout", "0.5")
        start = time.monotonic()
        _one_echo(f)
        assert 0.4 <= time.monotonic() - start <= 0.5 + SLACK
        start = time.monotonic()
        _one_echo(f)  # the silent target rests: no second wait
        assert time.monotonic() - start < 0.4 * TIME_SCALE
        assert live.accepted == 2


def test_balance_first_uses_backups_only_when_needed(forward, targets):
    primary, backup = targets(echo), targets(echo)
    f = forward(primary.address, backup.address, "--balance", "first", "--workers", "1")
    assert "(the first that is up)" in f.stdout
    for _ in range(3):
        _one_echo(f)
    assert (primary.accepted, backup.accepted) == (3, 0)
    primary.close()
    for _ in range(2):
        _one_echo(f)
    assert backup.accepted == 2


def test_all_targets_down_is_refused(forward):
    f = forward(f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}")
    try:
        c = f.connect()
    except ConnectionResetError:
        pass
    else:
        assert read_outcome(c, 3 * TIME_SCALE)[0] in ("rst", "eof")
        c.close()
    f.wait_log(end="refused")


# ----------------------------------------------------------------------------------------------
# PROXY protocol


def _read_exactly(conn, n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        assert chunk, f"EOF after {out!r}"
        out += chunk
    return out


def test_proxy_protocol_v1_tells_the_client_address(forward, targets):
    def handler(conn):
        line = b""
        while not line.endswith(b"\r\n"):
            line += conn.recv(1)
        data = recv_all(conn)
        conn.close()
        return line, data

    t = targets(handler)
    f = forward(t.address, "--proxy-protocol", "v1")
    c = f.connect()
    c.sendall(b"payload")
    c.shutdown(socket.SHUT_WR)
    client_port = c.getsockname()[1]
    assert recv_all(c) == b""
    c.close()
    ((line, data),) = t.wait_results(1)
    assert line == f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {f.port}\r\n".encode()
    assert data == b"payload"
    (entry,) = f.wait_log(end="fin")
    assert entry["up"] == "7"  # the header is not the client's


def test_proxy_protocol_v2_binary_header(forward, targets):
    def handler(conn):
        head = _read_exactly(conn, 16)
        body = _read_exactly(conn, struct.unpack("!H", head[14:16])[0])
        data = recv_all(conn)
        conn.close()
        return head, body, data

    t = targets(handler)
    f = forward(t.address, "--proxy-protocol", "v2")
    c = f.connect()
    c.sendall(b"after the header")
    c.shutdown(socket.SHUT_WR)
    client_port = c.getsockname()[1]
    assert recv_all(c) == b""
    c.close()
    ((head, body, data),) = t.wait_results(1)
    assert head[:12] == b"\r\n\r\n\x00\r\nQUIT\n" and head[12] == 0x21 and head[13] == 0x11
    assert body == socket.inet_aton("127.0.0.1") * 2 + struct.pack("!HH", client_port, f.port)
    assert data == b"after the header"


# ----------------------------------------------------------------------------------------------
# Host names


@pytest.fixture
def fake_dns():
    made = []

    def make(records, ttl=1):
        d = FakeDns(records, ttl)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def test_host_name_target_is_resolved_and_followed_when_ttl_runs_out(forward, targets, fake_dns):
    if not have_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    # The same port on 127.0.0.1 and ::1, so that only the address changes.
    for _ in range(20):
        v4 = targets(echo)
        try:
            v6 = targets(echo, host="::1", port=v4.port)
            break
        except OSError:
            continue
    dns = fake_dns({"A": ["127.0.0.1"]}, ttl=1)
    f = forward(f"svc.test:{v4.port}", "--resolver", dns.address, "--workers", "1")
    assert f"forwarding to svc.test:{v4.port} = 127.0.0.1:{v4.port}" in f.stdout
    _one_echo(f)
    assert (v4.accepted, v6.accepted) == (1, 0)
    dns.records = {"AAAA": ["::1"]}  # the service moved
    deadline = time.monotonic() + (1 + 2 * SLACK)
    while v6.accepted == 0 and time.monotonic() < deadline:
        _one_echo(f)
        time.sleep(0.1)
    assert v6.accepted >= 1, "the forwarder did not follow the new address"
    assert f.wait_log(end="fin", target=f"[::1]:{v4.port}")
    assert f"targets now [::1]:{v4.port}" in f.stderr()


def test_failed_lookup_keeps_the_last_addresses(forward, targets, fake_dns):
    t = targets(echo)
    dns = fake_dns({"A": ["127.0.0.1"]}, ttl=1)
    f = forward(f"svc.test:{t.port}", "--resolver", dns.address, "--workers", "1")
    _one_echo(f)
    dns.close()  # DNS goes away: lookups fail, the known address stays in use
    time.sleep(1.5)
    _one_echo(f)
    assert t.accepted == 2


def test_unresolvable_through_the_resolver(fake_dns):
    dns = fake_dns({})
    p = run_nuri("forward", "127.0.0.1:0", "nowhere.test:80", "--resolver", dns.address)
    assert p.returncode == 2
    assert p.stderr.decode().startswith("nuri forward: cannot resolve target host nowhere.test: ")
    assert p.stderr.decode().count("\n") == 1


# ----------------------------------------------------------------------------------------------
# UDP


class UdpEcho:
    """A UDP echo server on 127.0.0.1 that records the peers it heard from."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.peers = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.peers.append(peer)
            self.sock.sendto(data, peer)

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def udp_echo():
    e = UdpEcho()
    yield e
    e.close()


def udp_client(f, timeout=2.0):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(timeout * TIME_SCALE)
    c.connect(f.addr)
    return c


def test_udp_banner_and_help():
    assert "--udp" in run_nuri("forward", "--help").stdout.decode()
    p = run_nuri("forward", "127.0.0.1:0", "127.0.0.1:53", "--udp", "--proxy-protocol", "v1")
    assert p.returncode == 2 and b"--proxy-protocol is for TCP" in p.stderr


def test_udp_many_clients_each_its_own_session(forward, udp_echo):
    f = forward(udp_echo.address, "--udp", "--idle-timeout", "1")
    assert "(UDP, this machine only)" in f.stdout
    clients = [udp_client(f) for _ in range(200)]
    for round_ in range(3):
        for i, c in enumerate(clients):
            c.send(b"%d:%d" % (i, round_))
        for i, c in enumerate(clients):
            assert c.recv(100) == b"%d:%d" % (i, round_)
    # One socket to the target per client: the target saw 200 peers, each three times.
    assert len(set(udp_echo.peers)) == 200 and len(udp_echo.peers) == 600
    entries = f.wait_log(200, timeout=5, end="timeout")
    assert all(e["listen"] == f"127.0.0.1:{f.port}/udp" and e["up"] == e["down"] for e in entries)
    assert {e["client"] for e in entries} == {"127.0.0.1:%d" % c.getsockname()[1] for c in clients}
    for c in clients:
        c.close()


def test_udp_idle_timeout_ends_the_session(forward, udp_echo):
    f = forward(udp_echo.address, "--udp", "--idle-timeout", "0.5")
    c = udp_client(f)
    c.send(b"first")
    assert c.recv(10) == b"first"
    (entry,) = f.wait_log(end="timeout")
    assert entry["up"] == "5" and entry["down"] == "5"
    assert 400 <= int(entry["ms"]) <= 500 + SLACK * 1000
    c.send(b"again")  # a new session, with a new socket towards the target
    assert c.recv(10) == b"again"
    assert len(set(udp_echo.peers)) == 2
    c.close()
    f.wait_log(2, end="timeout")


def test_udp_max_conns_bounds_the_table(forward, udp_echo):
    f = forward(udp_echo.address, "--udp", "--idle-timeout", "1", "--max-conns", "2", "--workers", "1")
    a, b, over = udp_client(f), udp_client(f), udp_client(f, timeout=0.5)
    for c in (a, b):
        c.send(b"in")
        assert c.recv(10) == b"in"
    over.send(b"out")
    with pytest.raises(socket.timeout):
        over.recv(10)
    assert len(set(udp_echo.peers)) == 2
    for c in (a, b, over):
        c.close()
    f.wait_log(2, end="timeout")
    f.stop()
    assert "0 denied, 1 over the connection limit" in f.stderr()


def test_udp_deny_drops_datagrams(forward, udp_echo):
    f = forward(udp_echo.address, "--udp", "--idle-timeout", "1", "--deny", "127.0.0.1")
    c = udp_client(f, timeout=0.5)
    c.send(b"knock")
    with pytest.raises(socket.timeout):
        c.recv(10)
    c.close()
    assert udp_echo.peers == []


def test_udp_target_not_listening_is_refused(forward):
    f = forward(f"127.0.0.1:{closed_port()}", "--udp", "--idle-timeout", "5")
    c = udp_client(f, timeout=0.5)
    c.send(b"anyone?")
    with pytest.raises(socket.timeout):
        c.recv(10)
    c.close()
    f.wait_log(end="refused")  # the ICMP port unreachable ends the session at once


# ----------------------------------------------------------------------------------------------
# The lecture's lab: client -> router:65535 -> server 192.168.17.17:80


def test_lab_router_refuses_to_forward_its_wildcard_port_to_itself(lab):
    """0.0.0.0:65535 takes what arrives on port 65535 of any of the router's addresses, so a
    target there would be the listener again; the web server's port 65535 is fine."""
    def forward_on_router(target):
        return subprocess.run(["ip", "netns", "exec", lab["router"], str(nuri_bin()), "forward", "0.0.0.0:65535",
                               target, "--log", ""], capture_output=True, timeout=5 * TIME_SCALE)

    for own in ("127.0.0.1", "127.0.0.2", lab["router_ip"], "192.168.17.1"):
        p = forward_on_router(f"{own}:65535")
        assert p.returncode == 2, p.stderr
        assert p.stderr.decode() == (f"nuri forward: target {own}:65535 is on this machine, where 0.0.0.0:65535 "
                                     "listens on every address: connections would loop back to this rule until "
                                     "out of file descriptors\n")
    p = run_cmd("ip", "netns", "exec", lab["router"], "timeout", "--preserve-status", "-s", "INT", "1", nuri_bin(),
                "forward", "0.0.0.0:65535", "192.168.17.17:65535", "--log", "", check=False)
    assert p.returncode == 0, p.stderr
    assert b"forwarding to 192.168.17.17:65535" in p.stdout


def test_lab_router_forwards_port_65535_to_the_web_server(lab, forward, tmp_path):
    root = tmp_path / "htdocs"
    root.mkdir()
    page = b"<!doctype html><title>lab</title>" + os.urandom(200_000).hex().encode() + b"\n"
    (root / "index.html").write_bytes(page)
    access_log = tmp_path / "access.log"
    server = NuriServer(["--access-log", str(access_log), "--workers", "1"], tmp_path, root=root,
                        listen=("192.168.17.17:80",))
    # $NURI_SERVE_BIN: another build to play the web server (default: the binary under test).
    if os.environ.get("NURI_SERVE_BIN"):
        server.cmd[0] = os.environ["NURI_SERVE_BIN"]
    server.cmd = ["ip", "netns", "exec", lab["server"], *server.cmd]
    server.start()
    try:
        # Without the router's rule the client cannot reach the server at all.
        direct = subprocess.run(["ip", "netns", "exec", lab["client"], "curl", "-sS", "--noproxy", "*",
                                 "--max-time", "3", "http://192.168.17.17:80/"],
                                capture_output=True, timeout=10 * TIME_SCALE)
        assert direct.returncode != 0 and b"index" not in direct.stdout
        f = forward("192.168.17.17:80", listen="0.0.0.0:65535", netns=lab["router"])
        out = tmp_path / "got.html"
        got = subprocess.run(["ip", "netns", "exec", lab["client"], "curl", "-sS", "--noproxy", "*",
                              "--max-time", str(10 * TIME_SCALE), "-o", str(out),
                              f"http://{lab['router_ip']}:65535/"],
                             capture_output=True, timeout=20 * TIME_SCALE)
        assert got.returncode == 0, got.stderr
        assert out.read_bytes() == page
        (entry,) = f.wait_log(end="fin")
        assert entry["client"].startswith(lab["client_ip"] + ":")
        assert entry["target"] == "192.168.17.17:80" and entry["listen"] == "0.0.0.0:65535"
        assert int(entry["down"]) > len(page)
        # The web server saw the router, not the client (no PROXY protocol yet).
        deadline = time.monotonic() + 3 * TIME_SCALE
        while time.monotonic() < deadline and not access_log.read_text().strip():
            time.sleep(0.05)
        assert access_log.read_text().startswith("192.168.17.1 ")
    finally:
        server.stop()


def test_lab_with_proxy_protocol_the_server_logs_the_client(lab, forward, tmp_path):
    """The same lab, with the router sending a PROXY v2 header and the web server's listener
    requiring one (and accepting it only from the router): the access log names the client."""
    root = tmp_path / "htdocs"
    root.mkdir()
    (root / "index.html").write_bytes(b"<!doctype html><title>lab</title>\n")
    access_log = tmp_path / "access.log"
    conf = tmp_path / "server.toml"
    conf.write_text(f"""
workers = 1
[access_log]
path = "{access_log}"
[[listen]]
address = "192.168.17.17:80"
proxy_protocol = true
allow = ["192.168.17.1"]
deny = ["all"]
[[host]]
root = "{root}"
""")
    server = NuriServer(["--config", str(conf)], tmp_path, listen=())
    server.n_listeners = 1
    server.root = root.resolve()  # its file cache may keep index.html open
    if os.environ.get("NURI_SERVE_BIN"):
        server.cmd[0] = os.environ["NURI_SERVE_BIN"]
    server.cmd = ["ip", "netns", "exec", lab["server"], *server.cmd]
    server.start()
    try:
        forward("192.168.17.17:80", "--proxy-protocol", "v2", listen="0.0.0.0:65535", netns=lab["router"])
        got = subprocess.run(["ip", "netns", "exec", lab["client"], "curl", "-sS", "--noproxy", "*",
                              "--max-time", str(10 * TIME_SCALE), f"http://{lab['router_ip']}:65535/"],
                             capture_output=True, timeout=20 * TIME_SCALE)
        assert got.returncode == 0 and b"<title>lab</title>" in got.stdout, got.stderr
        deadline = time.monotonic() + 3 * TIME_SCALE
        while time.monotonic() < deadline and not access_log.read_text().strip():
            time.sleep(0.05)
        assert access_log.read_text().startswith(lab["client_ip"] + " "), access_log.read_text()
    finally:
        server.stop()


# ----------------------------------------------------------------------------------------------
# Out of file descriptors

NOFILE = 64


def _echoes(conn, word: bytes) -> bool:
    """True when `word` comes back through the forwarder; False when the connection is closed
    or reset without an answer. A silence (the connection left in the backlog) fails the test."""
    if conn is None:
        return False
    try:
        conn.sendall(word)
    except (BrokenPipeError, ConnectionResetError):
        return False
    conn.settimeout(2 * TIME_SCALE)
    data = b""
    try:
        while len(data) < len(word):
            chunk = conn.recv(len(word) - len(data))
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    except socket.timeout:
        pytest.fail(f"no answer and not closed within 2 s ({data!r})")
    assert data in (word, b""), data
    return data == word


def _connect(f):
    """A new client, or None when the forwarder reset it before connect() returned (a refused
    client is reset: the kernel may deliver that before the handshake is seen as complete)."""
    try:
        return f.connect(timeout=3)
    except ConnectionResetError:
        return None


def _close(conn):
    if conn is not None:
        conn.close()


def _assert_new_clients_closed_at_once(f, count: int):
    for i in range(count):
        start = time.monotonic()
        c = _connect(f)
        assert not _echoes(c, b"over %d" % i), "forwarded a connection while out of fds"
        _close(c)
        assert time.monotonic() - start < 1.0 * TIME_SCALE


# Each forwarded connection takes six descriptors (the client, the target and two pipes), so 64
# are full after about nine. A new client then gets a descriptor but no pipes, or none at all
# (test_out_of_fds_at_accept_keeps_the_reserve): either way it must be closed at once, never left
# in the backlog, the open ones must go on, and one log line sums up a flood of refusals.
@pytest.mark.parametrize("workers", [1, 2])
def test_out_of_fds_closes_new_clients_keeps_open_ones_and_recovers(forward, targets, workers):
    t = targets(echo, backlog=256)
    f = forward(t.address, "--workers", str(workers), preexec_fn=nofile_limiter(NOFILE))
    limits = open(f"/proc/{f.pid}/limits").read()
    assert f"Max open files            {NOFILE}" in limits, limits
    # Until two in a row are refused: with two workers the first can come while the other
    # worker's last accept4 of a turn holds a number for a moment (test_fd_exhaustion.py).
    held, in_a_row = [], 0
    for i in range(NOFILE):
        c = _connect(f)
        if not _echoes(c, b"in %d" % i):
            _close(c)
            in_a_row += 1
            if in_a_row == 2:
                break
            continue
        held.append(c)
        in_a_row = 0
    assert in_a_row == 2, f"{len(held)} forwarded connections with a limit of {NOFILE} fds"
    assert len(held) >= 4, f"refused after only {len(held)} connections"

    # Full: every new client is closed at once, again and again (the reserve comes back).
    _assert_new_clients_closed_at_once(f, 20)

    # The open connections are still relayed.
    for i, c in enumerate(held):
        assert _echoes(c, b"still %d" % i)

    # Full for 2 s with a refused client now and then: no busy loop.
    def refused_client():
        c = _connect(f)
        assert not _echoes(c, b"waiting")
        _close(c)
    used = assert_no_busy_loop(f.pid, refused_client, "nuri forward")

    # Some close: new connections are relayed again.
    for c in held[:3]:
        c.close()
    deadline = time.monotonic() + 3 * TIME_SCALE
    while True:
        c = _connect(f)
        ok = _echoes(c, b"again")
        _close(c)
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ok, "no connection relayed after some closed"
    for c in held[3:]:
        c.close()
    err = f.stderr()
    assert "out of file descriptors" in err, err
    # A flood of refusals is summed up, not logged one line each (25 refusals here in ~3 s).
    lines = [line for line in err.splitlines() if "file descriptors" in line or "Too many open files" in line]
    assert len(lines) <= 8, "\n".join(lines)
    print(f"workers {workers}: {len(held)} connections open when full, {used:.3f}s CPU in 2 s full, "
          f"{len(lines)} log lines")


# The limit lowered on the running forwarder to its lowest free descriptor number: accept4 itself
# fails with EMFILE, and only the reserve descriptor lets a worker take the client off the queue
# and close it. Each refusal must leave every worker its reserve (the descriptor counts do not
# change), so that the next client is refused too, and raising the limit must end it.
@pytest.mark.parametrize("workers", [1, 2])
def test_out_of_fds_at_accept_keeps_the_reserve(forward, targets, workers):
    import resource
    t = targets(echo)
    f = forward(t.address, "--workers", str(workers))
    held = [f.connect() for _ in range(3)]
    for i, c in enumerate(held):
        assert _echoes(c, b"in %d" % i)
    # One connection ends first, so that a log line is written while descriptors are free:
    # UBSan checks a dynamic type the first time it sees it with the help of a pipe, and with no
    # descriptor left that check fails and reports a bad vptr that is not there (the ASan+UBSan
    # run of this test). Every later line of that type is checked from its cache.
    held.pop().close()
    f.wait_log(end="fin")
    before = fd_kinds(f.pid)
    numbers = {int(n) for n in os.listdir(f"/proc/{f.pid}/fd")}
    lowest_free = min(set(range(len(numbers) + 1)) - numbers)
    limits = resource.prlimit(f.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(f.pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    try:
        _assert_new_clients_closed_at_once(f, 20)
        assert fd_kinds(f.pid) == before, "a worker lost its reserve descriptor"
        for i, c in enumerate(held):
            assert _echoes(c, b"still %d" % i)
        entries = f.wait_log(20, end="error")
        assert all(e["target"] == t.address for e in entries), entries
    finally:
        resource.prlimit(f.pid, resource.RLIMIT_NOFILE, limits)
    c = f.connect()
    assert _echoes(c, b"again")
    for s in held + [c]:
        s.close()
    f.wait_log(4, end="fin")
    err = f.stderr()
    assert "out of file descriptors: closed 1 new connection(s)" in err, err
    assert err.count("out of file descriptors") <= 3 * workers, err
