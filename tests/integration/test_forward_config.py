"""[[forward]] tables in the configuration file (issue 5): `nuri serve --config` forwards ports
beside serving HTTP, `nuri forward --config` runs the tables alone, check-config reports every
mistake with its position, and a reload leaves the running rules alone (with a warning).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from forward_helpers import BANNER_RE, Target, closed_port, echo
from nuri_helpers import TIME_SCALE, nuri_bin, read_to_close, req, run_nuri
from config_helpers import hup, read_log_lines, serve, tree


def forward_port(s, index: int = 0) -> int:
    """The port of the `index`th forwarding rule, from the server's banner."""
    assert s.wait_stdout(r"forwarding to", timeout=5), s.stdout()
    ports = [int(m[2]) for line in s.stdout().splitlines() if "forwarding to" in line
             for m in [BANNER_RE.search(line)] if m]
    return ports[index]


def through(port: int, payload: bytes) -> bytes:
    """Sends `payload`, half-closes, and returns what came back (the echo target's copy)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=5 * TIME_SCALE)
    try:
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        return read_to_close(c)
    finally:
        c.close()


@pytest.fixture
def echo_target():
    t = Target(echo)
    yield t
    t.close()


def test_serve_forwards_beside_http(nuri, tmp_path, echo_target):
    root = tree(tmp_path / "site", {"index.html": "hello\n"})
    log = tmp_path / "forward.log"
    conf = f"""
workers = 1
forward_log = "{log}"
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
[[forward]]
listen = "127.0.0.1:0"
target = "{echo_target.address}"
[[forward]]
listen = "127.0.0.1:0"
targets = ["127.0.0.1:1", "{echo_target.address}"]
balance = "first"
"""
    s = serve(nuri, tmp_path / "n.toml", conf, root=root)
    c = s.connect(0)
    c.send(req("/"))
    assert c.read_response().body == b"hello\n"
    c.close()
    assert through(forward_port(s, 0), b"ping" * 1000) == b"ping" * 1000
    # The second rule's first target refuses: failover to the echo server.
    assert through(forward_port(s, 1), b"second") == b"second"
    lines = read_log_lines(log, 2)
    assert any(f"target={echo_target.address}" in line and "end=fin" in line and "up=4000" in line for line in lines)
    assert "forwarding to 127.0.0.1:1, " in s.stdout() and "(the first that is up)" in s.stdout()


def test_forward_config_runs_only_the_tables(tmp_path, echo_target):
    conf = tmp_path / "f.toml"
    conf.write_text(f"""
workers = 1
forward_log = ""
[[forward]]
listen = "127.0.0.1:0"
target = "{echo_target.address}"
allow = ["127.0.0.1"]
""")
    p = subprocess.Popen([str(nuri_bin()), "forward", "--config", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        banner = b""
        deadline = time.monotonic() + 5 * TIME_SCALE
        while b"worker(s)" not in banner and time.monotonic() < deadline:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            banner += chunk
        text = banner.decode()
        m = BANNER_RE.search(text)
        assert m and "worker(s)" in text, text
        assert "http://" not in text  # no HTTP listener, not even the default 127.0.0.1:8080
        assert through(int(m[2]), b"only forwarding") == b"only forwarding"
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15 * TIME_SCALE)
    assert p.returncode == 0, err
    assert b"1 connection(s) forwarded" in err


def test_forward_config_usage_errors(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("workers = 1\n")
    p = run_nuri("forward", "--config", str(empty))
    assert p.returncode == 2 and b"has no [[forward]] table" in p.stderr
    p = run_nuri("forward", "--config", str(empty), "127.0.0.1:0", "127.0.0.1:1")
    assert p.returncode == 2 and b"not both" in p.stderr
    p = run_nuri("forward", "--config", str(empty), "--udp")
    assert p.returncode == 2 and b"--udp is for LISTEN TARGET" in p.stderr
    p = run_nuri("forward")
    assert p.returncode == 2 and b"LISTEN and TARGET are required" in p.stderr


def test_check_config_reports_every_forward_mistake(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text("""[[listen]]
address = "127.0.0.1:28080"
[[forward]]
listen = "127.0.0.1:28080"
target = "127.0.0.1:80"
[[forward]]
listen = "127.0.0.1:28081"
targets = ["127.0.0.1:1", "no port"]
udp = true
proxy_protocol = "v2"
[[forward]]
listen = "127.0.0.1:28081"
target = "127.0.0.1:80"
balance = "random"
max_conns = -1
idle_timeout = 0
[[forward]]
listen = "127.0.0.1:28082"
destination = "127.0.0.1:80"
[[forward]]
target = "127.0.0.1:80"
""")
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 2, p.stdout
    err = p.stderr.decode()
    expected = [
        r":4:10: 127\.0\.0\.1:28080 is already an HTTP \[\[listen\]\] address",
        r":8:27: target 'no port'",
        r":10:18: proxy_protocol is for TCP",
        r":14:11: unknown balance \"random\"",
        r":15:13: .*max_conns",
        r":16:16: .*idle_timeout",
        r":19:1: unknown key \"destination\"",
        r":17:1: \[\[forward\]\] needs a target",
        r":20:1: \[\[forward\]\] needs a listen address",
    ]
    for pattern in expected:
        assert re.search(pattern, err), (pattern, err)
    # The same UDP and TCP port do not collide: 28081/udp above and 28081/tcp here are both fine.
    ok = tmp_path / "ok.toml"
    ok.write_text("""[[forward]]
