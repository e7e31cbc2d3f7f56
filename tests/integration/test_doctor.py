"""`nuri doctor HOST:PORT`: each verdict, made real.

The lecture's lab from forward_helpers.py (namespaces client, router and server; the server at
192.168.17.17 on the router's LAN, the client with no route to it) plays the network: doctor
runs in the server's namespace for the local findings and in the router's for the client's
side, with nftables rules in the server's namespace for the firewall cases. Servers that only
need to say something odd (a banner, TLS, silence) are python sockets on 127.0.0.1. Every
verdict is checked in the JSON and in the text, and every run's exit status.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest

from forward_helpers import Target, run_cmd
from nuri_helpers import SANITIZER_MARKERS, SLACK, TIME_SCALE, nuri_bin, run_nuri
from test_conns import HOSTILE_NAME, HOSTILE_NAME_ESCAPED, listener_named
# Fixtures: the lecture's lab (client, router, server namespaces) and python TCP servers.
from forward_helpers import rst_close
from forward_helpers import lab  # noqa: F401 (a fixture)

SERVER_IP = "192.168.17.17"


def doctor(*args, netns: str = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Runs `nuri doctor ARGS` (in `netns` when given); stdout and stderr as text."""
    cmd = [str(nuri_bin()), "doctor", *map(str, args)]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * TIME_SCALE,
                       stdin=subprocess.DEVNULL)
    assert not any(m in p.stderr for m in SANITIZER_MARKERS), p.stderr
    return p


def doctor_json(*args, netns: str = None, expect_exit: int = None) -> dict:
    p = doctor(*args, "--json", netns=netns)
    report = json.loads(p.stdout)
    assert report["exit_code"] == p.returncode, (p.returncode, p.stdout)
    if expect_exit is not None:
        assert p.returncode == expect_exit, p.stdout + p.stderr
    return report


def codes(report: dict, severity: str = None) -> list:
    return [f["code"] for f in report["findings"] if severity is None or f["severity"] == severity]


def finding(report: dict, code: str) -> dict:
    found = [f for f in report["findings"] if f["code"] == code]
    assert found, f"no {code} finding in {json.dumps(report['findings'], indent=1)}"
    return found[0]


def serve_in(nuri, ns: str, *listen, args=("--workers", "1")):
    """`nuri serve` in namespace `ns`, through the `nuri` fixture (stopped and checked at the end)."""
    s = nuri(*args, listen=listen, run=False)
    s.cmd = ["ip", "netns", "exec", ns, *s.cmd]
    return s.start()


def nft(ns: str, *rules: str):
    """Loads nftables `rules` (one command each) in namespace `ns`, inside table inet doctor."""
    if not shutil.which("nft"):
        pytest.fail("nft is not installed (scripts/install-deps.sh installs nftables)")
    script = "add table inet doctor\n" \
             "add chain inet doctor input { type filter hook input priority 0; policy accept; }\n" + \
             "\n".join(f"add rule inet doctor input {r}" for r in rules) + "\n"
    p = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True,
                       capture_output=True)
    assert p.returncode == 0, p.stderr


# ----------------------------------------------------------------------------------------------
# Listening on every interface, and HTTP answers


def test_every_interface_and_http_answers(lab, nuri):
    server = serve_in(nuri, lab["server"], "0.0.0.0:8080", args=("--workers", "2", "--server-tokens"))
    # From the router, a client on the server's LAN.
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["router"], expect_exit=0)
    assert report["verdict"] == "ok"
    assert report["local"]["applies"] is False and "not_local" in codes(report, "info")
    (c,) = report["connect"]
    assert (c["address"], c["port"], c["verdict"]) == (SERVER_IP, 8080, "connected")
    assert report["http"]["verdict"] == "http_ok"
    assert report["http"]["status"] == 200 and report["http"]["status_line"] == "HTTP/1.1 200 OK"
    assert report["http"]["server"].startswith("nuri")

    # On the server itself: who listens, on every interface, with one socket per worker.
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["server"], expect_exit=0)
    (group,) = report["local"]["listeners"]
    assert (group["address"], group["scope"], group["family"]) == ("0.0.0.0", "any", "ipv4")
    assert group["sockets"] == 2, group
    assert group["owners"] == [{"pid": server.pid, "program": "nuri"}]
    text = finding(report, "listening")["text"]
    assert f"nuri (pid {server.pid}) listens on 0.0.0.0:8080 (every IPv4 interface)" in text
    assert "2 sockets sharing it with SO_REUSEPORT" in text
    assert finding(report, "listening")["severity"] == "ok"
    assert "same_machine" in codes(report, "info")

    p = doctor(f"{SERVER_IP}:8080", netns=lab["router"])
    assert p.returncode == 0, p.stdout
    assert p.stdout.splitlines()[-1] == "result: reachable, and HTTP answers"
    assert "ok       http     HTTP answers: HTTP/1.1 200 OK (Server: nuri" in p.stdout


