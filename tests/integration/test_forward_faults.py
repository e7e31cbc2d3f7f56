"""Faults around `nuri forward` (the reliability issue): 1,000 connections opened and killed at
random while a sha256-checked transfer runs on another one, and a target process that dies in
the middle of a transfer. (Single resets either way are in test_forward.py.) The `forward`
fixture checks at the end that descriptors are back to their count at start, there is no child
process, SIGTERM exits 0 and there is no sanitizer report."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from forward_helpers import closed_port, echo, read_outcome, rst_close, stream_both_ways
from nuri_helpers import TIME_SCALE

MIB = 1 << 20
TRANSFER = 256 * MIB
CHURN = 1000


def _one_echo(f, payload: bytes) -> bytes:
    c = f.connect()
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)
    data, _ = b"", None
    c.settimeout(5 * TIME_SCALE)
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.close()
    return data


def _churn_target(conn):
    """What the churning connections meet: the first byte says how the target behaves."""
    try:
        kind = conn.recv(1)
        if kind == b"e":  # echo until the client is gone, however it went
            echo(conn)
        elif kind == b"r":  # the target resets after echoing a little
            conn.sendall(conn.recv(4096))
            rst_close(conn)
            return "target-rst"
        elif kind == b"s":  # the target sends without reading: data queued toward the client
            conn.settimeout(10 * TIME_SCALE)
            block = b"s" * 65536
            while True:
                conn.sendall(block)
    except OSError:
        pass  # the client's reset, passed on by nuri: what this test is made of
    finally:
        conn.close()
    return "churn"


def _target(conn):
    """The transfer connection says TRANSFER first; every other one is churn."""
    try:
        first = conn.recv(1, socket.MSG_PEEK)
    except OSError:  # a churning client's reset, passed on before it sent anything
        conn.close()
        return "churn"
    if first == b"T":
        assert conn.recv(8, socket.MSG_WAITALL) == b"TRANSFER"
        return ("transfer", stream_both_ways(conn, TRANSFER, seed=b"target", pace=_pace))
    return _churn_target(conn)


class Churn:
    """Counts the churning connections done, so that the transfer can keep pace with them."""
    done = 0
    lock = threading.Lock()
    failed = None


def _pace(number: int):
    # Chunk `number` of 256 leaves only once that share of the churn is done: the transfer is
    # still running when the last churning connection is killed, whatever the machine's speed.
    deadline = time.monotonic() + 30 * TIME_SCALE
    while Churn.done < CHURN * number // (TRANSFER // MIB) and Churn.failed is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"churn stalled at {Churn.done}")
        time.sleep(0.002)


def _churn(f, seed: int, count: int, errors: list):
    rng = random.Random(seed)
    for _ in range(count):
        try:
            way = rng.randrange(6)
            s = f.connect()
            if way == 0:  # reset at once: before the target accepted, most of the time
                rst_close(s)
            elif way == 1:  # FIN at once
                s.close()
            elif way == 2:  # echo a little, then reset with our data still queued
                s.sendall(b"e" + os.urandom(rng.randrange(1, 8192)))
                s.recv(1)
                s.sendall(os.urandom(128 * 1024 if rng.random() < 0.5 else 100))
                rst_close(s)
            elif way == 3:  # the target streams toward us; we read some, then reset or FIN
                s.sendall(b"s")
                want = rng.randrange(1, 512 * 1024)
                got = 0
                while got < want:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += len(chunk)
                rst_close(s) if rng.random() < 0.7 else s.close()
            elif way == 4:  # the target resets
                s.sendall(b"r" + b"x" * 100)
                outcome, _ = read_outcome(s, 10 * TIME_SCALE)
                if outcome == "timeout":
                    errors.append("a target's reset did not reach the client")
                s.close()
            else:  # a clean echo, half-closed
                payload = b"e" + os.urandom(rng.randrange(1, 65536))
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                outcome, data = read_outcome(s, 10 * TIME_SCALE)
                if (outcome, data) != ("eof", payload[1:]):
                    errors.append(f"echo came back as {outcome} with {len(data)} bytes")
                s.close()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the target's data or reset raced with ours
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(repr(e))
            Churn.failed = e
        with Churn.lock:
            Churn.done += 1


def test_transfer_survives_1000_connections_killed_around_it(forward, targets):
    """256 MiB each way, sha256 at both ends, on one connection while 1,000 others, from 4
    threads, are reset or closed at random: at once, with data queued either way, mid-stream,
    by the target. The transfer is paced by the churn, so it spans all of it. Afterwards the
    forwarder accepts new connections and its descriptors are back to their count at start."""
    Churn.done, Churn.failed = 0, None
    t = targets(_target, backlog=1024)
    f = forward(t.address)
    c = f.connect(timeout=60)
    c.sendall(b"TRANSFER")
    errors = []
    threads = [threading.Thread(target=_churn, args=(f, seed, CHURN // 4, errors), daemon=True)
               for seed in range(4)]
    for th in threads:
        th.start()
    client_sent, client_got = stream_both_ways(c, TRANSFER, seed=b"client", pace=_pace)
    c.close()
    for th in threads:
        th.join(60 * TIME_SCALE)
    assert Churn.done == CHURN and not errors, errors[:10]
    deadline = time.monotonic() + 30 * TIME_SCALE
    while True:  # not every churning connection reaches the target: wait for the transfer only
        with t._lock:
            transfers = [r[1] for r in t.results if isinstance(r, tuple) and r[0] == "transfer"]
        if transfers or t.errors or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(transfers) == 1, f"{len(transfers)} transfers; target errors: {t.errors[:5]}"
    target_sent, target_got = transfers[0]
    assert client_sent[1] == TRANSFER and target_sent[1] == TRANSFER
    assert target_got == client_sent, "client -> target: what arrived is not what was sent"
    assert client_got == target_sent, "target -> client: what arrived is not what was sent"
    entries = f.wait_log(1, timeout=10, up=TRANSFER + 8, down=TRANSFER)
    assert entries[0]["end"] == "fin"
    assert _one_echo(f, b"e" + b"echo after the churn") == b"echo after the churn"  # "e": echo


# A target in a process of its own, so that it can die: it accepts on PORT and, per connection,
# reads whatever comes while sending 64 KiB blocks until the peer is gone ("stream"), or echoes.
TARGET_PROGRAM = r"""
import os, socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("ready", flush=True)
def serve(c):
    try:
        if mode == "echo":
            while (d := c.recv(65536)):
                c.sendall(d)
        else:
            threading.Thread(target=lambda: [None for _ in iter(lambda: c.recv(65536), b"")],
                             daemon=True).start()
            block = os.urandom(65536)
            while True:
                c.sendall(block)
    except OSError:
        pass
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def _target_process(mode: str, port: int) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", TARGET_PROGRAM, mode, str(port)],
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout.readline() == b"ready\n"
    return p


