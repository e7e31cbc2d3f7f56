"""Machinery for the black-box tests of `nuri forward`.

`Forwarder` runs the real binary (optionally inside a network namespace), reads the listening
address from its banner and the per-connection log from a file, and at the end checks what the
`nuri serve` fixture checks: descriptors back to their count at start once every client is gone,
no child processes, exit 0 on SIGTERM, no sanitizer report. `Target` is a scriptable TCP server
on loopback that records the connections it accepted.
"""
from __future__ import annotations

import collections
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from nuri_helpers import SANITIZER_MARKERS, TIME_SCALE, _ppid_of, nuri_bin, valgrind_errors
# A loopback port nothing listens on (bound, then closed).
from upstreams import free_port as closed_port  # noqa: F401 - for the forwarder tests
from upstreams import rst_close  # noqa: F401 - for the forwarder tests

BANNER_RE = re.compile(r"listening on (\[[0-9A-Fa-f:.]+\]|[\d.]+):(\d+) ")
LOG_FIELD_RE = re.compile(r"(\w+)=(\S+)")


def fd_kinds(pid: int) -> collections.Counter:
    """Counts of a process's descriptors by kind: socket, pipe, anon_inode:[eventpoll], paths."""
    kinds = collections.Counter()
    d = f"/proc/{pid}/fd"
    for fd in os.listdir(d):
        try:
            target = os.readlink(f"{d}/{fd}")
        except OSError:
            continue
        kinds[target.split(":")[0] if target.startswith(("socket:", "pipe:")) else target] += 1
    return kinds


def read_outcome(sock, timeout: float):
    """('eof'|'rst'|'timeout', data received before it)."""
    sock.settimeout(timeout)
    data = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return "eof", bytes(data)
            data += chunk
    except ConnectionResetError:
        return "rst", bytes(data)
    except socket.timeout:
        return "timeout", bytes(data)


