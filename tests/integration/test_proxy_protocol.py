"""`nuri serve` behind a proxy: listeners with `proxy_protocol = true` (issue 5).

The proxy in front (nuri forward --proxy-protocol, HAProxy, a cloud load balancer) sends a PROXY
header naming the real client before the request. These tests play that proxy with raw sockets
and check that the client it names is the one logged and matched by location rules, that a
connection without a valid header gets no answer at all, and that the listener's own access
rules still judge the proxy. The end-to-end run through `nuri forward` is the lab test in
test_forward.py.
"""
from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from nuri_helpers import TIME_SCALE, parse_all_responses, parse_response, read_to_close, req, run_nuri
from config_helpers import read_log_lines, serve, tree


def v2_header(source: str, source_port: int, dest: str, dest_port: int, command: int = 1) -> bytes:
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    if command == 0:
        return signature + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    if ":" in source:
        body = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, dest)
        family = 0x21
    else:
        body = socket.inet_aton(source) + socket.inet_aton(dest)
        family = 0x11
    body += struct.pack("!HH", source_port, dest_port)
    return signature + bytes([0x21, family]) + struct.pack("!H", len(body)) + body


def config(root, log, extra_listen: str = "", extra: str = "") -> str:
    return f"""
[access_log]
path = "{log}"
format = "json"
[limits]
header_timeout = 1
[[listen]]
address = "127.0.0.1:0"
proxy_protocol = true
{extra_listen}
[[host]]
root = "{root}"
  [[host.location]]
  prefix = "/"
  [[host.location]]
  prefix = "/staff/"
  deny = ["203.0.113.0/24"]
{extra}
"""


@pytest.fixture
def behind_proxy(nuri, tmp_path):
    root = tree(tmp_path / "site", {"index.html": "hello\n", "staff/index.html": "staff only\n"})
    log = tmp_path / "access.log"
    s = serve(nuri, tmp_path / "n.toml", config(root, log), root=root)
    return s, log


