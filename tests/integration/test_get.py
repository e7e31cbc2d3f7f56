"""`nuri get` against real servers: nuri serve, nginx and `python3 -m http.server` (bodies
byte-equal to curl's), a Python handler for cookies, redirects and forms (what arrived is checked
at the server), keep-alive reuse seen from the server side, and the documented exit codes."""
from __future__ import annotations

import contextlib
import email.parser
import email.policy
import http.server
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from nuri_helpers import SLACK, TIME_SCALE, free_port_holder, nuri_bin

CURL = shutil.which("curl")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def get(*args, timeout=20.0, input=None):
    return subprocess.run([str(nuri_bin()), "get", *map(str, args)], capture_output=True,
                          timeout=timeout * TIME_SCALE, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)


def curl(*args):
    return subprocess.run([CURL, "-s", *map(str, args)], capture_output=True, timeout=20).stdout


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stderr)
    err = r.stderr.decode().strip()
    assert err.startswith("nuri get: ") and "\n" not in err, err


# ----------------------------------------------------------------------------------------------
# Servers


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "files"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_bytes(b"<h1>hello nuri</h1>\n")
    (root / "sub" / "a.txt").write_bytes(b"".join(b"%05d line\n" % i for i in range(3000)))
    (root / "blob.bin").write_bytes(os.urandom(300_000))
    (root / "empty.txt").write_bytes(b"")
    return root


PATHS = ["/index.html", "/sub/a.txt", "/blob.bin", "/empty.txt"]


@pytest.fixture
def python_files(files):
    p = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
                         cwd=files, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    port = int(line.split(" port ")[1].split()[0])
    yield f"http://127.0.0.1:{port}"
    p.terminate()
    p.wait(5)


@pytest.fixture
def nginx(tmp_path, files):
    if not NGINX:
        pytest.skip("nginx is not installed")
    holder, port = free_port_holder()
    holder.close()
    conf = tmp_path / "nginx.conf"
    log = tmp_path / "access.log"
    user = "user root;" if os.geteuid() == 0 else ""  # the workers must read the test's files
    conf.write_text(f"""
{user}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 64; }}
http {{
  log_format conn '$connection $connection_requests $request';
  access_log {log} conn;
  client_body_temp_path {tmp_path};
  proxy_temp_path {tmp_path};
  fastcgi_temp_path {tmp_path};
  uwsgi_temp_path {tmp_path};
  scgi_temp_path {tmp_path};
  types {{ text/html html; text/plain txt; }}
  server {{
    listen 127.0.0.1:{port};
    root {files};
    location /moved {{ return 302 /index.html; }}
  }}
}}
""")
    p = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log"),
                          "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        p.kill()
        pytest.fail(f"nginx did not start: {p.stderr.read()!r}")
    yield f"http://127.0.0.1:{port}", log
    p.terminate()
    p.wait(5)