# ----------------------------------------------------------------------------------------------
# Bound to the wrong address


def test_loopback_only_server_seen_via_the_lan_address(lab, nuri):
    server = serve_in(nuri, lab["server"], "127.0.0.1:8080")
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["server"], expect_exit=1)
    assert report["verdict"] == "loopback_only"
    f = finding(report, "loopback_only")
    assert f["severity"] == "problem"
    assert f"nuri (pid {server.pid}) listens on 127.0.0.1:8080 only: loopback" in f["text"]
    assert "bind 0.0.0.0:8080, e.g. `nuri serve --listen 0.0.0.0:8080`" in f["fix"]
    assert [c["verdict"] for c in report["connect"]] == ["refused"]
    assert finding(report, "listening")["severity"] == "info"  # it listens, but not for them
    # The same server asked for by its loopback address is fine.
    report = doctor_json("127.0.0.1:8080", netns=lab["server"], expect_exit=0)
    assert report["verdict"] == "ok" and report["http"]["status"] == 200
    # And a client on the LAN is refused.
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["router"], expect_exit=1)
    assert report["verdict"] == "refused"

    p = doctor(f"{SERVER_IP}:8080", netns=lab["server"])
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert any(line.startswith("problem  local    ") and "127.0.0.1:8080 only" in line for line in lines)
    assert any("fix: To be reachable from other machines, listen on every interface" in line for line in lines)
    assert lines[-1] == "result: 2 problems found (loopback_only)"


def test_ipv6_only_listener_and_an_ipv4_client(lab, nuri):
    serve_in(nuri, lab["server"], "[::]:8080")
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["server"], expect_exit=1)
    assert report["verdict"] == "wrong_family"
    (group,) = report["local"]["listeners"]
    assert (group["address"], group["v6only"], group["family"]) == ("::", True, "ipv6")
    f = finding(report, "wrong_family")
    assert "for IPv6 only" in f["text"] and "192.168.17.17 is an IPv4 address" in f["text"]
    assert "0.0.0.0:8080" in f["fix"]
    assert [c["verdict"] for c in report["connect"]] == ["refused"]


def test_other_specific_address(lab, nuri):
    run_cmd("ip", "-n", lab["server"], "addr", "add", "192.168.17.18/24", "dev", "eth0")
    serve_in(nuri, lab["server"], "192.168.17.18:8080")
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["server"], expect_exit=1)
    assert report["verdict"] == "other_address"
    assert "listens on 192.168.17.18:8080 only, not on 192.168.17.17" in finding(report, "other_address")["text"]


# ----------------------------------------------------------------------------------------------
# Nothing listens, firewalls, no route


def test_nothing_listening_is_refused(lab):
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["router"], expect_exit=1)
    assert report["verdict"] == "refused"
    (c,) = report["connect"]
    assert c["verdict"] == "refused" and "icmp" not in c and c["errno"] == "Connection refused"
    assert report["http"] is None
    assert "a TCP RST answered the SYN" in finding(report, "refused")["text"]
    # On the server: nothing listens, said first, with the fix.
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["server"], expect_exit=1)
    assert codes(report, "problem") == ["not_listening", "refused"]
    assert report["local"]["listeners"] == []