listen = "127.0.0.1:28081"
target = "127.0.0.1:53"
udp = true
[[forward]]
listen = "127.0.0.1:28081"
target = "127.0.0.1:80"
proxy_protocol = "v1"
""")
    p = run_nuri("check-config", str(ok))
    assert p.returncode == 0, p.stderr
    assert b"127.0.0.1:28081/udp (this machine only) -> 127.0.0.1:53" in p.stdout
    assert b"PROXY protocol v1" in p.stdout


def test_a_table_that_forwards_to_its_own_listener_is_refused(tmp_path):
    """Each connection would come back to the rule until out of descriptors. check-config points
    at the target; a host name is checked when `nuri forward` resolves it at start."""
    conf = tmp_path / "loop.toml"
    conf.write_text("""[[forward]]
listen = "127.0.0.1:28090"
target = "127.0.0.1:28090"
[[forward]]
listen = "0.0.0.0:28091"
targets = ["203.0.113.1:28091", "[::1]:28091", "127.0.0.1:28091"]
""")
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 2, p.stdout
    err = p.stderr.decode()
    loop = "connections would loop back to this rule until out of file descriptors"
    assert f"loop.toml:3:10: target 127.0.0.1:28090 is the listen address itself: {loop}\n" in err, err
    assert (f"loop.toml:6:48: target 127.0.0.1:28091 is on this machine, where 0.0.0.0:28091 listens on every "
            f"address: {loop}\n") in err, err
    assert err.count(loop) == 2, err  # another machine, or the other family, is fine

    port = closed_port()
    named = tmp_path / "named.toml"
    named.write_text(f'[[forward]]\nlisten = "127.0.0.1:{port}"\ntarget = "localhost:{port}"\n')
    p = run_nuri("forward", "--config", str(named), "--log", "", timeout=5)
    assert p.returncode == 2, p.stderr
    assert p.stderr.decode() == (f"nuri forward: target localhost:{port} (127.0.0.1:{port}) is the listen address "
                                 f"itself: {loop}\n")


def test_reload_keeps_the_running_rules(nuri, tmp_path, echo_target):
    root = tree(tmp_path / "site", {"index.html": "hello\n"})
    conf_text = f"""
workers = 1
forward_log = ""
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
[[forward]]
listen = "127.0.0.1:0"
target = "{echo_target.address}"
"""
    conf = tmp_path / "n.toml"
    s = serve(nuri, conf, conf_text, root=root)
    port = forward_port(s)
    conf.write_text(conf_text.replace(echo_target.address, "127.0.0.1:1"))
    err = hup(s)
    assert "[[forward]] changes take effect at the next start" in err
    assert through(port, b"still here") == b"still here"
    # A reload that leaves the tables as they are says nothing about them.
    conf.write_text(conf_text)
    err = hup(s)
    assert err.count("[[forward]] changes") == 1