class Recorder(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 handler that records every request (method, path, headers, body, client port)."""
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._body()
        self.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body, "port": self.client_address[1]})
        path = urllib.parse.urlsplit(self.path).path
        if path == "/login":  # sets a cookie and sends the browser on
            self._answer(302, b"moved", [("Set-Cookie", "session=abc123; Path=/; HttpOnly"),
                                         ("Set-Cookie", "theme=dark; Path=/account"),
                                         ("Location", "/account/home")])
        elif path.startswith("/account"):
            self._answer(200, ("cookie=" + self.headers.get("Cookie", "")).encode())
        elif path.startswith("/redirect/"):
            self._answer(int(path.rsplit("/", 1)[1]), b"", [("Location", "/landing")])
        elif path == "/loop":
            self._answer(302, b"", [("Location", "/loop")])
        elif path == "/missing":
            self._answer(404, b"not here")
        else:
            self._answer(200, f"{self.command} {self.path} {len(body)}".encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


@pytest.fixture
def recorder():
    class Handler(Recorder):
        seen = []

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", Handler.seen
    srv.shutdown()
    srv.server_close()


# ----------------------------------------------------------------------------------------------
# Bodies as curl gets them


@pytest.mark.skipif(not CURL, reason="curl is not installed")
def test_bodies_equal_curls_from_python_http_server(python_files):
    for path in PATHS + ["/", "/sub/", "/nothing-here"]:
        r = get(python_files + path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == curl(python_files + path), path


@pytest.mark.skipif(not CURL, reason="curl is not installed")
def test_bodies_equal_curls_from_nginx(nginx, files):
    base, _ = nginx
    for path in PATHS + ["/nothing-here"]:
        r = get(base + path)
        assert r.returncode == 0, r.stderr
        assert r.stdout == curl(base + path), path
    assert get(base + "/sub/a.txt").stdout == (files / "sub" / "a.txt").read_bytes()
    # -L follows nginx's redirect to the same body curl -L gets.
    r = get("-L", base + "/moved")
    assert r.returncode == 0 and r.stdout == curl("-L", base + "/moved") == b"<h1>hello nuri</h1>\n"


@pytest.mark.skipif(not CURL, reason="curl is not installed")
def test_bodies_equal_curls_from_nuri_serve(nuri, files):
    s = nuri("--workers", "1", root=files)
    for path in PATHS + ["/nothing-here"]:
        r = get(s.url(path))
        assert r.returncode == 0, r.stderr
        assert r.stdout == curl(s.url(path)), path


@pytest.mark.skipif(not CURL, reason="curl is not installed")
def test_head_shows_the_same_status_and_fields_as_curl(nuri, files):
    s = nuri("--workers", "1", root=files)
    mine = get("-I", s.url("/sub/a.txt")).stdout.decode().split("\r\n")
    theirs = curl("-I", s.url("/sub/a.txt")).decode().split("\r\n")
    assert mine[0] == theirs[0] == "HTTP/1.1 200 OK"
    names = lambda lines: sorted(l.split(":")[0].lower() for l in lines[1:] if l)  # noqa: E731
    assert names(mine) == names(theirs)
    assert "Content-Length: 33000" in mine
    assert mine[-2:] == ["", ""]  # the head ends with its empty line, and no body follows


def test_output_file(python_files, files, tmp_path):
    out = tmp_path / "copy.bin"
    r = get("-o", out, python_files + "/blob.bin")
    assert r.returncode == 0 and r.stdout == b""
    assert out.read_bytes() == (files / "blob.bin").read_bytes()
    # Two URLs, two -o: each body to its file.
    a, b = tmp_path / "a", tmp_path / "b"
    r = get("-o", a, "-o", b, python_files + "/index.html", python_files + "/sub/a.txt")
    assert r.returncode == 0
    assert a.read_bytes() == (files / "index.html").read_bytes()
    assert b.read_bytes() == (files / "sub" / "a.txt").read_bytes()


# ----------------------------------------------------------------------------------------------
# Keep-alive


def test_several_urls_reuse_one_connection(recorder, python_files):
    base, seen = recorder
    r = get(base + "/one", base + "/two", base + "/three", "--trace")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"GET /one 0GET /two 0GET /three 0"
    assert [s["path"] for s in seen] == ["/one", "/two", "/three"]
    assert len({s["port"] for s in seen}) == 1, "the server saw more than one connection"
    assert r.stderr.decode().count("reusing connection #1") == 2
    # Another host:port in between needs its own connection; coming back opens a new one.
    seen.clear()
    r = get(base + "/a", python_files + "/index.html", base + "/b")
    assert r.returncode == 0
    assert len({s["port"] for s in seen}) == 2


def test_keep_alive_with_nginx(nginx):
    base, log = nginx
    r = get(base + "/index.html", base + "/sub/a.txt", base + "/empty.txt")
    assert r.returncode == 0
    time.sleep(0.2)
    lines = [l.split() for l in log.read_text().splitlines()]
    assert len(lines) == 3
    assert len({l[0] for l in lines}) == 1, lines  # nginx's $connection: one connection
    assert [l[1] for l in lines] == ["1", "2", "3"]  # $connection_requests


# ----------------------------------------------------------------------------------------------
# Cookies, redirects, forms


@pytest.mark.skipif(not CURL, reason="curl is not installed")
def test_cookies_kept_across_a_redirect_and_written_for_curl(recorder, tmp_path):
    base, seen = recorder
    jar = tmp_path / "jar.txt"
    r = get("-L", "-c", jar, base + "/login")
    assert r.returncode == 0, r.stderr
    # The redirect's target got both cookies (theme's Path=/account matches /account/home).
    assert r.stdout == b"cookie=theme=dark; session=abc123"
    assert seen[-1]["path"] == "/account/home"
    text = jar.read_text()
    assert "#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123" in text
    # curl reads nuri's jar, and nuri reads it back.
    assert curl("-b", jar, base + "/account/x") == b"cookie=theme=dark; session=abc123"
    assert get("-b", jar, base + "/account/y").stdout == b"cookie=theme=dark; session=abc123"
    assert get("-b", jar, base + "/other").stdout.startswith(b"GET /other")
    assert "Cookie" not in seen[-1]["headers"] or seen[-1]["headers"]["Cookie"] == "session=abc123"
    # A literal -b string is sent as it is.
    assert get("-b", "a=1; b=2", base + "/account").stdout == b"cookie=a=1; b=2"
    # Without -L, the 302 itself is the answer and nothing follows.
    seen.clear()
    r = get(base + "/login")
    assert r.stdout == b"moved" and len(seen) == 1


@pytest.mark.parametrize("code,method,body", [(301, "GET", b""), (302, "GET", b""), (303, "GET", b""),
                                              (307, "POST", b"x=1"), (308, "POST", b"x=1")])
def test_redirect_method_rules(recorder, code, method, body):
    base, seen = recorder
    r = get("-L", "-d", "x=1", f"{base}/redirect/{code}")
    assert r.returncode == 0, r.stderr
    first, last = seen[0], seen[-1]
    assert first["method"] == "POST" and first["body"] == b"x=1"
    assert last["path"] == "/landing"
    assert (last["method"], last["body"]) == (method, body)


def test_too_many_redirects(recorder):
    base, seen = recorder
    r = get("-L", base + "/loop")
    one_line_error(r, 47)
    assert len(seen) == 11  # the first request and ten redirects
    r = get("-L", "--max-redirs", "2", base + "/loop")
    one_line_error(r, 47)


def test_forms_arrive_as_sent(recorder, tmp_path):
    base, seen = recorder
    r = get("-d", "a=1", "-d", "b=two", base + "/form")
    assert r.returncode == 0
    s = seen[-1]
    assert s["method"] == "POST" and s["body"] == b"a=1&b=two"
    assert s["headers"]["Content-Type"] == "application/x-www-form-urlencoded"

    text = "hello world & more/ü=?"
    r = get("--data-urlencode", f"msg={text}", "--data-urlencode", "plain", base + "/form")
    body = seen[-1]["body"].decode()
    assert urllib.parse.parse_qs(body) == {"msg": [text]}
    assert body.endswith("&plain")

    upload = tmp_path / "photo.png"
    upload.write_bytes(bytes(range(256)) * 10)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"line one\r\nline two\n")
    r = get("-F", "title=My photo", "-F", f"file=@{upload}", "-F", f"notes=<{notes}", base + "/upload")
    assert r.returncode == 0, r.stderr
    s = seen[-1]
    ctype = s["headers"]["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + s["body"])
    parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
    assert parts["title"].get_payload(decode=True) == b"My photo"
    assert parts["file"].get_filename() == "photo.png"
    assert parts["file"].get_content_type() == "image/png"
    assert parts["file"].get_payload(decode=True) == upload.read_bytes()
    assert parts["notes"].get_filename() is None
    assert parts["notes"].get_payload(decode=True) == notes.read_bytes()

    # -X with a body, and -H replacing a default header.
    r = get("-X", "PUT", "-d", "@" + str(notes), "-H", "User-Agent: test-agent", "-H", "X-Extra: 1", base + "/thing")
    s = seen[-1]
    assert (s["method"], s["body"]) == ("PUT", b"line oneline two")  # -d @file drops CR and LF, as curl
    assert s["headers"]["User-Agent"] == "test-agent" and s["headers"]["X-Extra"] == "1"


def test_trace_shows_each_step(recorder):
    base, _ = recorder
    r = get("--trace", "-d", "k=v", base + "/traced")
    err = r.stderr.decode()
    for needle in ["dns: 127.0.0.1", "tcp: connecting to 127.0.0.1:", "3-way handshake",
                   "> POST /traced HTTP/1.1", "> Content-Length: 3", "> k=v", "first byte",
                   "< HTTP/1.1 200 OK", "body: 14 bytes (Content-Length)", "DNS lookup    TCP connect   server processing"]:
        assert needle in err, (needle, err)
    assert r.stdout == b"POST /traced 3"


# ----------------------------------------------------------------------------------------------
# Failures and their exit codes


def test_refused_port():
    holder, port = free_port_holder()
    holder.close()
    one_line_error(get(f"http://127.0.0.1:{port}/"), 7)


def test_unresolvable_name():
    # RFC 6761: .invalid never resolves.
    one_line_error(get("--max-time", "20", "http://no-such-host.invalid/"), 6)


def test_max_time_against_a_server_that_never_answers():
    holder, port = free_port_holder()  # accepts (the kernel does), never answers
    try:
        t0 = time.monotonic()
        r = get("--max-time", "0.5", f"http://127.0.0.1:{port}/")
        elapsed = time.monotonic() - t0
    finally:
        holder.close()
    one_line_error(r, 28)
    assert elapsed < 0.5 + SLACK


def test_max_time_under_a_millisecond_is_a_limit_not_none():
    """0 means no limit; 0.0004 s used to round down to 0 ms, and so to no limit at all."""
    holder, port = free_port_holder()
    try:
        r = get("--max-time", "0.0004", f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        holder.close()
    one_line_error(r, 28)


@contextlib.contextmanager
def socket_server(reply: bytes = b"", answer=None):
    """A TCP server that answers every connection with `reply` (or calls `answer(conn)` instead)
    and closes it. Stopped with shutdown() and joined before its socket is closed: closing a
    listening socket that another thread is about to accept on would let that thread accept on
    whatever reuses the number."""
    answer = answer or (lambda c: c.sendall(reply))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                c.recv(65536)
                answer(c)
            except OSError:
                pass
            c.close()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/"
    finally:
        srv.shutdown(socket.SHUT_RDWR)  # wakes accept() with EINVAL
        t.join(5)
        srv.close()


@pytest.mark.parametrize("reply,code", [
    (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", 8),
    (b"HTTP/1.1 2000 OK\r\n\r\n", 8),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 8),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 8),
    (b"", 52),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", 56),
])
def test_bad_responses(reply, code):
    with socket_server(reply) as url:
        one_line_error(get(url), code)


def reset_without_a_byte(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends a RST


def test_reset_before_any_byte_is_a_receive_failure_as_in_curl():
    with socket_server(answer=reset_without_a_byte) as url:
        r = get(url)
    one_line_error(r, 56)
    assert b"reset" in r.stderr, r.stderr


def close_delimited_body_then_reset(c):
    c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart of the body")
    time.sleep(0.2)  # the head and the bytes are read before the reset comes
    reset_without_a_byte(c)


def test_reset_in_a_body_that_lasts_until_close_is_a_receive_failure():
    """A body framed by the end of the connection ends well with a FIN, not with a reset: the
    reset was taken for the end, and the cut body for the whole one (exit 0)."""
    with socket_server(answer=close_delimited_body_then_reset) as url:
        r = get(url)
    one_line_error(r, 56)
    assert b"receive failure after 16 bytes of the body" in r.stderr, r.stderr


def endless_continues(c):
    while True:  # until the client gives up and the send fails
        c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 64)


def test_endless_interim_responses_are_a_malformed_reply():
    with socket_server(answer=endless_continues) as url:
        r = get(url, timeout=10)
    one_line_error(r, 8)
    assert b"more than 100 interim (1xx) responses" in r.stderr, r.stderr


def test_interim_response_fields_are_traced_one_line_each():
    reply = (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with socket_server(reply) as url:
        r = get("--trace", url)
    assert r.returncode == 0 and r.stdout == b"ok", r.stderr
    assert b"\n< HTTP/1.1 103 Early Hints\n< Link: </s.css>; rel=preload\n" in r.stderr, r.stderr


def test_huge_max_age_keeps_the_cookie_persistent(tmp_path):
    """RFC 6265 §5.2.2: a Max-Age past 64 bits is the latest time (nuri caps at 400 days), and a
    hugely negative one expires the cookie now."""
    reply = (b"HTTP/1.1 200 OK\r\nSet-Cookie: big=1; Max-Age=99999999999999999999\r\n"
             b"Set-Cookie: gone=1\r\nSet-Cookie: gone=1; Max-Age=-99999999999999999999\r\n"
             b"Content-Length: 0\r\n\r\n")
    jar = tmp_path / "jar.txt"
    with socket_server(reply) as url:
        r = get("-c", jar, url)
    assert r.returncode == 0, r.stderr
    cookies = {f[5]: f for f in (l.split("\t") for l in jar.read_text().splitlines()) if len(f) == 7}
    assert set(cookies) == {"big"}, cookies
    assert int(cookies["big"][4]) >= time.time() + 399 * 86400, cookies


def assert_terminal_safe(text: bytes):
    """Nothing a terminal acts on: printable ASCII and line ends only."""
    assert all(0x20 <= b < 0x7f or b == 0x0a for b in text), text


@pytest.mark.parametrize("reply,args,code,shown", [
    # A Location whose host is not a host name: the error line quotes it.
    (b"HTTP/1.1 302 Found\r\nLocation: http://a\x9b2J\xc3\xa9b:1/\r\nContent-Length: 0\r\n\r\n", ["-L"], 8,
     rb"http://a\x9b2J\xc3\xa9b:1/"),
    # --fail quotes the reason phrase.
    (b"HTTP/1.1 404 Not\x9b2JFound\xff\r\nContent-Length: 0\r\n\r\n", ["--fail"], 22, rb"404 Not\x9b2JFound\xff"),
    # The cookie trace lines quote the Set-Cookie value.
    (b"HTTP/1.1 200 OK\r\nSet-Cookie: \xff\xfe=\x80\r\nSet-Cookie: a\tb=c\td\r\nContent-Length: 0\r\n\r\n",
     ["--trace"], 0, rb"* cookie stored: \xff\xfe=\x80" + b"\n" + rb"* cookie ignored: a\tb=c\td"),
], ids=["bad-redirect", "fail-reason", "cookie-trace"])
def test_server_bytes_on_stderr_are_escaped(reply, args, code, shown):
    with socket_server(reply) as url:
        r = get(*args, url)
    assert r.returncode == code, r.stderr
    assert_terminal_safe(r.stderr)
    assert shown in r.stderr, r.stderr


def test_typed_url_is_escaped_in_its_error_line():
    r = get("http://a\x1b[2Jb/")
    one_line_error(r, 3)
    assert_terminal_safe(r.stderr)
    assert rb"http://a\x1b[2Jb/" in r.stderr, r.stderr


def test_usage_errors(recorder, tmp_path):
    base, _ = recorder
    one_line_error(get("https://example.com/"), 1)
    assert b"not supported" in get("https://example.com/").stderr
    one_line_error(get("http://exa mple.com/"), 3)
    one_line_error(get("http://127.0.0.1:99999/"), 3)
    one_line_error(get("http://user:pw@127.0.0.1/"), 3)
    one_line_error(get("-H", "Bad Header", base), 2)
    one_line_error(get("-X", "GE T", base), 2)
    one_line_error(get("-I", "-d", "x", base), 2)
    one_line_error(get("-d", "@" + str(tmp_path / "nope"), base), 26)
    one_line_error(get("-o", tmp_path / "no" / "such" / "dir", base), 23)
    r = get("--fail", "--trace", base + "/missing")
    assert r.returncode == 22, r.stderr.decode()
    assert r.stdout == b""
    assert get(base + "/missing").returncode == 0  # without --fail a 404 is an answer


def test_help_documents_exit_codes():
    r = subprocess.run([str(nuri_bin()), "get", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for code in ["6 could not resolve", "7 could not connect", "28 timeout", "8 malformed response", "52 empty"]:
        assert code in r.stdout, code
