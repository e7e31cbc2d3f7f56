"""Real back ends for the black-box tests of nuri serve's reverse proxy.

- `EchoUpstream`: a threaded wsgiref server (HTTP/1.1 keep-alive, chunked responses when the app
  gives no length) whose app answers JSON describing the request it received (method, raw target,
  header lines in order, body length and sha256; chunked request bodies decoded), and serves
  `/big?mb=N` (deterministic bytes, `&chunked=1` without Content-Length), `/slow?s=N`, `/health`
  (status settable). It counts accepted connections and requests.
- `RawUpstream`: a python-socket server that misbehaves on purpose (malformed status line, a space
  before a colon, CL+TE, an oversized head, closing or hanging mid-body, hanging, resetting mid
  head, resetting after reading a request) or answers an upgrade with 101 and echoes bytes.
- `start_http_server(dir)`: `python3 -m http.server` on a directory.
- `start_nginx(dir)`: nginx on 127.0.0.1 with its own prefix, config and logs in a temp dir.

Every server binds 127.0.0.1 only and is stopped by its `stop()`, which also closes every
connection it accepted (so a proxy's pooled connections to it see the close).

Run alone for manual checks: `python3 upstreams.py echo|raw MODE|http DIR|nginx DIR`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

MIB = 1 << 20


# ----------------------------------------------------------------------------------------------
# Deterministic big bodies


def _base_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(MIB)


_BASE_CACHE = {}


def big_block(seed: int, i: int) -> bytes:
    """MiB number `i` of the deterministic stream `seed`: a random MiB with its number in front,
    so that a lost, repeated or reordered MiB changes the hash."""
    base = _BASE_CACHE.get(seed)
    if base is None:
        base = _BASE_CACHE[seed] = _base_block(seed)
    return struct.pack(">Q", i) + base[8:]


def big_digest(mb: int, seed: int = 1) -> str:
    h = hashlib.sha256()
    for i in range(mb):
        h.update(big_block(seed, i))
    return h.hexdigest()


def big_chunks(mb: int, seed: int = 1):
    for i in range(mb):
        yield big_block(seed, i)


# ----------------------------------------------------------------------------------------------
# Socket tracking shared by the servers


def rst_close(sock) -> None:
    """Closes with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Tracker:
    def __init__(self):
        self.lock = threading.Lock()
        self.open = set()
        self.accepted = 0

    def add(self, sock):
        with self.lock:
            self.accepted += 1
            self.open.add(sock)

    def discard(self, sock):
        with self.lock:
            self.open.discard(sock)

    def close_all(self, reset: bool = False):
        with self.lock:
            socks, self.open = list(self.open), set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if reset:
                rst_close(s)


# ----------------------------------------------------------------------------------------------
# The wsgiref echo upstream


class _ChunkingHandler(ServerHandler):
    """wsgiref's handler speaking HTTP/1.1: a response without Content-Length is chunked for an
    HTTP/1.1 request (wsgiref itself would only close-delimit it)."""

    http_version = "1.1"
    chunked = False

    def cleanup_headers(self):
        super().cleanup_headers()
        if "Content-Length" not in self.headers and self.status[:3] not in ("204", "304") \
                and not self.status.startswith("1"):
            if self.request_handler.request_version == "HTTP/1.1" and \
                    self.environ["REQUEST_METHOD"] != "HEAD":
                self.headers["Transfer-Encoding"] = "chunked"  # bypasses start_response's check
                self.chunked = True
            else:
                self.request_handler.close_connection = True
                self.headers["Connection"] = "close"

    def write(self, data):
        if not self.headers_sent:
            self.bytes_sent = 0
            self.send_headers()
        if self.chunked:
            if data:
                self._write(b"%x\r\n" % len(data) + data + b"\r\n")
                self._flush()
        else:
            self._write(data)
            self._flush()
        self.bytes_sent += len(data)

    def handle_error(self):
        self.request_handler.close_connection = True  # the stream may be mid-response
        super().handle_error()

    def log_exception(self, exc_info):
        pass

    def finish_content(self):
        if not self.headers_sent:
            if self.status[:3] not in ("204", "304"):
                self.headers.setdefault("Content-Length", "0")
            self.send_headers()
        elif self.chunked:
            self._write(b"0\r\n\r\n")
            self._flush()


