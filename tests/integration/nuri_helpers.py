"""Shared machinery for nuri's black-box integration tests.

Starts the real binary on port 0 and reads the port from its banner, speaks raw HTTP/1.1 over
sockets through a strict response parser (a malformed response fails the test), drives curl, and
after each test checks that the server leaked nothing (fds, child processes), exits 0 on SIGTERM
and printed no sanitizer report.
"""
from __future__ import annotations

import collections
import email.utils
import hashlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def nuri_bin() -> Path:
    """The binary under test: $NURI_BIN, relative paths taken from the repository root."""
    p = Path(os.environ.get("NURI_BIN", "build/release/nuri"))
    return p if p.is_absolute() else REPO_ROOT / p


def _detect_time_scale() -> float:
    """How much slower than a release build the binary is (ASan builds: ~3x)."""
    env = os.environ.get("NURI_TIME_SCALE")
    if env:
        return float(env)
    try:
        with open(nuri_bin(), "rb") as f:
            data = f.read()
    except OSError:
        return 1.0
    return 3.0 if (b"__asan_init" in data or b"__tsan_init" in data) else 1.0


TIME_SCALE = _detect_time_scale()
# Seconds a timeout may fire late before a test calls it a failure (a loaded 2-core machine).
SLACK = 2.5 * TIME_SCALE

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL")

# scripts/valgrind.sh runs the binary under memcheck through a wrapper (NURI_BIN) that writes one
# report per process, nuri.PID.valgrind, into this directory.
VALGRIND_LOGS = os.environ.get("NURI_VALGRIND_LOGS")


