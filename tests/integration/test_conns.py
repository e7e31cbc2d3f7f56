"""`nuri conns`: sockets opened by the test in known states (LISTEN on 127.0.0.1, 0.0.0.0 and ::1,
an ESTABLISHED pair, TIME_WAIT after an active close, unconnected UDP) are reported with their
owner, reachability and TIME_WAIT time left; the same set as `ss -tanp` on this machine; --watch
sees a connection go from ESTABLISHED to TIME_WAIT."""
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from nuri_helpers import TIME_SCALE, nuri_bin

MY_PID = os.getpid()


def conns(*args, check=True):
    r = subprocess.run([str(nuri_bin()), "conns", *args], capture_output=True, text=True,
                       timeout=20 * TIME_SCALE)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def rows(*args):
    return json.loads(conns("--json", *args).stdout)


def listener(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(8)
    return s


def pair(lsock):
    """An ESTABLISHED (client, server) pair on the listener."""
    c = socket.create_connection(lsock.getsockname()[:2])
    a, _ = lsock.accept()
    return c, a


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return pred()


def time_wait_pair(lsock):
    """A connection the client closed first (the active close): the client's end is left in
    TIME_WAIT once the server has closed too. Returns the client's local port."""
    c, a = pair(lsock)
    cport = c.getsockname()[1]
    c.close()                       # client FIN: client FIN_WAIT_1/2, server CLOSE_WAIT
    assert a.recv(10) == b""         # the server sees the end
    a.close()                       # server FIN: server LAST_ACK, client TIME_WAIT
    return cport


# A process name that clears the screen and retitles the window when printed raw: any local user
# can name a process so (prctl PR_SET_NAME), and root runs `nuri conns` and `nuri doctor`.
HOSTILE_NAME = b"e\x1b[2J\x1b]0;X\x07"
HOSTILE_NAME_ESCAPED = "e\\x1b[2J\\x1b]0;X\\x07"


@contextlib.contextmanager
def listener_named(name: bytes):
    """Another process, called `name` in /proc/PID/comm, listening on 127.0.0.1. Yields (pid, port)."""
    code = ("import ctypes, socket, sys\n"
            "ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)\n"  # PR_SET_NAME
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "print(s.getsockname()[1], flush=True); sys.stdin.read()")
    p = subprocess.Popen([sys.executable, "-c", code, name.hex()], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        yield p.pid, int(p.stdout.readline())
    finally:
        p.stdin.close()  # its read ends: it exits
        p.wait(5)


def find(rs, state, lport=None, rport=None):
    return [r for r in rs if r["state"] == state and (lport is None or r["local_port"] == lport)
            and (rport is None or r["remote_port"] == rport)]


def test_known_states_are_reported():
    lsock = listener()
    port = lsock.getsockname()[1]
    c, a = pair(lsock)
    tw_port = time_wait_pair(lsock)
    try:
        rs = wait_for(lambda: (lambda r: r if find(r, "TIME_WAIT", tw_port) else None)(rows("--port", str(port))))
        assert rs, "no TIME_WAIT socket after the active close"
        # LISTEN: owned by this process, reachable from this machine only, backlog in Send-Q.
        (lrow,) = find(rs, "LISTEN", port)
        assert lrow["protocol"] == "tcp" and lrow["local_address"] == "127.0.0.1"
        assert {"pid": MY_PID, "program": open(f"/proc/{MY_PID}/comm").read().strip()} in lrow["owners"]
        assert "this machine only" in lrow["reachable_from"]
        assert lrow["send_q"] == 8
        # The ESTABLISHED pair: both ends, each the other's mirror, both owned by us.
        (crow,) = find(rs, "ESTABLISHED", c.getsockname()[1], port)
        (srow,) = find(rs, "ESTABLISHED", port, c.getsockname()[1])
        assert crow["owners"][0]["pid"] == srow["owners"][0]["pid"] == MY_PID
        assert crow["inode"] != srow["inode"]
        # TIME_WAIT on the side that closed first, with the seconds left (Linux: 60 s).
        (tw,) = find(rs, "TIME_WAIT", tw_port, port)
        assert 50_000 < tw["time_wait_ms_left"] <= 60_000
        assert tw["owners"] == [] and tw["inode"] == 0
        assert not find(rs, "TIME_WAIT", port, tw_port), "the passive closer has no TIME_WAIT"
        # The table says the same.
        table = conns("--port", str(port)).stdout
        assert re.search(rf"tcp\s+LISTEN\s+127\.0\.0\.1:{port}\s+0\.0\.0\.0:\*\s+{MY_PID}/\S+.*this machine only", table), table
        assert re.search(rf"tcp\s+TIME_WAIT\s+127\.0\.0\.1:{tw_port}\s+127\.0\.0\.1:{port}\s+-\s+0\s+0\s+(5\d|60) s left", table), table
        # Filters.
        # Only TIME_WAIT rows, ours among them. Another test's connection may have used the same
        # port number and still be in TIME_WAIT (--port matches either end): CI saw two rows.
        only = rows("--port", str(port), "--state", "time-wait")
        assert {r["state"] for r in only} == {"TIME_WAIT"} and find(only, "TIME_WAIT", tw_port, port), only
        assert [r["state"] for r in rows("--port", str(port), "--listening")] == ["LISTEN"]
        mine = rows("--port", str(port), "--pid", str(MY_PID))
        assert sorted(r["state"] for r in mine) == ["ESTABLISHED", "ESTABLISHED", "LISTEN"]
        others = rows("--port", str(port), "--pid", "1")
        assert all([o["pid"] for o in r["owners"]] == [1] for r in others), others
    finally:
        for s in (c, a, lsock):
            s.close()


def test_reachability_ipv6_udp_and_tcp_info():
    any4 = listener(host="0.0.0.0")
    lo6 = listener(socket.AF_INET6, "::1")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    c, a = pair(lo6)
    try:
        p4, p6, pu = any4.getsockname()[1], lo6.getsockname()[1], udp.getsockname()[1]
        (r4,) = rows("--port", str(p4), "--listening")
        assert r4["local_address"] == "0.0.0.0" and "every interface" in r4["reachable_from"]
        rs6 = rows("--port", str(p6))
        (l6,) = find(rs6, "LISTEN", p6)
        assert l6["family"] == "ipv6" and l6["local_address"] == "::1"
        assert "this machine only" in l6["reachable_from"]
        assert len(find(rs6, "ESTABLISHED")) == 2
        (ru,) = rows("--udp", "--port", str(pu))
        assert ru["protocol"] == "udp" and ru["state"] == "UNCONN" and ru["owners"][0]["pid"] == MY_PID
        # --tcp leaves the UDP socket out (a TCP socket elsewhere may share the port number).
        assert all(r["protocol"] == "tcp" for r in rows("--tcp", "--port", str(pu)))
        # -i: tcp_info of an established connection that has carried data.
        c.sendall(b"x" * 1000)
        assert a.recv(2000)
        est = [r for r in json.loads(conns("--json", "-i", "--port", str(p6)).stdout) if r["state"] == "ESTABLISHED"]
        assert all(r["rtt_ms"] > 0 and r["cwnd"] >= 1 and r["retransmits"] == 0 for r in est), est
        table = conns("-i", "--port", str(p6)).stdout
        assert re.search(r"RTT\(ms\)\s+Retrans\s+Cwnd", table.splitlines()[0]), table
        assert re.search(rf"\[::1\]:{p6}\s+\[::1\]:\d+\s+{MY_PID}/\S+\s+0\s+0\s+\d+\.\d{{3}}\s+0\s+\d+", table), table
    finally:
        for s in (c, a, any4, lo6, udp):
            s.close()


SS_STATE = {"ESTAB": "ESTABLISHED", "LISTEN": "LISTEN", "TIME-WAIT": "TIME_WAIT", "SYN-SENT": "SYN_SENT",
            "SYN-RECV": "SYN_RECV", "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2",
            "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING", "UNCONN": "UNCONN"}


def addr(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def test_same_sockets_as_ss():
    lsock = listener()
    port = lsock.getsockname()[1]
    c, a = pair(lsock)
    tw_port = time_wait_pair(lsock)
    c2, a2 = pair(lsock)
    c2_port = c2.getsockname()[1]
    c2.close()  # client FIN_WAIT2, server CLOSE_WAIT (the server does not close)
    try:
        wait_for(lambda: find(rows("--port", str(port)), "FIN_WAIT2"))
        # ss: state, local, peer, users ("python3",pid=N,fd=M); filtered to this test's port.
        ss = subprocess.run(["ss", "-tanpH", f"( sport = :{port} or dport = :{port} )"],
                            capture_output=True, text=True, check=True).stdout
        theirs = set()
        for line in ss.splitlines():
            f = line.split()
            pids = tuple(sorted(int(p) for p in re.findall(r"pid=(\d+)", line)))
            local = f[3].replace("%lo", "")
            peer = f[4].replace("*", "0", 1) if f[4].startswith("*") else f[4]
            theirs.add((SS_STATE[f[0]], local, peer.replace("0.0.0.0:*", "0.0.0.0:*"), pids))
        ours = set()
        for r in rows("--tcp", "--port", str(port)):
            peer = "0.0.0.0:*" if r["state"] == "LISTEN" else addr(r["remote_address"], r["remote_port"])
            ours.add((r["state"], addr(r["local_address"], r["local_port"]), peer,
                      tuple(sorted(o["pid"] for o in r["owners"]))))
        # Only the test's own sockets: another program's connection may use the same port
        # number (as an ephemeral port) and change state between the two reads.
        mine = {f"127.0.0.1:{p}" for p in (port, tw_port, c.getsockname()[1], c2_port)} | {"0.0.0.0:*"}
        ours = {x for x in ours if x[1] in mine and x[2] in mine}
        theirs = {x for x in theirs if x[1] in mine and x[2] in mine}
        assert ours == theirs, f"nuri: {sorted(ours)}\nss: {sorted(theirs)}"
        states = sorted(s for s, *_ in ours)
        assert states == ["CLOSE_WAIT", "ESTABLISHED", "ESTABLISHED", "FIN_WAIT2", "LISTEN", "TIME_WAIT"]
        assert any(l == f"127.0.0.1:{tw_port}" for s, l, _, _ in ours if s == "TIME_WAIT")
    finally:
        for s in (c, a, a2, lsock):
            s.close()


def test_watch_sees_established_to_time_wait():
    lsock = listener()
    port = lsock.getsockname()[1]
    w = subprocess.Popen([str(nuri_bin()), "conns", "--watch", "--tcp", "--port", str(port), "--interval", "20",
                          "--duration", str(20 * TIME_SCALE)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = w.stdout.readline()
        assert first.startswith("watching TCP sockets every 20 ms"), first
        # The first poll: what exists already (the listener; perhaps a stranger's socket that
        # happens to use the same port number).
        first_poll = []
        while not any("is LISTEN" in l for l in first_poll) and len(first_poll) < 100:
            first_poll.append(w.stdout.readline())
        c, a = pair(lsock)
        cport = c.getsockname()[1]
        time.sleep(0.3 * TIME_SCALE)
        c.close()             # active close: the client's end goes FIN_WAIT2 (server: CLOSE_WAIT)
        assert a.recv(10) == b""
        time.sleep(0.3 * TIME_SCALE)
        a.close()             # now the client's end enters TIME_WAIT, the server's is gone
        time.sleep(0.3 * TIME_SCALE)
    finally:
        w.send_signal(2)
        out, err = w.communicate(timeout=10 * TIME_SCALE)
        lsock.close()
    assert w.returncode == 0, err
    lines = [first] + first_poll + out.splitlines()
    stamp = r"\d\d:\d\d:\d\d\.\d{3}"
    assert any(re.match(rf"{stamp} tcp 127\.0\.0\.1:{port} -> 0\.0\.0\.0:\*\s+is LISTEN", l) for l in first_poll), lines
    client = [l for l in lines if f"127.0.0.1:{cport} -> 127.0.0.1:{port}" in l]
    server = [l for l in lines if f"127.0.0.1:{port} -> 127.0.0.1:{cport}" in l]
    assert all(re.match(stamp + " ", l) for l in client + server), lines
    # The client's end: new ESTABLISHED, then along the diagram to TIME_WAIT with the time left.
    # FIN_WAIT2 lasts 0.3 s and must be seen; FIN_WAIT1 lasts one round trip and may be.
    assert re.search(r"new ESTABLISHED", client[0]), client
    chain = ["ESTABLISHED"] + [re.search(r"\S+ -> (\S+)", l.split(f":{port}", 1)[1])[1] for l in client[1:]]
    assert all(re.search(rf"{a} -> {b}", l) for a, b, l in zip(chain, chain[1:], client[1:])), client
    assert chain in (["ESTABLISHED", "FIN_WAIT2", "TIME_WAIT"],
                     ["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT"]), client
    assert re.search(r"FIN_WAIT2 -> TIME_WAIT \((5\d|60) s left\)", client[-1]), client
    # The server's end: ESTABLISHED, CLOSE_WAIT, then gone (LAST_ACK lasts one round trip).
    assert "new ESTABLISHED" in server[0] and "ESTABLISHED -> CLOSE_WAIT" in server[1], server
    assert "gone" in server[-1], server


def test_program_names_are_escaped_and_the_columns_stay_aligned():
    with listener_named(HOSTILE_NAME) as (pid, port):
        table = conns("--port", str(port)).stdout
        watch = conns("--watch", "--port", str(port), "--duration", "0.1").stdout
    for text in (table, watch):
        assert "\x1b" not in text and "\x07" not in text, text
    header, row = table.splitlines()[:2]
    assert f"{pid}/{HOSTILE_NAME_ESCAPED}" in row, table
    assert row.index("this machine only") == header.index("Note"), table
    assert f"is LISTEN  {pid}/{HOSTILE_NAME_ESCAPED}" in watch, watch


def test_bad_options_exit_2():
    r = conns("--state", "sleepy", check=False)
    assert r.returncode == 2 and r.stderr.startswith("nuri conns: --state sleepy: unknown state"), r.stderr
    assert r.stderr.count("\n") == 1
    r = conns("--watch", "--json", check=False)
    assert r.returncode == 2 and r.stderr == "nuri conns: --watch prints lines of changes; it cannot be combined with --json\n"
    r = conns("--port", "70000", check=False)
    assert r.returncode == 2 and r.stderr.startswith("nuri conns: --port"), r.stderr