class _KeepAliveRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.tracker.add(self.connection)

    def finish(self):
        self.server.tracker.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def get_environ(self):
        env = super().get_environ()
        env["echo.raw_target"] = self.path
        env["echo.header_lines"] = list(self.headers.items())
        env["echo.version"] = self.request_version
        return env

    def handle(self):
        try:
            self.close_connection = True
            self._handle_one()
            while not self.close_connection:
                self._handle_one()
        except (ConnectionError, OSError, ValueError):
            pass

    def _handle_one(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        handler = _ChunkingHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                   multithread=True)
        handler.request_handler = self
        handler.run(self.server.get_app())


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # WSGIServer.server_bind resolves the host name (getfqdn): slow and pointless here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()


def read_request_body(environ) -> bytes:
    """The whole request body: Content-Length, or chunked decoded (wsgiref does neither)."""
    stream = environ["wsgi.input"]
    te = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if "chunked" in te:
        return b"".join(_read_chunked(stream))
    n = int(environ.get("CONTENT_LENGTH") or 0)
    parts = []
    while n > 0:
        block = stream.read(min(n, 1 << 18))
        if not block:
            raise ConnectionError("request body cut short")
        parts.append(block)
        n -= len(block)
    return b"".join(parts)


def _read_chunked(stream):
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"bad chunk size line {line!r}")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while stream.readline(8192) not in (b"\r\n", b""):
                pass
            return
        left = size
        while left:
            block = stream.read(min(left, 1 << 18))
            if not block:
                raise ConnectionError("chunk cut short")
            yield block
            left -= len(block)
        if stream.read(2) != b"\r\n":
            raise ConnectionError("chunk not followed by CRLF")


class EchoUpstream:
    """A wsgiref back end on 127.0.0.1 (port 0 unless given). Routes:

    /big?mb=N[&seed=S][&chunked=1]  N MiB of big_block(S, i); Content-Length unless chunked=1
    /slow?s=N                       answers after N seconds (or when release_slow() is called)
    /health                          `health_status` (200 by default; 503 to fail checks)
    /status/NNN                     an empty response with that status
    anything else                   JSON of the request (method, target, headers, body)

    Requests are recorded in `requests` (dicts as the JSON answer, plus `time`).
    """

    def __init__(self, port: int = 0, name: str = "echo"):
        self.name = name
        self.health_status = 200
        self.lock = threading.Lock()
        self.requests = []
        self.arrivals = []  # (target, monotonic time) when a request head reached the app
        self.active = 0
        self.big_bytes_sent = 0  # bytes of /big bodies handed to the socket
        self._slow_release = threading.Event()
        self.server = _ThreadingWSGIServer(("127.0.0.1", port), _KeepAliveRequestHandler)
        self.server.tracker = _Tracker()
        self.server.set_app(self._app)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """TCP connections accepted since start."""
        return self.server.tracker.accepted

    def count(self, path_prefix: str = "/", method: str = None, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["target"].startswith(path_prefix)
                       and (method is None or r["method"] == method) and r["time"] >= since)

    def release_slow(self):
        self._slow_release.set()

    def stop(self, reset: bool = False):
        """Stops listening and closes every connection (with RST when `reset`)."""
        if not self.running:
            return
        self.running = False
        self._slow_release.set()
        self.server.shutdown()
        self.server.server_close()
        self.server.tracker.close_all(reset)
        self._thread.join(5)

    # -- the WSGI application ----------------------------------------------------------------
    def _app(self, environ, start_response):
        target = environ["echo.raw_target"]
        path, _, query = target.partition("?")
        q = urllib.parse.parse_qs(query)
        method = environ["REQUEST_METHOD"]
        with self.lock:
            self.arrivals.append((target, time.monotonic()))
        body = read_request_body(environ)
        record = {
            "method": method, "target": target, "version": environ["echo.version"],
            "headers": environ["echo.header_lines"], "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(), "upstream": self.name,
            "peer": environ.get("REMOTE_ADDR"),
        }
        with self.lock:
            self.requests.append(dict(record, time=time.monotonic()))
            self.active += 1
        try:
            if path == "/big":
                return self._big(q, method, start_response)
            if path == "/slow":
                self._slow_release.wait(float(q.get("s", ["1"])[0]))
            if path == "/health":
                status = self.health_status
                data = b"health %d\n" % status
                start_response(f"{status} X", [("Content-Type", "text/plain"),
                                               ("Content-Length", str(len(data)))])
                return [data]
            m = re.fullmatch(r"/status/(\d{3})", path)
            if m:
                start_response(f"{m[1]} X", [] if m[1] in ("204", "304") else
                               [("Content-Length", "0")])
                return []
            data = json.dumps(record).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(data))),
                                      ("X-Upstream", self.name)])
            return [b""] if method == "HEAD" else [data]
        finally:
            with self.lock:
                self.active -= 1

    def _big(self, q, method, start_response):
        mb = int(q.get("mb", ["1"])[0])
        seed = int(q.get("seed", ["1"])[0])
        headers = [("Content-Type", "application/octet-stream"), ("X-Upstream", self.name)]
        if q.get("chunked", ["0"])[0] != "1":
            headers.append(("Content-Length", str(mb * MIB)))
        start_response("200 OK", headers)
        if method == "HEAD":
            return []

        def gen():
            for block in big_chunks(mb, seed):
                yield block
                with self.lock:
                    self.big_bytes_sent += len(block)
        return gen()