def test_firewall_drop_times_out(lab, nuri):
    serve_in(nuri, lab["server"], "0.0.0.0:8080")
    nft(lab["server"], "tcp dport 8080 drop")
    start = time.monotonic()
    report = doctor_json(f"{SERVER_IP}:8080", "--timeout", "0.5", netns=lab["router"], expect_exit=1)
    took = time.monotonic() - start
    assert report["verdict"] == "timeout"
    (c,) = report["connect"]
    assert c["verdict"] == "timeout" and 0.45 <= c["ms"] / 1000 < 0.5 + SLACK, c
    assert took < 0.5 + SLACK + 2 * TIME_SCALE
    f = finding(report, "timeout")
    assert "Nothing answered the SYN to 192.168.17.17:8080 within 0.5 s" in f["text"]
    assert "nft list ruleset" in f["fix"] and "tcp dport 8080 accept" in f["fix"]
    # On the server, its own firewall is named: a program listens, yet the SYN is dropped.
    report = doctor_json(f"{SERVER_IP}:8080", "--timeout", "0.5", netns=lab["server"], expect_exit=1)
    assert report["verdict"] == "timeout"
    assert finding(report, "listening")["severity"] == "ok"
    assert "this machine's firewall drops the packets" in finding(report, "timeout")["text"]


@pytest.mark.parametrize("rule,verdict,icmp_code", [
    ("reject with icmpx type admin-prohibited", "rejected", 13),
    ("reject", "rejected", 3),                     # nftables' default: ICMP port unreachable
    ("reject with icmpx type host-unreachable", "unreachable", 1),
    ("reject with tcp reset", "refused", None),    # a RST from a rule looks like a closed port
])
def test_firewall_reject(lab, nuri, rule, verdict, icmp_code):
    serve_in(nuri, lab["server"], "0.0.0.0:8080")
    nft(lab["server"], f"tcp dport 8080 {rule}")
    report = doctor_json(f"{SERVER_IP}:8080", "--timeout", "2", netns=lab["router"], expect_exit=1)
    assert report["verdict"] == verdict, report["findings"]
    (c,) = report["connect"]
    assert c["verdict"] == verdict and c["ms"] < 1000, c
    if icmp_code is None:
        assert "icmp" not in c
    else:
        assert c["icmp"] == {"type": 3, "code": icmp_code, "v6": False, "from": SERVER_IP}, c
    if verdict == "rejected":
        f = finding(report, "rejected")
        assert "192.168.17.17 itself answered the SYN with ICMP" in f["text"] and "`reject` rule" in f["text"]
        assert "nft list ruleset" in f["fix"]


def test_no_route_is_unreachable(lab):
    # The lab's client has a route to the router's /24 only.
    report = doctor_json(f"{SERVER_IP}:8080", netns=lab["client"], expect_exit=1)
    assert report["verdict"] == "unreachable"
    (c,) = report["connect"]
    assert c["verdict"] == "unreachable" and c["errno"] == "Network is unreachable", c
    assert "ip route get 192.168.17.17" in finding(report, "unreachable")["fix"]


# ----------------------------------------------------------------------------------------------
# The port answers, but not with HTTP


def wait_close(conn):
    conn.settimeout(10 * TIME_SCALE)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def banner(data: bytes):
    def handler(conn):
        conn.sendall(data)
        wait_close(conn)
    return handler


@pytest.mark.parametrize("data,verdict,excerpt", [
    (b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "not_http", "SSH-2.0-OpenSSH_9.2p1 Debian-2"),
    (b"220 mail.example ESMTP\r\n", "not_http", "220 mail.example ESMTP"),
    (b"\x00\x00\x12\x04\x00\x00\x00\x00\x00" + bytes(18), "http2_only", "\\x00\\x00\\x12\\x04"),
    (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "http_malformed", "HTTP/1.1 200 OK"),
    (b"\x15\x03\x03\x00\x02\x02\x46", "tls", "\\x15\\x03\\x03"),
])
def test_port_answers_but_not_with_http(targets, data, verdict, excerpt):
    t = targets(banner(data))
    report = doctor_json(f"127.0.0.1:{t.port}", "--timeout", "2", expect_exit=1)
    assert report["verdict"] == verdict, report["findings"]
    assert report["http"]["verdict"] == verdict
    assert report["http"]["excerpt"].startswith(excerpt), report["http"]
    assert [c["verdict"] for c in report["connect"]] == ["connected"]
    assert finding(report, "listening")["text"].startswith(f"python3 (pid {os.getpid()}) listens on 127.0.0.1:")
    # --no-http: connecting is all that is asked, and it works.
    report = doctor_json(f"127.0.0.1:{t.port}", "--no-http", expect_exit=0)
    assert report["http"] is None and report["verdict"] == "ok"
    p = doctor(f"127.0.0.1:{t.port}", "--no-http")
    assert p.stdout.splitlines()[-1] == "result: reachable (the HTTP step was skipped)"


