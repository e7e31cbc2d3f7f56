"""TCP_DEFER_ACCEPT on nuri's listeners ([[listen]] defer_accept, on by default).

Linux completes the handshake of a connection on such a listener but keeps it (as SYN-RECV, on
the server's side) until its first bytes arrive, or until about a second of silence has passed;
only then does accept4 return it. The request is then read at accept, and a connection answered
and closed in that pass never enters the epoll set. These tests check what a client and `ss` see,
with the switch on and off, and across a reload that flips it.
"""
from __future__ import annotations

import socket
import subprocess
import time

from config_helpers import hup, serve, tree
from nuri_helpers import TIME_SCALE, req, run_nuri, socket_fds, wait_for_sockets

SETTLE = 0.3  # long enough for nuri to accept what it may accept, well short of the kernel's second


def _server_side_states(port: int) -> list:
    """The TCP states of the server's side of live connections to `port`, as `ss` reports them.

    TIME-WAIT is left out: it is what remains of a connection already closed (serve()'s readiness
    probe, or an earlier test's server that had the same port), not one these tests opened."""
    out = subprocess.run(["ss", "-Htan", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    states = (line.split()[0] for line in out.splitlines() if line.strip())
    return sorted(state for state in states if state not in ("LISTEN", "TIME-WAIT"))


def _config(root, defer=None, header_timeout=10):
    text = f"workers = 1\n[limits]\nheader_timeout = {header_timeout}\n"
    text += '[[listen]]\naddress = "127.0.0.1:0"\n'
    if defer is not None:
        text += f"defer_accept = {'true' if defer else 'false'}\n"
    return text + f'[[host]]\nroot = "{root}"\n'


def _start(nuri, tmp_path, text):
    conf = tmp_path / "n.toml"
    return serve(nuri, conf, text, root=tmp_path), conf


def test_a_silent_connection_waits_in_the_kernel_and_a_speaking_one_is_served_at_once(nuri, tmp_path):
    root = tree(tmp_path / "site", {"index.html": "hello"})
    s, _ = _start(nuri, tmp_path, _config(root, header_timeout=1))
    base = socket_fds(s.pid)
    silent = s.connect()  # connect() returned: the client's side is established
    time.sleep(SETTLE)
    assert socket_fds(s.pid) == base, "nuri accepted a connection that has sent nothing"
    assert _server_side_states(s.port) == ["SYN-RECV"]

    # A client that sends its request is answered without waiting for the silent one.
    start = time.monotonic()
    talker = s.connect()
    talker.send(req("/index.html"))
    r = talker.read_response(timeout=2)
    assert r.status == 200 and r.body == b"hello"
    assert time.monotonic() - start < 0.5 * TIME_SCALE
    talker.close()

    # After about a second the kernel hands the silent one over anyway; from then on the header
    # timeout (1 s here) runs as for any connection. With not a byte received it is closed
    # without a 408, as nginx does.
    start = time.monotonic()
    silent.assert_closed(6 * TIME_SCALE)
    waited = time.monotonic() - start + SETTLE
    assert 1.5 <= waited < 5.0 * TIME_SCALE, f"closed after {waited:.2f} s"


def test_defer_accept_false_accepts_a_silent_connection_at_once(nuri, tmp_path):
    root = tree(tmp_path / "site", {"index.html": "hello"})
    s, _ = _start(nuri, tmp_path, _config(root, defer=False))
    base = socket_fds(s.pid)
    silent = s.connect()
    wait_for_sockets(s.pid, base + 1)
    assert _server_side_states(s.port) == ["ESTAB"]
    silent.send(req("/index.html"))
    assert silent.read_response().status == 200


def test_a_reload_switches_defer_accept_off_and_on(nuri, tmp_path):
    root = tree(tmp_path / "site", {"index.html": "hello"})
    s, conf = _start(nuri, tmp_path, _config(root))
    conf.write_text(_config(root, defer=False))  # the same listener: its socket is kept
    hup(s)
    base = socket_fds(s.pid)
    off = s.connect()
    wait_for_sockets(s.pid, base + 1)  # after the reload a silent connection is accepted at once

    conf.write_text(_config(root, defer=True))
    hup(s)
    on = s.connect()
    time.sleep(SETTLE)
    assert socket_fds(s.pid) == base + 1, "defer_accept = true again, yet a silent connection was accepted"
    for c in (off, on):
        c.send(req("/index.html"))
        assert c.read_response().status == 200


def test_check_config_names_a_listener_without_defer_accept(tmp_path):
    root = tree(tmp_path / "site", {"index.html": "x"})
    conf = tmp_path / "n.toml"
    conf.write_text(_config(root, defer=False))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 0, p.stderr
    assert b"silent connections accepted at once" in p.stdout
    conf.write_text(_config(root))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 0 and b"silent connections accepted at once" not in p.stdout
    conf.write_text(_config(root, defer=True).replace("defer_accept = true", "defer_accept = 1"))
    p = run_nuri("check-config", str(conf))
    assert p.returncode != 0 and b"defer_accept" in p.stderr


def _tcp_state(sock) -> int:
    """The socket's TCP state, the first byte of struct tcp_info (7 CLOSE, 8 CLOSE_WAIT)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_refused_connection_gets_its_503_and_an_orderly_close_not_a_reset(nuri, tmp_path):
    # Accept is deferred, so a refused client's request is always waiting unread: closing over
    # it would reset the connection, and a reset may overtake the 503 on a real network.
    root = tree(tmp_path / "site", {"index.html": "hello"})
    s, _ = _start(nuri, tmp_path, _config(root).replace("[limits]\n", "[limits]\nmax_connections = 1\n"))
    holder = s.connect()
    head = req("/index.html")
    base = socket_fds(s.pid)
    holder.send(head[:5])  # takes the one slot
    wait_for_sockets(s.pid, base + 1)
    for _ in range(3):
        refused = socket.create_connection(s.addr())
        refused.sendall(req("/index.html"))
        data = b""
        while chunk := refused.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 503 ")
        time.sleep(0.2)  # a reset would have arrived by now
        assert refused.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert _tcp_state(refused) == 8, "the server reset the connection instead of closing it"
        refused.close()
    holder.send(head[5:])
    assert holder.read_response().status == 200