class Forwarder:
    """One `nuri forward LISTEN TARGET ARGS...` process."""

    def __init__(self, workdir: Path, listen: str, target: str, *args, netns: str = None,
                 preexec_fn=None):
        self.workdir = Path(workdir)
        self.preexec_fn = preexec_fn  # run in the child before exec (e.g. to lower an rlimit)
        self.log_path = Path(tempfile.mkstemp(prefix="forward-log-", suffix=".txt", dir=workdir)[1])
        self.stderr_path = Path(tempfile.mkstemp(prefix="forward-err-", suffix=".txt", dir=workdir)[1])
        self.cmd = [str(nuri_bin()), "forward", listen, target, "--log", str(self.log_path),
                    *map(str, args)]
        if netns:
            self.cmd = ["ip", "netns", "exec", netns, *self.cmd]
        self.grace = float(args[list(args).index("--grace-period") + 1]) \
            if "--grace-period" in args else 10.0
        self.proc = None
        self.returncode = None
        self.addr = None
        self.baseline = None
        self.stdout = ""

    def start(self, timeout: float = 5.0) -> "Forwarder":
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err, cwd=self.workdir,
                                         preexec_fn=self.preexec_fn)
        deadline = time.monotonic() + timeout * TIME_SCALE
        lines = []
        # The banner ends with the workers line; os.read on the raw pipe keeps it non-buffered.
        buf = b""
        while b"worker(s)" not in buf and time.monotonic() < deadline:
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
        self.stdout = buf.decode("utf-8", "replace")
        lines = self.stdout.splitlines()
        m = next((BANNER_RE.search(line) for line in lines if BANNER_RE.search(line)), None)
        if not m or b"worker(s)" not in buf:
            self.proc.kill()
            self.proc.wait()
            self.returncode = self.proc.returncode
            raise AssertionError(f"nuri forward did not start: {self.cmd}\nstdout: {self.stdout}\n"
                                 f"stderr: {self.stderr()}")
        self.addr = (m[1].strip("[]"), int(m[2]))
        self.baseline = self._stable_fds()
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return self.addr[1]

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- clients -------------------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> socket.socket:
        assert self.alive(), f"nuri forward exited: {self.stderr()[-2000:]}"
        host, port = self.addr
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout * TIME_SCALE)
        s.connect((host, port))
        return s

    # -- the connection log --------------------------------------------------------------------
    def log_entries(self) -> list:
        """Every complete log line so far, as a dict of its key=value fields (plus 'time')."""
        out = []
        for line in self.log_path.read_text("utf-8", "replace").splitlines():
            fields = dict(LOG_FIELD_RE.findall(line))
            fields["time"] = line.split(" ", 1)[0]
            out.append(fields)
        return out

    def wait_log(self, count: int = 1, timeout: float = 5.0, **match) -> list:
        """Waits until `count` log lines have every field of `match`; returns them."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            found = [e for e in self.log_entries()
                     if all(e.get(k) == str(v) for k, v in match.items())]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, (f"expected {count} log line(s) with {match}; log:\n"
                                             f"{self.log_path.read_text()}")
                return found
            time.sleep(0.02)

    # -- leak checks and shutdown --------------------------------------------------------------
    def _stable_fds(self):
        prev = None
        deadline = time.monotonic() + 1.0 * TIME_SCALE
        while time.monotonic() < deadline:
            snap = fd_kinds(self.pid)
            if snap == prev:
                return snap
            prev = snap
            time.sleep(0.03)
        return prev

    def _leaks(self):
        now, base = fd_kinds(self.pid), self.baseline
        return [f"{k}: {n} open, {base.get(k, 0)} at start" for k, n in now.items()
                if n > base.get(k, 0)]

    def check_leaks(self, timeout: float = 4.0):
        """Every connection is over: descriptors back to the count at start (the pool of empty
        pipes is given back after a second without connections), no child processes."""
        assert self.alive(), f"nuri forward exited with {self.proc.returncode}: {self.stderr()[-3000:]}"
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            problems = self._leaks()
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not problems, "fd leak after all connections ended: " + "; ".join(problems)
        children = [p for p in os.listdir("/proc") if p.isdigit() and _ppid_of(p) == self.pid]
        assert not children, f"nuri forward has child processes: {children}"

    def stop(self, check_leaks: bool = True):
        errors = []
        if self.proc is None or self.returncode is not None:
            return
        if self.alive() and check_leaks:
            try:
                self.check_leaks()
            except AssertionError as e:
                errors.append(str(e))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait((self.grace + 5) * TIME_SCALE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.returncode = self.proc.wait()
                errors.append(f"nuri forward did not exit within {self.grace + 5}s of SIGTERM")
        else:
            self.returncode = self.proc.returncode
            errors.append(f"nuri forward died during the test with status {self.returncode}")
        self.proc.stdout.close()
        if self.returncode not in (0, None) and not errors:
            errors.append(f"nuri forward exited with status {self.returncode} after SIGTERM")
        err = self.stderr()
        if any(m in err for m in SANITIZER_MARKERS):
            errors.append("sanitizer report on stderr")
        memcheck = valgrind_errors(self.pid)
        if memcheck:
            errors.append("valgrind memcheck found errors:\n" + memcheck[-6000:])
        if errors:
            raise AssertionError("; ".join(errors) + f"\ncmd: {self.cmd}\nstderr:\n{err[-4000:]}")


class Target:
    """A TCP server on 127.0.0.1:0 (or `host`:`port`) that hands each accepted connection to
    `handler(sock)` on its own thread and records it; `accepted` counts connections, `errors`
    collects exceptions."""

    def __init__(self, handler, backlog: int = 128, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.errors = []
        self.results = []
        self.conns = []
        self._stop = False
        self._threads = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _accept_loop(self):
        self.sock.settimeout(0.05)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn):
        conn.settimeout(30 * TIME_SCALE)
        try:
            result = self.handler(conn)
            with self._lock:
                self.results.append(result)
        except Exception as e:  # noqa: BLE001 - reported by the test
            with self._lock:
                self.errors.append(e)

    def wait_results(self, count: int = 1, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.results) + len(self.errors) >= count:
                    break
            time.sleep(0.01)
        with self._lock:
            return list(self.results)

    def close(self):
        self._stop = True
        self._acceptor.join(2)
        self.sock.close()
        for t in self._threads:
            t.join(5 * TIME_SCALE)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def echo(conn):
    """Sends back what it receives until EOF, then closes."""
    total = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        conn.sendall(data)
        total += len(data)
    conn.close()
    return total


def recv_all(sock, limit: int = 1 << 30) -> bytes:
    out = bytearray()
    while len(out) < limit:
        data = sock.recv(1 << 18)
        if not data:
            break
        out += data
    return bytes(out)


def _stream_out(sock, size: int, seed: bytes, out: dict, pace=None):
    """Sends `size` bytes (then FIN): 1 MiB chunks of random bytes, each starting with its own
    number, so that no two chunks are alike. out['sent'] = (sha256 hex, bytes sent).
    `pace(number)`, when given, is called before each chunk and may wait."""
    try:
        chunk = bytearray(random.Random(seed).randbytes(1 << 20))
        view = memoryview(chunk)
        h, sent, number = hashlib.sha256(), 0, 0
        while sent < size:
            if pace:
                pace(number)
            chunk[0:8] = number.to_bytes(8, "little")
            part = view[:min(len(chunk), size - sent)]
            h.update(part)
            sock.sendall(part)
            sent += len(part)
            number += 1
        sock.shutdown(socket.SHUT_WR)
        out["sent"] = (h.hexdigest(), sent)
    except Exception as e:  # noqa: BLE001 - re-raised by stream_both_ways
        out["error"] = e


def stream_both_ways(sock, size: int, seed: bytes, pace=None):
    """Sends `size` bytes and FIN on `sock` while receiving until its FIN, both at once
    (`pace`: see _stream_out). Returns ((sha256, bytes) sent, (sha256, bytes) received)."""
    out = {}
    sender = threading.Thread(target=_stream_out, args=(sock, size, seed, out, pace), daemon=True)
    sender.start()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    h, got = hashlib.sha256(), 0
    while True:
        n = sock.recv_into(buf)
        if not n:
            break
        h.update(view[:n])
        got += n
    sender.join()
    if "error" in out:
        raise out["error"]
    return out["sent"], (h.hexdigest(), got)


def run_cmd(*args, check=True, timeout=20):
    p = subprocess.run([str(a) for a in args], capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{args}: exit {p.returncode}\n{p.stderr.decode(errors='replace')}")
    return p


# The lecture's lab: client -> router:65535 -> server 192.168.17.17:80 (test_forward, test_doctor).
@pytest.fixture
def lab(tmp_path):
    """Three namespaces (client, router, server) joined by two veth links; deleted afterwards
    whatever happens. Router and server are on 192.168.17.0/24, client and router on a /24 of
    10.200.0.0/16; the client has no route to 192.168.17.0/24."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2 (CI runs as root)")
    tag = f"{os.getpid() % 10000}{int(time.monotonic() * 1000) % 1000}"
    names = {role: f"nf{role[0]}{tag}" for role in ("client", "router", "server")}
    net = f"10.200.{os.getpid() % 250}"
    made = []
    try:
        for ns in names.values():
            run_cmd("ip", "netns", "add", ns)
            made.append(ns)
            run_cmd("ip", "-n", ns, "link", "set", "lo", "up")
        c, r, s = names["client"], names["router"], names["server"]
        # Create each veth pair inside one namespace and move its other end: nothing touches
        # the host's own interfaces.
        run_cmd("ip", "-n", c, "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", r)
        run_cmd("ip", "-n", s, "link", "add", "eth0", "type", "veth", "peer", "name", "lan1", "netns", r)
        for ns, dev, addr in ((c, "eth0", f"{net}.2/24"), (r, "lan0", f"{net}.1/24"),
                              (r, "lan1", "192.168.17.1/24"), (s, "eth0", "192.168.17.17/24")):
            run_cmd("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            run_cmd("ip", "-n", ns, "link", "set", dev, "up")
        yield {"client": c, "router": r, "server": s, "router_ip": f"{net}.1", "client_ip": f"{net}.2"}
    finally:
        for ns in made:
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                      text=True).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except OSError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