# ----------------------------------------------------------------------------------------------
# The misbehaving raw-socket upstream

RAW_MODES = (
    "bad-status",         # "HTTP/1.1 2OO OK"
    "space-colon",        # "X-Bad : v" (RFC 9112 §5.1: reject)
    "cl-te",              # Content-Length and Transfer-Encoding: chunked together
    "bad-cl",             # Content-Length: 12abc
    "huge-head",          # a 1 MiB header field
    "close-mid-cl",       # Content-Length: 1 MiB, 64 KiB sent, FIN
    "close-mid-chunked",  # chunked, some chunks, FIN without the 0-chunk
    "hang-mid-body",      # Content-Length: 1 MiB, 64 KiB sent, then silence
    "hang",               # reads the request, never answers
    "reset-mid-head",     # half a head, then RST
    "reset-after-request",  # reads the whole request (head and body), then RST
    "close-delimited",    # HTTP/1.1 200 without length, body ends at FIN
    "te-gzip-chunked",    # Transfer-Encoding: gzip, chunked; answers each request of the connection
    "te-gzip-two-fields",  # the same codings in two Transfer-Encoding fields
    "te-gzip",            # Transfer-Encoding: gzip, body ends at FIN
    "early-403",          # 403 right after the request head, before reading its body
    "upgrade-without-upgrade",  # 101 Switching Protocols with no Upgrade field
    "cookies-255",        # 255 Set-Cookie and Content-Length: 256 field lines
    "cookies-256",        # 256 Set-Cookie and Content-Length: 257 field lines
    "bare-lf",            # a head whose lines end with a bare LF
    "hop-headers",        # a valid response full of hop-by-hop fields and a Date/Server
    "upgrade-echo",       # 101 Switching Protocols, then echoes every byte until EOF
    "upgrade-then-close",  # 101, "hello from upstream", FIN
)

CLOSE_MID_BODY_LENGTH = MIB
CLOSE_MID_BODY_SENT = 64 * 1024
CLOSE_DELIMITED_BODY = bytes(range(256)) * 64
HOP_RESPONSE_BODY = b"hop-by-hop test body\n"
GZIP_BODY = gzip.compress(b"plain text, gzipped\n" * 64)
_GZIP_CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(GZIP_BODY), GZIP_BODY)
UNKNOWN_CODING_RESPONSES = {
    "te-gzip-chunked": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                       b"Transfer-Encoding: gzip, chunked\r\n\r\n" + _GZIP_CHUNKED,
    "te-gzip-two-fields": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n" + _GZIP_CHUNKED,
    "te-gzip": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: gzip\r\n\r\n"
               + GZIP_BODY,
}


def set_cookie_response(n: int) -> bytes:
    """A 200 with `n` Set-Cookie fields and a Content-Length."""
    cookies = b"".join(b"Set-Cookie: c%d=%d; Path=/\r\n" % (i, i) for i in range(n))
    return b"HTTP/1.1 200 OK\r\n" + cookies + b"Content-Length: 2\r\n\r\nok"