def test_target_killed_mid_transfer_ends_the_client_and_a_new_target_is_served(forward):
    """Both directions flowing when the target process is killed (SIGKILL): every client sees
    its connection end (reset or close) within seconds, not a hang; connecting while nothing
    listens is refused at once; a target started again on the port is served."""
    port = closed_port()
    processes = [_target_process("stream", port)]
    try:
        _target_killed(forward, port, processes)
    finally:
        for p in processes:
            p.kill()
            p.wait()


def _target_killed(forward, port, processes):
    target = processes[0]
    f = forward(f"127.0.0.1:{port}")
    clients = [f.connect() for _ in range(3)]
    stop_sending = threading.Event()

    def send_until_closed(s):
        block = b"c" * 65536
        try:
            while not stop_sending.is_set():
                s.sendall(block)
        except OSError:
            pass  # the end reached our side while sending

    senders = [threading.Thread(target=send_until_closed, args=(s,), daemon=True) for s in clients]
    for s in clients:
        s.settimeout(10 * TIME_SCALE)
        assert len(s.recv(65536)) > 0
    for th in senders:
        th.start()
    time.sleep(0.3)
    target.send_signal(signal.SIGKILL)
    target.wait()
    killed = time.monotonic()
    for s in clients:
        outcome, _ = read_outcome(s, 10 * TIME_SCALE)
        assert outcome in ("eof", "rst"), f"client still open {time.monotonic() - killed:.1f} s " \
                                          "after the target died"
    assert time.monotonic() - killed < 5 * TIME_SCALE
    stop_sending.set()
    for th in senders:
        th.join(5 * TIME_SCALE)
    for s in clients:
        s.close()
    ends = [e["end"] for e in f.wait_log(3, timeout=10)]
    assert set(ends) <= {"rst", "fin", "error"}, ends

    # Nothing listens now: refused, quickly.
    try:
        s = f.connect()
        outcome, _ = read_outcome(s, 3 * TIME_SCALE)
        s.close()
    except ConnectionResetError:
        outcome = "rst"
    assert outcome in ("rst", "eof")
    f.wait_log(1, timeout=5, end="refused")

    processes.append(_target_process("echo", port))
    assert _one_echo(f, b"new target") == b"new target"