def read_head_then(action):
    """A handler that reads the request head (so nothing is left unread), then does `action`."""
    def handler(conn):
        conn.settimeout(10 * TIME_SCALE)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        action(conn)
    return handler


def test_silent_and_closing_servers(targets):
    silent = targets(wait_close)
    start = time.monotonic()
    report = doctor_json(f"127.0.0.1:{silent.port}", "--timeout", "0.5", expect_exit=1)
    assert report["verdict"] == "no_answer", report["findings"]
    assert "sent nothing within 0.5 s" in finding(report, "no_answer")["text"]
    # The HTTP wait, then the TLS check's wait: each bounded by --timeout.
    assert time.monotonic() - start < 1.0 + SLACK + 2 * TIME_SCALE
    closing = targets(read_head_then(lambda conn: conn.close()))
    report = doctor_json(f"127.0.0.1:{closing.port}", "--timeout", "2", expect_exit=1)
    assert report["verdict"] == "closed_without_answer", report["findings"]
    resetting = targets(read_head_then(rst_close))
    report = doctor_json(f"127.0.0.1:{resetting.port}", "--timeout", "2", expect_exit=1)
    assert report["verdict"] == "reset_without_answer", report["findings"]


def test_tls_server_is_told_to_use_https(targets, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def tls_handler(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                tls.recv(100)
        except (ssl.SSLError, OSError):
            pass  # the plain HEAD request, or the probe hanging up after ServerHello

    t = targets(tls_handler)
    report = doctor_json(f"127.0.0.1:{t.port}", "--timeout", "2", expect_exit=1)
    assert report["verdict"] == "tls", report["findings"]
    assert report["http"]["tls_confirmed"] is True
    assert f"https://127.0.0.1:{t.port}/" in finding(report, "tls")["fix"]


# ----------------------------------------------------------------------------------------------
# Several sockets on one port, a full accept queue


REUSEPORT_CHILD = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
sys.stdin.read()
"""


def test_several_reuseport_sockets_are_counted_with_their_pids():
    mine = []
    for _ in range(2):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", mine[0].getsockname()[1] if mine else 0))
        s.listen(8)
        mine.append(s)
    port = mine[0].getsockname()[1]
    child = subprocess.Popen([sys.executable, "-c", REUSEPORT_CHILD, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        report = doctor_json(f"127.0.0.1:{port}", "--no-http", expect_exit=0)
        (group,) = report["local"]["listeners"]
        assert group["sockets"] == 3
        assert [o["pid"] for o in group["owners"]] == sorted([os.getpid(), child.pid])
        text = finding(report, "listening")["text"]
        pids = ", ".join(str(p) for p in sorted([os.getpid(), child.pid]))
        assert f"python3 (pids {pids}) listen on 127.0.0.1:{port}" in text
        assert "3 sockets sharing it with SO_REUSEPORT" in text
    finally:
        child.stdin.close()
        child.wait(10)
        for s in mine:
            s.close()


def test_full_accept_queue_is_named():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)  # one connection may wait; nobody accepts
    port = server.getsockname()[1]
    waiting = []
    try:
        for _ in range(2):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            waiting.append(c)
        time.sleep(0.2)
        report = doctor_json(f"127.0.0.1:{port}", "--timeout", "0.5", expect_exit=1)
        f = finding(report, "accept_queue_full")
        assert f["severity"] == "warning" and "does not accept them" in f["text"]
        assert report["verdict"] == "timeout"  # the kernel drops the SYN of a full queue
        assert "the listener's accept queue is full" in finding(report, "timeout")["text"]
    finally:
        for c in waiting:
            c.close()
        server.close()


# ----------------------------------------------------------------------------------------------
# Names, the JSON document, usage errors


def test_program_names_are_escaped():
    with listener_named(HOSTILE_NAME) as (pid, port):
        p = doctor(f"127.0.0.1:{port}", "--no-http")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout, p.stdout
    assert f"{HOSTILE_NAME_ESCAPED} (pid {pid}) listens" in p.stdout, p.stdout


def test_name_that_does_not_resolve():
    report = doctor_json("no-such-host.invalid:80", "--timeout", "1", expect_exit=1)
    assert report["verdict"] == "resolve_failed"
    assert report["addresses"] == [] and report["connect"] == [] and report["resolved_by"] is None


def test_json_shape(targets):
    t = targets(banner(b"HTTP/1.1 204 No Content\r\nServer: py\r\n\r\n"))
    report = doctor_json(f"localhost:{t.port}", "--timeout", "2", expect_exit=0)
    assert list(report) == ["host", "port", "verdict", "exit_code", "resolved_by", "addresses", "local",
                            "connect", "http", "findings"]
    assert (report["host"], report["port"], report["verdict"], report["exit_code"]) == ("localhost", t.port, "ok", 0)
    assert report["resolved_by"] == "hosts_file" and "127.0.0.1" in report["addresses"]
    assert set(report["local"]) == {"applies", "addresses", "listeners"} and report["local"]["applies"]
    (group,) = report["local"]["listeners"]
    assert set(group) == {"address", "port", "family", "scope", "v6only", "sockets", "owners", "queued", "backlog"}
    c = report["connect"][0]
    assert set(c) == {"address", "port", "verdict", "ms", "errno"} and c["errno"] is None
    assert report["http"] == {"verdict": "http_ok", "ms": report["http"]["ms"], "status": 204,
                              "status_line": "HTTP/1.1 204 No Content", "server": "py"}
    for f in report["findings"]:
        assert set(f) == {"code", "severity", "step", "text", "fix"}
        assert f["severity"] in ("ok", "info", "warning", "problem")
        assert f["step"] in ("resolve", "local", "connect", "http")
        assert f["text"].endswith(".")
    assert codes(report)[:2] == ["resolved", "listening"]


@pytest.mark.parametrize("arg,message", [
    ("bad", "'bad': expected HOST:PORT"),
    ("example.com", "expected HOST:PORT"),
    ("example.com:0", "the port must be a number from 1 to 65535"),
    ("example.com:65536", "the port must be a number from 1 to 65535"),
    ("example.com:8o", "the port must be a number from 1 to 65535"),
    ("::1:80", "an IPv6 address goes in brackets"),
    ("[::1:80", "expected [IPv6]:PORT"),
    ("[zz::1]:80", "zz::1 is not a valid IPv6 address"),
    ("300.1.2.3:80", "300.1.2.3 is not a valid IPv4 address"),
    ("http://example.com:8080/", "give HOST:PORT, not a URL"),
    ("0.0.0.0:8080", "0.0.0.0 means every interface to a server"),
    ("[::]:8080", ":: means every interface to a server"),
    ("exa mple.com:80", "is not a host name or an address"),
    ("a..b:80", "is not a host name or an address"),
    ("evil\x1b[31m:80", "'evil\\x1b[31m' is not a host name"),
    (":80", "is not a host name or an address"),
])
def test_usage_errors_are_one_line(arg, message):
    p = run_nuri("doctor", arg)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert p.stdout == b""
    assert err.startswith("nuri doctor: ") and err.count("\n") == 1 and message in err, err


def test_help_and_bad_options():
    p = run_nuri("doctor", "--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    for option in ("--timeout", "--no-http", "--json", "HOST:PORT"):
        assert option in out
    p = run_nuri("doctor", "127.0.0.1:80", "--timeout", "0")
    assert p.returncode == 2 and b"--timeout" in p.stderr
    p = run_nuri("doctor")
    assert p.returncode == 2 and b"TARGET" in p.stderr