def socket_fds(pid: int) -> int:
    """How many sockets `pid` holds: one more for each connection it accepted."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass  # closed while we looked
    return n


def wait_for_sockets(pid: int, count: int, timeout: float = 3.0) -> None:
    """Waits (up to `timeout` seconds, scaled) until `pid` holds `count` sockets: its listeners
    and the connections it accepted."""
    deadline = time.monotonic() + timeout * TIME_SCALE
    while socket_fds(pid) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert socket_fds(pid) == count, f"nuri holds {socket_fds(pid)} sockets, not {count}"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of every thread of `pid`."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_no_busy_loop(pid: int, refused_client, name: str = "nuri"):
    """Out of descriptors for 2 s, with a client refused now and then (`refused_client()` makes
    one and checks its refusal): the process must sleep, not spin on a listener it cannot serve."""
    before = cpu_seconds(pid)
    for _ in range(4):
        time.sleep(0.5)
        refused_client()
    used = cpu_seconds(pid) - before
    assert used < 0.2 * TIME_SCALE, f"{name} used {used:.2f}s of CPU in 2 s while out of fds"
    return used


def nofile_limiter(limit: int):
    """A preexec_fn that lowers RLIMIT_NOFILE (soft and hard) to `limit` in the child."""
    def lower():
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return lower


def can_load_bpf() -> bool:
    """Whether a process started from here may load a BPF socket filter (what deals connections
    to nuri's workers in turn): CAP_BPF (39) or CAP_SYS_ADMIN (21) in effect, or a kernel that
    lets anyone load one."""
    try:
        with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
            if f.read().strip() == "0":
                return True
    except OSError:
        pass
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                return bool(effective & (1 << 39) or effective & (1 << 21))
    return False


def valgrind_errors(pid: int) -> str:
    """The memcheck report of process `pid` if it counted errors (definite leaks among them),
    else '' (also when not running under scripts/valgrind.sh)."""
    if not VALGRIND_LOGS:
        return ""
    try:
        text = Path(VALGRIND_LOGS, f"nuri.{pid}.valgrind").read_text("utf-8", "replace")
    except OSError:
        return ""
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    return text if m and int(m[1]) > 0 else ""


LISTEN_RE = re.compile(r"http://(\[[0-9A-Fa-f:.]+\]|\d+\.\d+\.\d+\.\d+):(\d+)/")
IMF_FIXDATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT")
TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
STATUS_LINE_RE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3}) ([\t\x20-\x7e\x80-\xff]*)")
FIELD_LINE_RE = re.compile(rb"(" + TCHAR + rb"+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*")


# 1000 bytes where every 5-byte record differs, so a range off by one shows.
LETTERS = b"".join(b"%04d\n" % i for i in range(200))


class ProtocolError(AssertionError):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(text: str) -> float:
    return email.utils.parsedate_to_datetime(text).timestamp()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Responses


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # [(name, value)] in order, names as sent
    body: bytes = b""
    head: bytes = b""

    def all(self, name: str) -> list:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def has(self, name: str) -> bool:
        return bool(self.all(name))

    def header(self, name: str):
        """The value of a field that must appear at most once (None when absent)."""
        values = self.all(name)
        if not values:
            return None
        assert len(values) == 1, f"header {name} appears {len(values)} times: {values}\n{self}"
        return values[0]

    def tokens(self, name: str) -> set:
        """Lower-cased comma-separated tokens of every field `name` (Connection, Allow...)."""
        out = set()
        for v in self.all(name):
            out.update(t.strip().lower() for t in v.split(",") if t.strip())
        return out

    def __str__(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return self.head.decode("latin-1") + "\r\n\r\n" + repr(body)


def parse_head(head: bytes) -> Response:
    lines = head.split(b"\r\n")
    m = STATUS_LINE_RE.fullmatch(lines[0])
    if not m:
        raise ProtocolError(f"malformed status line {lines[0]!r} in {head[:500]!r}")
    headers = []
    for line in lines[1:]:
        fm = FIELD_LINE_RE.fullmatch(line)
        if not fm:
            raise ProtocolError(f"malformed response header line {line!r} in {head[:800]!r}")
        headers.append((fm[1].decode(), fm[2].decode("latin-1")))
    return Response(f"HTTP/{m[1].decode()}.{m[2].decode()}", int(m[3]), m[4].decode("latin-1"),
                    headers, b"", head)


def _framing(resp: Response, method: str):
    """How the body of `resp` is delimited: ('none'|'length'|'chunked'|'close', length)."""
    if 100 <= resp.status < 200 or resp.status in (204, 304) or method == "HEAD":
        return "none", 0
    te = resp.all("Transfer-Encoding")
    if te:
        codings = [c.strip().lower() for v in te for c in v.split(",")]
        return ("chunked", 0) if codings[-1] == "chunked" else ("close", 0)
    cl = resp.all("Content-Length")
    if cl:
        if len(set(cl)) != 1 or not re.fullmatch(r"\d+", cl[0]):
            raise ProtocolError(f"invalid Content-Length {cl}:\n{resp.head!r}")
        return "length", int(cl[0])
    return "close", 0


def _decode_chunked(buf: bytes, pos: int):
    """(body, end) of a chunked body starting at `pos`, or (None, 0) while incomplete."""
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size_text = buf[pos:eol].split(b";")[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
            raise ProtocolError(f"bad chunk size line {buf[pos:eol]!r}")
        size = int(size_text, 16)
        pos = eol + 2
        if size == 0:
            while True:  # trailers up to the empty line
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return None, 0
                if eol == pos:
                    return bytes(body), eol + 2
                pos = eol + 2
        if len(buf) < pos + size + 2:
            return None, 0
        body += buf[pos:pos + size]
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise ProtocolError("chunk data not followed by CRLF")
        pos += size + 2


def parse_response(buf: bytes, method: str = "GET", eof: bool = False):
    """Parses one response at the start of `buf`: (Response, bytes used), or (None, n) while
    incomplete, n being how many bytes are needed at least (0 when not known)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, 0
    resp = parse_head(bytes(buf[:end]))
    pos = end + 4
    kind, n = _framing(resp, method)
    if kind == "none":
        return resp, pos
    if kind == "length":
        if len(buf) - pos < n:
            return None, pos + n
        resp.body = bytes(buf[pos:pos + n])
        return resp, pos + n
    if kind == "chunked":
        body, used = _decode_chunked(buf, pos)
        if body is None:
            return None, 0
        resp.body = body
        return resp, used
    if not eof:
        return None, 0
    resp.body = bytes(buf[pos:])
    return resp, len(buf)


def parse_all_responses(data: bytes, methods) -> list:
    """Parses a whole transcript that ended with EOF; `methods`: one per expected response."""
    out, pos = [], 0
    methods = list(methods)
    while pos < len(data):
        method = methods[len(out)] if len(out) < len(methods) else "GET"
        resp, used = parse_response(data[pos:], method, eof=True)
        if resp is None:
            raise ProtocolError(f"truncated response at byte {pos}: {data[pos:pos + 300]!r}")
        out.append(resp)
        pos += used
    return out


def validate_response(resp: Response, method: str = "GET", server_tokens: bool = False) -> None:
    """What every final response must satisfy (the contract's 'Every response' rules)."""
    if resp.status < 200:
        return
    date = resp.header("Date")
    assert date is not None, f"response without Date:\n{resp}"
    assert IMF_FIXDATE_RE.fullmatch(date), f"Date is not an IMF-fixdate: {date!r}"
    if server_tokens:
        server = resp.header("Server")
        assert server and re.fullmatch(r"nuri/\d+(\.\d+)*\S*", server), f"Server: {server!r}"
    else:
        assert not resp.has("Server"), f"Server header sent without --server-tokens:\n{resp}"
    if resp.status == 204:
        # RFC 9110 §8.6: a server MUST NOT send Content-Length in a 204.
        assert not resp.has("Content-Length") and not resp.has("Transfer-Encoding"), str(resp)
    elif method != "HEAD" and resp.status != 304:
        assert resp.has("Content-Length") or "chunked" in resp.tokens("Transfer-Encoding"), \
            f"response framed by connection close (no Content-Length):\n{resp}"


# ----------------------------------------------------------------------------------------------
# Requests and connections


def req(path: str = "/", method: str = "GET", headers=(), host="localhost",
        version: str = "HTTP/1.1", body: bytes = b"") -> bytes:
    """Builds a request. Adds Host (unless host is None) and Content-Length for a body."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    lines = [f"{method} {path} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in items]
    names = {k.lower() for k, _ in items}
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Conn:
    """A client connection with a read buffer and a strict response reader."""

    def __init__(self, sock: socket.socket, server_tokens: bool = False):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False
        self.server_tokens = server_tokens
        self.interim = []  # 1xx responses skipped by read_response

    def send(self, data: bytes) -> bool:
        """Sends everything; False if the server had already closed (reset/broken pipe)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline: float) -> bool:
        """Reads more bytes; False on EOF; raises TimeoutError at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 18)
        except socket.timeout:
            raise TimeoutError from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_response(self, method: str = "GET", timeout: float = 5.0, validate: bool = True,
                      interim: bool = False) -> Response:
        """The next response. 1xx responses are skipped (kept in .interim) unless `interim`."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        need = 0
        while True:
            resp, used = (None, need) if len(self.buf) < need else \
                parse_response(self.buf, method, self.eof)
            need = 0 if resp is not None else used
            if resp is not None:
                del self.buf[:used]
                if resp.status < 200 and not interim:
                    self.interim.append(resp)
                    continue
                if validate:
                    validate_response(resp, method, self.server_tokens)
                return resp
            if self.eof:
                raise ProtocolError("connection closed before a complete response; received "
                                    f"{bytes(self.buf)[:600]!r}")
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(f"no complete response within {timeout * TIME_SCALE:.1f}s; "
                                     f"received {bytes(self.buf)[:600]!r}") from None

    def read_head(self, timeout: float = 5.0) -> Response:
        """Reads only the head of the next response; body bytes stay in .buf."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                resp = parse_head(bytes(self.buf[:end]))
                del self.buf[:end + 4]
                return resp
            if self.eof:
                raise ProtocolError(f"closed before a response head: {bytes(self.buf)[:300]!r}")
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(f"no response head: {bytes(self.buf)[:300]!r}") from None

    def read_until_close(self, timeout: float = 5.0):
        """(data, closed): everything until EOF, or what came before the timeout."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        while not self.eof:
            try:
                self._fill(deadline)
            except TimeoutError:
                break
        data = bytes(self.buf)
        self.buf.clear()
        return data, self.eof

    def assert_closed(self, timeout: float = 3.0) -> None:
        """The server closes the connection without sending anything more."""
        data, closed = self.read_until_close(timeout)
        assert data == b"", f"unexpected bytes after the response: {data[:500]!r}"
        assert closed, "server did not close the connection"

    def assert_open(self, quiet: float = 0.2) -> None:
        """Nothing arrives and the connection stays open for `quiet` seconds."""
        deadline = time.monotonic() + quiet
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            pass
        assert not self.eof, "server closed a connection that should stay open"
        assert not self.buf, f"unexpected bytes: {bytes(self.buf)[:300]!r}"

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# The server process