class RawUpstream:
    """A one-mode raw HTTP server on 127.0.0.1. `requests` holds every request head received
    (bytes, with the body when it had a Content-Length), `connections` the accepted count,
    `eof_seen` how many upgraded connections ended with the client's EOF."""

    def __init__(self, mode: str, port: int = 0):
        assert mode in RAW_MODES, mode
        self.mode = mode
        self.lock = threading.Lock()
        self.requests = []
        self.eof_seen = 0
        self.tracker = _Tracker()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self._stop = threading.Event()
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        return self.tracker.accepted

    def stop(self):
        if not self.running:
            return
        self.running = False
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._acceptor.join(5)
        self.tracker.close_all()
        for t in self._threads:
            t.join(5)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.tracker.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _read_request(self, conn, with_body: bool = True):
        """The request head and (`with_body`) its Content-Length body, or None at EOF."""
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        n = int(m[1]) if m and with_body else 0
        while len(rest) < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        request = head + b"\r\n\r\n" + rest
        with self.lock:
            self.requests.append(request)
        return request

    @staticmethod
    def _drain(conn):
        """Reads whatever nuri still sends until it closes."""
        conn.settimeout(10)
        while conn.recv(65536):
            pass

    def _serve(self, conn):
        try:
            self._serve_mode(conn)
        except OSError:
            pass
        finally:
            self.tracker.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _serve_mode(self, conn):
        mode = self.mode
        if self._read_request(conn, with_body=mode != "early-403") is None:
            return
        if mode == "bad-status":
            conn.sendall(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")
        elif mode == "space-colon":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad : v\r\n\r\nok")
        elif mode == "cl-te":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n2\r\nok\r\n0\r\n\r\n")
        elif mode == "bad-cl":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nok")
        elif mode == "huge-head":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * MIB + b"\r\nContent-Length: 2"
                         b"\r\n\r\nok")
        elif mode in ("close-mid-cl", "hang-mid-body"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % CLOSE_MID_BODY_LENGTH
                         + b"x" * CLOSE_MID_BODY_SENT)
            if mode == "hang-mid-body":
                self._stop.wait()
        elif mode == "close-mid-chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"4000\r\n" + b"y" * 0x4000 + b"\r\n" + b"10\r\n" + b"z" * 8)
        elif mode == "hang":
            self._stop.wait()
        elif mode == "reset-mid-head":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
            rst_close(conn)
        elif mode == "reset-after-request":
            rst_close(conn)
        elif mode == "close-delimited":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Connection: close\r\n\r\n" + CLOSE_DELIMITED_BODY)
            conn.shutdown(socket.SHUT_WR)
        elif mode in UNKNOWN_CODING_RESPONSES:
            conn.sendall(UNKNOWN_CODING_RESPONSES[mode])
            if mode == "te-gzip":
                conn.shutdown(socket.SHUT_WR)
                return
            while self._read_request(conn) is not None:  # a reused connection would show here
                conn.sendall(UNKNOWN_CODING_RESPONSES[mode])
        elif mode == "early-403":
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")
            self._drain(conn)
        elif mode == "upgrade-without-upgrade":
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
            self._drain(conn)
        elif mode.startswith("cookies-"):
            conn.sendall(set_cookie_response(int(mode.removeprefix("cookies-"))))
        elif mode == "bare-lf":
            conn.sendall(b"HTTP/1.1 200 OK\nX-A: a\nContent-Length: 2\n\nhi")
        elif mode == "hop-headers":
            conn.sendall(b"HTTP/1.1 200 OK\r\n"
                         b"Date: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
                         b"Server: upstream-server/9.9\r\n"
                         b"Connection: close, X-Named-In-Connection\r\n"
                         b"X-Named-In-Connection: drop me\r\n"
                         b"Keep-Alive: timeout=5, max=100\r\n"
                         b"Proxy-Connection: keep-alive\r\n"
                         b"Trailer: X-Checksum\r\n"
                         b"Upgrade: h2c\r\n"
                         b"X-Kept: kept value\r\n"
                         b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(HOP_RESPONSE_BODY) + HOP_RESPONSE_BODY)
        elif mode in ("upgrade-echo", "upgrade-then-close"):
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
            if mode == "upgrade-then-close":
                conn.sendall(b"hello from upstream")
                conn.shutdown(socket.SHUT_WR)
                self._drain(conn)
                return
            while True:
                data = conn.recv(1 << 18)
                if not data:
                    with self.lock:
                        self.eof_seen += 1
                    return
                conn.sendall(data)