def exchange(port: int, data: bytes, chunks: int = 1, timeout: float = 5.0) -> bytes:
    """Sends `data` (in `chunks` pieces, with pauses so they arrive apart) and reads to EOF."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout * TIME_SCALE)
    try:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            c.sendall(data[i:i + step])
            if chunks > 1:
                time.sleep(0.01)
        return read_to_close(c)
    finally:
        c.close()


def closing(path: str = "/") -> bytes:
    return req(path, headers=[("Connection", "close")])


def test_v1_header_names_the_client_in_the_log(behind_proxy):
    s, log = behind_proxy
    port = s.addrs[0][1]
    out = exchange(port, b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 80\r\n" + closing())
    resp, _ = parse_response(out, eof=True)
    assert resp.status == 200 and resp.body == b"hello\n"
    (entry,) = [json.loads(line) for line in read_log_lines(log, 1)]
    assert entry["client"] == "203.0.113.7", entry


def test_v2_header_ipv6_client_and_keep_alive(behind_proxy):
    s, log = behind_proxy
    port = s.addrs[0][1]
    # One header, then two requests on the same connection: both are the client's.
    data = v2_header("2001:db8::7", 40000, "::1", 80) + req("/") + closing()
    out = exchange(port, data)
    first, second = parse_all_responses(out, ["GET", "GET"])
    assert first.status == 200 and second.status == 200
    entries = [json.loads(line) for line in read_log_lines(log, 2)]
    assert [e["client"] for e in entries] == ["2001:db8::7", "2001:db8::7"], entries


def test_header_arriving_in_pieces(behind_proxy):
    s, log = behind_proxy
    port = s.addrs[0][1]
    out = exchange(port, b"PROXY TCP4 198.51.100.9 10.0.0.5 1 80\r\n" + closing(), chunks=12)
    resp, _ = parse_response(out, eof=True)
    assert resp.status == 200
    assert json.loads(read_log_lines(log, 1)[0])["client"] == "198.51.100.9"


def test_location_rules_judge_the_named_client(behind_proxy):
    s, log = behind_proxy
    port = s.addrs[0][1]
    denied = exchange(port, b"PROXY TCP4 203.0.113.7 10.0.0.5 1 80\r\n" + closing("/staff/"))
    allowed = exchange(port, b"PROXY TCP4 198.51.100.9 10.0.0.5 1 80\r\n" + closing("/staff/"))
    assert parse_response(denied, eof=True)[0].status == 403
    assert parse_response(allowed, eof=True)[0].body == b"staff only\n"


def test_local_command_keeps_the_proxy_address(behind_proxy):
    s, log = behind_proxy
    port = s.addrs[0][1]
    out = exchange(port, v2_header("", 0, "", 0, command=0) + closing())
    assert parse_response(out, eof=True)[0].status == 200
    assert json.loads(read_log_lines(log, 1)[0])["client"] == "127.0.0.1"


@pytest.mark.parametrize("first_bytes", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                      # no header at all
    b"PROXY TCP4 203.0.113.7  10.0.0.5 1 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # two spaces
    b"PROXY TCP4 203.0.113.7 10.0.0.5 1 65536\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PROXY TCP6 203.0.113.7 10.0.0.5 1 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n",                  # longer than v1's 107 bytes
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff" + b"\x00" * 64,    # v2 claiming 64 KiB
])
def test_missing_or_broken_header_gets_no_answer(behind_proxy, first_bytes):
    s, log = behind_proxy
    port = s.addrs[0][1]
    started = time.monotonic()
    assert exchange(port, first_bytes) == b""
    assert time.monotonic() - started < 0.9 * TIME_SCALE  # closed at once, not by the timeout
    assert "no valid PROXY protocol header" in s.stderr()
    time.sleep(0.1)
    assert not log.read_text().strip()  # nothing was served, so nothing is logged


def test_incomplete_header_times_out_silently(behind_proxy):
    s, _ = behind_proxy
    port = s.addrs[0][1]
    started = time.monotonic()
    assert exchange(port, b"PROXY TCP4 203.0.113.7 10.0.0.5 1") == b""
    waited = time.monotonic() - started
    assert 0.9 <= waited < 4 * TIME_SCALE, waited  # header_timeout = 1: closed, no 408


def test_listener_rules_judge_the_proxy_not_the_client(nuri, tmp_path):
    """Only 127.0.0.2 may speak PROXY protocol: a header from 127.0.0.1 claiming an allowed
    client must not get in."""
    root = tree(tmp_path / "site", {"index.html": "hello\n"})
    log = tmp_path / "access.log"
    s = serve(nuri, tmp_path / "n.toml", config(root, log, extra_listen='allow = ["127.0.0.2"]\ndeny = ["all"]'),
              root=root)
    port = s.addrs[0][1]
    claim = b"PROXY TCP4 127.0.0.2 10.0.0.5 1 80\r\n" + closing()
    assert exchange(port, claim) == b""  # from 127.0.0.1: closed at accept
    c = socket.create_connection(("127.0.0.1", port), timeout=5 * TIME_SCALE, source_address=("127.0.0.2", 0))
    try:
        c.sendall(b"PROXY TCP4 192.0.2.1 10.0.0.5 1 80\r\n" + closing())
        out = read_to_close(c)
    finally:
        c.close()
    assert parse_response(out, eof=True)[0].status == 200
    assert json.loads(read_log_lines(log, 1)[0])["client"] == "192.0.2.1"


def test_per_client_limits_count_the_named_client(nuri, tmp_path):
    root = tree(tmp_path / "site", {"index.html": "hello\n"})
    log = tmp_path / "access.log"
    conf = config(root, log).replace("header_timeout = 1", "header_timeout = 1\nmax_connections_per_client = 1")
    s = serve(nuri, tmp_path / "n.toml", conf, root=root)
    port = s.addrs[0][1]
    # Client A holds its one connection open (header sent, no request yet) ...
    held = socket.create_connection(("127.0.0.1", port), timeout=5 * TIME_SCALE)
    try:
        held.sendall(b"PROXY TCP4 203.0.113.7 10.0.0.5 1 80\r\n")
        time.sleep(0.2)
        # ... so A's second connection is refused, while B, through the same proxy, is served.
        again = exchange(port, b"PROXY TCP4 203.0.113.7 10.0.0.5 2 80\r\n" + closing())
        other = exchange(port, b"PROXY TCP4 203.0.113.8 10.0.0.5 3 80\r\n" + closing())
    finally:
        held.close()
    assert parse_response(again, eof=True)[0].status == 429
    assert parse_response(other, eof=True)[0].status == 200


def test_check_config_shows_the_listener_needs_the_header(tmp_path):
    root = tree(tmp_path / "site", {"index.html": "x"})
    conf = tmp_path / "n.toml"
    conf.write_text(config(root, tmp_path / "a.log"))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 0, p.stderr
    assert b"PROXY protocol header required" in p.stdout
    conf.write_text(config(root, tmp_path / "a.log").replace("proxy_protocol = true", 'proxy_protocol = "yes"'))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 2 and b"proxy_protocol" in p.stderr