def _ppid_of(pid: str):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split()[1])


class NuriServer:
    """One `nuri serve` process. Use through the `nuri` fixture, which stops and checks it."""

    def __init__(self, args, workdir: Path, root=None, listen=("127.0.0.1:0",), env=None,
                 preexec_fn=None):
        self.args = [str(a) for a in args]
        # Relative roots are relative to the server's working directory, `workdir`.
        self.root = (Path(workdir) / root).resolve() if root is not None else None
        self.cmd = [str(nuri_bin()), "serve"]
        for addr in listen:
            self.cmd += ["--listen", addr]
        if root is not None:
            self.cmd += ["--root", str(root)]
        self.cmd += self.args
        self.n_listeners = len(listen)
        self.server_tokens = "--server-tokens" in self.args
        self.workers = int(self._opt("--workers", os.cpu_count() or 1))
        self.grace = float(self._opt("--grace-period", 10))
        self.workdir = workdir
        self.env = env
        self.preexec_fn = preexec_fn  # run in the child before exec (e.g. to lower an rlimit)
        self.proc = None
        self.addrs = []  # [(host, port)] in banner order
        self.stdout_lines = []
        self._cv = threading.Condition()
        self._stdout_eof = False
        self.clients = []
        self.baseline = None
        self.returncode = None
        self.stderr_path = None

    def _opt(self, name, default):
        return self.args[self.args.index(name) + 1] if name in self.args else default

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 5.0) -> "NuriServer":
        binary = nuri_bin()
        assert binary.exists(), (f"nuri binary not found at {binary}: build it (make build) or "
                                 "set NURI_BIN")
        fd, name = tempfile.mkstemp(prefix="nuri-stderr-", suffix=".txt", dir=self.workdir)
        self.stderr_path = Path(name)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=fd, cwd=self.workdir, env=self.env,
                                     preexec_fn=self.preexec_fn)
        os.close(fd)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout * TIME_SCALE
        with self._cv:
            while True:
                self.addrs = [(m[1].strip("[]"), int(m[2])) for line in self.stdout_lines
                              for m in [LISTEN_RE.search(line)] if m]
                if len(self.addrs) >= self.n_listeners or self._stdout_eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
        if len(self.addrs) < self.n_listeners:
            self.proc.kill()
            self.proc.wait()
            self.returncode = self.proc.returncode
            raise AssertionError(f"nuri did not print {self.n_listeners} listening URL(s) within "
                                 f"{timeout * TIME_SCALE}s: {self.cmd}\nstdout: {self.stdout_lines}"
                                 f"\nstderr: {self.stderr()}")
        self.baseline = self._stable_snapshot()
        return self

    def _read_stdout(self):
        for line in iter(self.proc.stdout.readline, b""):
            with self._cv:
                self.stdout_lines.append(line.decode("utf-8", "replace"))
                self._cv.notify_all()
        with self._cv:
            self._stdout_eof = True
            self._cv.notify_all()

    def stdout(self) -> str:
        with self._cv:
            return "".join(self.stdout_lines)

    def wait_stdout(self, pattern: str, timeout: float = 3.0) -> bool:
        deadline = time.monotonic() + timeout * TIME_SCALE
        with self._cv:
            while not re.search(pattern, "".join(self.stdout_lines)):
                left = deadline - time.monotonic()
                if left <= 0 or self._stdout_eof:
                    return bool(re.search(pattern, "".join(self.stdout_lines)))
                self._cv.wait(left)
        return True

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), (f"nuri exited with {self.proc.returncode}; stderr:\n"
                              f"{self.stderr()[-3000:]}")

    def send_signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            self.returncode = self.proc.wait(timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(2)
        return self.returncode

    def stop(self, check_leaks: bool = True, sig=signal.SIGTERM) -> int:
        """Checks for leaks, sends SIGTERM and asserts a clean exit 0 without sanitizer output."""
        errors = []
        if self.proc is None:
            return None
        if self.returncode is None and self.alive() and check_leaks:
            try:
                self.check_leaks()
            except AssertionError as e:
                errors.append(str(e))
        for c in self.clients:
            c.close()
        if self.returncode is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                if self.wait_exit(self.grace + 5) is None:
                    self.proc.kill()
                    self.proc.wait()
                    self.returncode = self.proc.returncode
                    errors.append(f"nuri did not exit within {self.grace + 5}s of {sig.name}")
            else:
                self.returncode = self.proc.returncode
                errors.append(f"nuri died during the test with status {self.returncode}")
        if self.returncode not in (0, None) and not errors:
            errors.append(f"nuri exited with status {self.returncode} after {sig.name}")
        err = self.stderr()
        if any(m in err for m in SANITIZER_MARKERS):
            errors.append("sanitizer report on stderr")
        memcheck = valgrind_errors(self.pid)
        if memcheck:
            errors.append("valgrind memcheck found errors:\n" + memcheck[-6000:])
        if errors:
            raise AssertionError("; ".join(errors) + f"\ncmd: {self.cmd}\nstderr:\n{err[-4000:]}")
        return self.returncode

    # -- leak checks --------------------------------------------------------------------------
    def fd_snapshot(self):
        """(kinds, files): counts of socket/pipe/anon-inode fds, and of fds per file path."""
        kinds, files = collections.Counter(), collections.Counter()
        d = f"/proc/{self.pid}/fd"
        for fd in os.listdir(d):
            try:
                target = os.readlink(f"{d}/{fd}")
            except OSError:
                continue
            if target.startswith(("socket:", "pipe:")):
                kinds[target.split(":")[0]] += 1
            elif target.startswith("anon_inode:"):
                kinds[target] += 1
            else:
                files[target] += 1
        return kinds, files

    def _stable_snapshot(self):
        prev = None
        deadline = time.monotonic() + 1.0 * TIME_SCALE
        while time.monotonic() < deadline:
            snap = self.fd_snapshot()
            if snap == prev:
                return snap
            prev = snap
            time.sleep(0.03)
        return prev

    def _leaks(self):
        kinds, files = self.fd_snapshot()
        base_kinds, base_files = self.baseline
        problems = []
        for k, n in kinds.items():
            if n > base_kinds.get(k, 0):
                problems.append(f"{k}: {n} open, {base_kinds.get(k, 0)} at start")
        root = str(self.root) if self.root else None
        for path, n in files.items():
            # An open-file cache may keep docroot files open: at most one per worker.
            limit = base_files.get(path, 0)
            if root and path.startswith(root + "/"):
                limit = max(limit, self.workers)
            if n > limit:
                problems.append(f"{path}: {n} fds open (allowed {limit})")
        return problems

    def check_leaks(self, timeout: float = 3.0):
        """After closing every client: fds back to the baseline, and no child processes."""
        for c in self.clients:
            c.close()
        self.clients.clear()
        self.assert_alive()
        deadline = time.monotonic() + timeout * TIME_SCALE
        while True:
            problems = self._leaks()
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not problems, "fd leak after all clients closed: " + "; ".join(problems)
        children = [p for p in os.listdir("/proc") if p.isdigit() and _ppid_of(p) == self.pid]
        assert not children, f"nuri has child processes: {children}"

    # -- clients ------------------------------------------------------------------------------
    def addr(self, i: int = 0):
        return self.addrs[i]

    @property
    def port(self) -> int:
        return self.addrs[0][1]

    def url(self, path: str = "/", i: int = 0) -> str:
        host, port = self.addrs[i]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{path}"

    def connect(self, i: int = 0, timeout: float = 5.0, rcvbuf: int = None,
                source_port: int = None) -> Conn:
        self.assert_alive()
        host, port = self.addrs[i]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source_port:  # not from the ephemeral range (a test may have made it tiny)
            s.bind((host, source_port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout * TIME_SCALE)
        s.connect((host, port))
        c = Conn(s, self.server_tokens)
        self.clients.append(c)
        return c

    def request(self, data: bytes, method: str = "GET", timeout: float = 5.0,
                validate: bool = True) -> Response:
        """Sends `data` on a new connection and returns the first final response."""
        c = self.connect()
        c.send(data)
        try:
            return c.read_response(method, timeout, validate)
        finally:
            c.close()

    def get(self, path: str, method: str = "GET", headers=(), **kw) -> Response:
        return self.request(req(path, method, headers, **kw), method)

    def request_raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Sends `data` and returns every byte until the server closes (or the timeout)."""
        c = self.connect()
        c.send(data)
        out, _ = c.read_until_close(timeout)
        c.close()
        return out

    def exchange(self, data: bytes, methods=("GET",), timeout: float = 5.0) -> list:
        """Sends `data` (e.g. pipelined requests) and reads one response per method."""
        c = self.connect()
        c.send(data)
        try:
            return [c.read_response(m, timeout) for m in methods]
        finally:
            c.close()


# ----------------------------------------------------------------------------------------------
# curl


@dataclass
class CurlResult:
    rc: int
    responses: list  # every response head curl saw (1xx included), in order
    body: bytes
    stderr: str
    stdout: str = ""

    @property
    def final(self) -> Response:
        assert self.responses, f"curl got no response (rc={self.rc}): {self.stderr}"
        return self.responses[-1]

    @property
    def status(self) -> int:
        return self.final.status

    def header(self, name: str):
        return self.final.header(name)

    def __str__(self):
        return f"rc={self.rc} {self.final if self.responses else ''}\nstderr: {self.stderr[-1500:]}"


def curl_env() -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = tempfile.gettempdir()  # no ~/.curlrc
    return env


def curl(url: str, *args, out: str = None, timeout: float = 30.0, server_tokens: bool = False,
         validate: bool = True) -> CurlResult:
    """Runs curl on `url`; the body goes to `out` when given (then .body is empty)."""
    with tempfile.TemporaryDirectory() as d:
        hdr = os.path.join(d, "headers")
        body_path = out or os.path.join(d, "body")
        cmd = ["curl", "-q", "-sS", "-g", "--noproxy", "*", "--max-time", str(timeout * TIME_SCALE),
               "-D", hdr, "-o", body_path, *args, url]
        p = subprocess.run(cmd, capture_output=True, timeout=timeout * TIME_SCALE + 10,
                           env=curl_env())
        heads = []
        if os.path.exists(hdr):
            raw = Path(hdr).read_bytes()
            heads = [parse_head(block) for block in raw.split(b"\r\n\r\n") if block.strip()]
        body = b""
        if out is None and os.path.exists(body_path):
            body = Path(body_path).read_bytes()
    result = CurlResult(p.returncode, heads, body, p.stderr.decode("utf-8", "replace"),
                        p.stdout.decode("utf-8", "replace"))
    if heads:
        heads[-1].body = body
        if validate:
            head_only = any(a in ("-I", "--head") for a in args) or \
                any(a == "HEAD" for a in args)
            validate_response(heads[-1], "HEAD" if head_only else "GET", server_tokens)
    return result


def start_example(nuri, name: str, *args, root=None) -> "NuriServer":
    """Starts build/<type>/nuri-example-NAME (a libnuri back end in examples/) on 127.0.0.1:0
    through the `nuri` fixture, so that its teardown checks (fd leaks, clean exit, sanitizer
    reports) apply. `root`: where its static files are (their cached fds are allowed)."""
    binary = nuri_bin().parent / f"nuri-example-{name}"
    assert binary.exists(), f"{binary} is not built (cmake target nuri-example-{name})"
    s = nuri(listen=(), run=False)
    s.cmd = [str(binary), "127.0.0.1:0", *map(str, args)]
    s.n_listeners = 1
    if root is not None:
        s.root = Path(root).resolve()
    return s.start()


def read_to_close(sock) -> bytes:
    """Every byte until the peer closes; a reset (the peer closed with our bytes unread) ends
    the read like a FIN."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def run_nuri(*args, timeout: float = 10.0, cwd=None) -> subprocess.CompletedProcess:
    """Runs the binary to completion (for --help and bad usage)."""
    return subprocess.run([str(nuri_bin()), *map(str, args)], capture_output=True,
                          timeout=timeout * TIME_SCALE, stdin=subprocess.DEVNULL, cwd=cwd)


def free_port_holder(host: str = "127.0.0.1"):
    """A listening socket on an ephemeral port (without SO_REUSEPORT): (socket, port)."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    return s, s.getsockname()[1]


def have_ipv6_loopback() -> bool:
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def parse_multipart_byteranges(body: bytes, boundary: str) -> list:
    """[(headers dict lower-cased, data)] of a multipart/byteranges body (RFC 9110 §14.6)."""
    delim = b"\r\n--" + boundary.encode()
    if body.startswith(delim[2:]):
        body = b"\r\n" + body
    pieces = body.split(delim)
    assert pieces[0] == b"", f"unexpected preamble {pieces[0][:100]!r}"
    last = pieces[-1]
    assert last.startswith(b"--"), f"no closing delimiter: {body[-200:]!r}"
    assert last[2:] in (b"", b"\r\n"), f"junk after the closing delimiter: {last!r}"
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n"), f"part does not start with CRLF: {piece[:60]!r}"
        head_end = piece.find(b"\r\n\r\n", 2)
        assert head_end >= 0, f"part without header end: {piece[:200]!r}"
        headers = {}
        for line in piece[2:head_end].split(b"\r\n"):
            if not line:
                continue
            name, _, value = line.partition(b":")
            headers[name.decode().strip().lower()] = value.decode().strip()
        parts.append((headers, piece[head_end + 4:]))
    return parts