# ----------------------------------------------------------------------------------------------
# Blackholed address: a listener whose accept queue is full, so SYNs to it are dropped


class Blackhole:
    """A 127.0.0.1 port whose connects time out: a listener with backlog 0 that never accepts,
    its queue filled by our own connections (Linux drops SYNs to a full accept queue)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(16):
            c = socket.socket()
            c.settimeout(0.3)
            try:
                c.connect(("127.0.0.1", self.port))
                self.fillers.append(c)
            except (socket.timeout, OSError):
                c.close()
                return  # a connect timed out: the queue is full
        raise AssertionError("could not fill the accept queue of a backlog-0 listener")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        for c in self.fillers:
            c.close()
        self.sock.close()


# ----------------------------------------------------------------------------------------------
# Subprocess upstreams: python -m http.server and nginx


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_port(proc, port: int, timeout: float, what: str, log_path=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    log = Path(log_path).read_text(errors="replace") if log_path and Path(log_path).exists() else ""
    _kill(proc)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s\n{log}")


def _kill(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HttpServer:
    """`python3 -m http.server` serving `directory` on 127.0.0.1 (HTTP/1.0, Content-Length)."""

    def __init__(self, directory, timeout: float = 10.0):
        self.directory = Path(directory)
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
             str(directory), "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + timeout
        # "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = re.search(rb"port (\d+)", line)
            if m:
                self.port = int(m[1])
                break
            if not line:
                break
        else:
            m = None
        if not m:
            _kill(self.proc)
            raise AssertionError(f"python -m http.server printed no port: {line!r}")
        # Keep the pipe drained: http.server writes nothing more to stdout, but be safe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        _wait_port(self.proc, self.port, timeout, "python -m http.server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        _kill(self.proc)
        self.proc.stdout.close()


NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")


class Nginx:
    """nginx with prefix, config, pid and logs in a temp dir, listening on 127.0.0.1:PORT,
    serving `root` and the locations given (nginx syntax) in `extra`. Runs in the foreground
    (daemon off) so that stop() ends it and its workers."""

    def __init__(self, root, extra: str = "", http_extra: str = "", workers: int = 1,
                 timeout: float = 10.0):
        self.dir = Path(tempfile.mkdtemp(prefix="nuri-test-nginx-"))
        self.root = Path(root)
        for attempt in range(5):
            self.port = free_port()
            self._write_conf(extra, http_extra, workers)
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e",
                 str(self.dir / "error.log"), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(self.dir / "stderr", "wb"))
            try:
                _wait_port(self.proc, self.port, timeout, "nginx", self.dir / "error.log")
                return
            except AssertionError:
                if attempt == 4 or "Address already in use" not in \
                        (self.dir / "error.log").read_text(errors="replace"):
                    shutil.rmtree(self.dir, ignore_errors=True)
                    raise

    def _write_conf(self, extra, http_extra, workers):
        # Started as root, nginx's workers would be nobody, unable to read pytest's 0700 tmp.
        user = "user root root;" if os.geteuid() == 0 else ""
        (self.dir / "tmp").mkdir(exist_ok=True)
        (self.dir / "nginx.conf").write_text(f"""
{user}
worker_processes {workers};
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {self.dir}/tmp/client_body;
    proxy_temp_path {self.dir}/tmp/proxy;
    fastcgi_temp_path {self.dir}/tmp/fastcgi;
    uwsgi_temp_path {self.dir}/tmp/uwsgi;
    scgi_temp_path {self.dir}/tmp/scgi;
    keepalive_requests 100000;
    {http_extra}
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        {extra}
    }}
}}
""")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        _kill(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Manual use


def _main(argv):
    kind = argv[1] if len(argv) > 1 else "echo"
    if kind == "echo":
        u = EchoUpstream()
    elif kind == "raw":
        u = RawUpstream(argv[2])
    elif kind == "http":
        u = HttpServer(argv[2])
    elif kind == "nginx":
        u = Nginx(argv[2])
    elif kind == "blackhole":
        u = Blackhole()
    else:
        raise SystemExit(f"usage: {argv[0]} echo|raw MODE|http DIR|nginx DIR|blackhole")
    print(u.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    u.stop()


if __name__ == "__main__":
    _main(sys.argv)
