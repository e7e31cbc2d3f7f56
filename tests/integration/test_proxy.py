"""nuri serve's reverse proxy (`proxy = [...]` in a [[host.location]]), black-box.

Each test writes a TOML configuration, starts the real binary through the `nuri` fixture and puts
real peers on both sides: curl and python sockets as clients; wsgiref, a misbehaving raw-socket
server, `python -m http.server`, nginx and the shop example as upstreams (tests/integration/
upstreams.py). Everything binds 127.0.0.1 (and ::1 for one test).

The upstream fixtures depend on `nuri`, so they stop first: every connection nuri pooled to them
is closed by the upstream before the fixture checks that nuri is back to its descriptors at
start (a pooled connection the upstream closed must not stay open in nuri).
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nuri_helpers import (REPO_ROOT, SLACK, TIME_SCALE, ProtocolError,
                          curl, curl_env, have_ipv6_loopback, parse_http_date, parse_response,
                          req, run_nuri, sha256, sha256_file, start_example)
from upstreams import (CLOSE_DELIMITED_BODY, CLOSE_MID_BODY_LENGTH, GZIP_BODY, HOP_RESPONSE_BODY,
                       MIB, Blackhole, EchoUpstream, HttpServer, Nginx, RawUpstream, big_chunks,
                       big_digest)

# RSS growth allowed while 200 MiB stream through (ASan's quarantine keeps freed buffers).
RSS_GROWTH_LIMIT = 16 * MIB if TIME_SCALE == 1 else 160 * MIB
HOST = "example.test"


# ----------------------------------------------------------------------------------------------
# Configuration and fixtures


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def url_of(u) -> str:
    return u if isinstance(u, str) else u.url


def proxy_config(upstreams, prefix="/", workers=1, listen=("127.0.0.1:0",), limits=None,
                 access_log=None, top=None, root=None, extra_locations="", **proxy_opts) -> str:
    lines = [f"workers = {workers}"]
    for k, v in (top or {}).items():
        lines.append(f"{k} = {toml_value(v)}")
    for addr in listen:
        lines += ["[[listen]]", f"address = {toml_value(addr)}"]
    if limits:
        lines.append("[limits]")
        lines += [f"{k} = {toml_value(v)}" for k, v in limits.items()]
    if access_log:
        lines += ["[access_log]", f"path = {toml_value(str(access_log))}", 'format = "combined"']
    lines.append("[[host]]")
    if root is not None:
        lines.append(f"root = {toml_value(str(root))}")
    lines += ["  [[host.location]]", f"  prefix = {toml_value(prefix)}",
              f"  proxy = {toml_value([url_of(u) for u in upstreams])}"]
    lines += [f"  {k} = {toml_value(v)}" for k, v in proxy_opts.items()]
    return "\n".join(lines) + "\n" + extra_locations


@pytest.fixture
def proxy(nuri, tmp_path):
    """proxy(UPSTREAMS, **options) -> a started NuriServer proxying to them (workers = 1 unless
    given: per-worker pools and balancer state become deterministic)."""
    n = [0]

    def start(upstreams, listen=("127.0.0.1:0",), **kw):
        n[0] += 1
        conf = tmp_path / f"proxy{n[0]}.toml"
        conf.write_text(proxy_config(upstreams, listen=listen, **kw))
        s = nuri("--config", str(conf), listen=(), run=False)
        s.n_listeners = len(listen)
        s.workers = kw.get("workers", 1)
        s.root = Path(kw.get("root") or tmp_path).resolve()
        s.server_tokens = bool(kw.get("top", {}).get("server_tokens"))
        s.conf_text = conf.read_text()
        return s.start()

    return start


@pytest.fixture
def up(nuri):
    """Upstream factory: up.echo(), up.raw(MODE), up.http(DIR), up.nginx(ROOT, extra),
    up.blackhole(). Depends on `nuri` so that upstreams stop before nuri's leak check."""
    made = []

    class Factory:
        @staticmethod
        def _keep(u):
            made.append(u)
            return u

        def echo(self, name="echo", port=0):
            return self._keep(EchoUpstream(port, name))

        def raw(self, mode, port=0):
            return self._keep(RawUpstream(mode, port))

        def http(self, directory):
            return self._keep(HttpServer(directory))

        def nginx(self, root, extra="", http_extra=""):
            return self._keep(Nginx(root, extra, http_extra))

        def blackhole(self):
            return self._keep(Blackhole())

    yield Factory()
    for u in reversed(made):
        u.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connect refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def get(s, path="/", method="GET", headers=(), host=HOST, timeout=10.0, body=b"", **kw):
    c = s.connect()
    try:
        c.send(req(path, method, headers, host=host, body=body, **kw))
        return c.read_response(method, timeout)
    finally:
        c.close()


def echoed(resp) -> dict:
    assert resp.status == 200, str(resp)
    return json.loads(resp.body)


def header_values(record: dict, name: str) -> list:
    return [v for n, v in record["headers"] if n.lower() == name.lower()]


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class RssSampler:
    """Samples a process's RSS every 20 ms in a thread; .peak after stop()."""

    def __init__(self, pid: int):
        self.pid = pid
        self.base = rss(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss(self.pid))
        return self.peak - self.base


def wait_until(predicate, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def access_statuses(path: Path, n: int, timeout: float = 3.0) -> list:
    pattern = re.compile(r'"[^"]*" (\d{3}) ')
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= n or time.monotonic() > deadline:
            return [int(pattern.search(line)[1]) for line in lines]
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize("key, value", [
    ("proxy", ["http://127.0.0.1:9001/api"]),  # no path allowed
    ("proxy_balance", "random"),
    ("proxy_max_fails", -1),
    ("proxy_keepalive", -1),
])
def test_bad_proxy_configuration_is_refused_at_its_line(tmp_path, key, value):
    opts = {key: value} if key != "proxy" else {}
    upstreams = value if key == "proxy" else ["http://127.0.0.1:9001"]
    text = proxy_config(upstreams, **opts)
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith(f"{key} ="))
    p = run_nuri("check-config", str(conf))
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert f"{conf}:{line}:" in err, err
    assert "unknown key" not in err, err


def test_every_proxy_key_is_accepted(tmp_path):
    conf = tmp_path / "good.toml"
    conf.write_text(proxy_config(
        ["http://127.0.0.1:9001", "http://localhost:9002"], prefix="/api/",
        proxy_balance="least-connections", proxy_max_fails=3, proxy_fail_timeout=10,
        proxy_health_check="/health", proxy_health_interval=5, proxy_connect_timeout=5,
        proxy_timeout=60, proxy_keepalive=16, proxy_via=True))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 0, p.stderr.decode()


def test_upstream_names_are_resolved(proxy, up):
    e = up.echo()
    s = proxy([f"http://localhost:{e.port}"])  # /etc/hosts: localhost is 127.0.0.1
    assert echoed(get(s, "/named"))["target"] == "/named"


# ----------------------------------------------------------------------------------------------
# Bodies, byte for byte


def test_files_from_python_http_server_are_byte_equal(proxy, up, tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    files = {"empty.bin": b"", "one.bin": b"x", "k.bin": os.urandom(1000),
             "m.bin": os.urandom(MIB + 7), "name with space.txt": b"spaced\n"}
    for name, data in files.items():
        (d / name).write_bytes(data)
    with open(d / "big20.bin", "wb") as f:
        for _ in range(20):
            f.write(os.urandom(MIB))
    h = up.http(d)
    s = proxy([h])
    for name, data in files.items():
        r = curl(s.url("/" + name.replace(" ", "%20")))
        assert r.rc == 0 and r.status == 200, str(r)
        assert r.body == data, name
        assert r.header("Content-Length") == str(len(data))
    out = tmp_path / "got20.bin"
    r = curl(s.url("/big20.bin"), out=str(out))
    assert r.rc == 0 and r.status == 200, str(r)
    assert r.header("Content-Length") == str(20 * MIB)
    assert sha256_file(out) == sha256_file(d / "big20.bin")
    r = curl(s.url("/missing"))
    assert r.status == 404, "the upstream's status is passed through"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_200_mib_download_streams_with_backpressure_and_bounded_memory(proxy, up, tmp_path, chunked):
    """A client that stops reading stops the upstream too (nuri does not buffer the body), and
    nuri's RSS stays within a few MiB while 200 MiB pass through."""
    e = up.echo()
    s = proxy([e])
    get(s, "/warm-up")
    sampler = RssSampler(s.pid)
    hdr = tmp_path / "headers"
    target = s.url("/big?mb=200" + ("&chunked=1" if chunked else ""))
    p = subprocess.Popen(["curl", "-q", "-sS", "--noproxy", "*", "-D", str(hdr), "-o", "-",
                          "--max-time", str(120 * TIME_SCALE), "-H", f"Host: {HOST}", target],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=curl_env())
    try:
        # curl blocks on its full stdout pipe: poll until the upstream stops getting rid of bytes.
        last, still_since = -1, time.monotonic()
        deadline = time.monotonic() + 30 * TIME_SCALE
        while time.monotonic() < deadline:
            sent = e.big_bytes_sent
            if sent != last:
                last, still_since = sent, time.monotonic()
            elif time.monotonic() - still_since > 0.5 * TIME_SCALE:
                break
            time.sleep(0.05)
        assert last < 64 * MIB, (f"the upstream sent {last / MIB:.0f} MiB to a client that reads "
                                 "nothing: nuri buffers the response body")
        h = hashlib.sha256()
        n = 0
        for block in iter(lambda: p.stdout.read(1 << 20), b""):
            h.update(block)
            n += len(block)
        rc = p.wait(60 * TIME_SCALE)
        err = p.stderr.read().decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    growth = sampler.stop()
    assert rc == 0, err
    assert n == 200 * MIB and h.hexdigest() == big_digest(200)
    head = hdr.read_bytes().decode("latin-1").lower()
    if chunked:
        assert "transfer-encoding: chunked" in head and "content-length" not in head, head
    else:
        assert f"content-length: {200 * MIB}" in head, head
    assert growth <= RSS_GROWTH_LIMIT, f"nuri's RSS grew by {growth / MIB:.1f} MiB"


@pytest.mark.parametrize("source", ["length", "chunked", "close"])
@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_response_framing_to_the_client(proxy, up, source, version):
    """Content-Length when the upstream gave one; else chunked for HTTP/1.1 clients and
    close-delimited for HTTP/1.0 ones."""
    if source == "close":
        u = up.raw("close-delimited")
        path, body = "/x", CLOSE_DELIMITED_BODY
    else:
        u = up.echo()
        path = "/big?mb=1" + ("&chunked=1" if source == "chunked" else "")
        body = b"".join(big_chunks(1))
    s = proxy([u])
    c = s.connect()
    c.send(req(path, version=version, host=HOST))
    if version == "HTTP/1.1":
        r = c.read_response()
        assert r.body == body
        if source == "length":
            assert r.header("Content-Length") == str(len(body)) and not r.has("Transfer-Encoding")
        else:
            assert r.tokens("Transfer-Encoding") == {"chunked"} and not r.has("Content-Length")
        # The client connection is still usable (a close-delimited upstream is not the client's
        # business).
        c.send(req("/", host=HOST))
        assert c.read_response(timeout=10).status in (200, 404)
    else:
        data, closed = c.read_until_close(10)
        assert closed
        r, _ = parse_response(data, eof=True)
        assert r is not None and r.status == 200, data[:300]
        assert r.body == body
        assert not r.has("Transfer-Encoding"), "chunked sent to an HTTP/1.0 client"
        if source == "length":
            assert r.header("Content-Length") == str(len(body))
        else:
            assert not r.has("Content-Length")


def test_head_204_and_304_have_no_body_and_keep_the_connection(proxy, up):
    e = up.echo()
    s = proxy([e])
    c = s.connect()
    c.send(req("/big?mb=1", "HEAD", host=HOST))
    r = c.read_response("HEAD")
    assert r.status == 200 and r.header("Content-Length") == str(MIB) and r.body == b""
    for status in (204, 304):
        c.send(req(f"/status/{status}", host=HOST))
        r = c.read_response()
        assert r.status == status and r.body == b""
    c.send(req("/after", host=HOST))
    assert echoed(c.read_response())["target"] == "/after"


# ----------------------------------------------------------------------------------------------
# Headers


def test_target_host_and_end_to_end_fields_forwarded_hop_by_hop_removed(proxy, up):
    e = up.echo()
    s = proxy([e])
    target = "/a%2Fb/c;p?x=1&y=%20z&x=2&empty="
    r = get(s, target, host="Example.TEST:8080", headers=[
        ("Connection", "keep-alive, X-Named-In-Connection"),
        ("X-Named-In-Connection", "must go"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c"),
        ("X-Dup", "1"), ("X-Custom", "a b  c"), ("X-Dup", "2"),
        ("Cookie", "a=1; b=2"),
        ("User-Agent", "proxy-test/1"),
    ])
    rec = echoed(r)
    assert rec["method"] == "GET"
    assert rec["target"] == target, "the request target must be sent unchanged"
    assert header_values(rec, "Host") == ["Example.TEST:8080"]
    assert header_values(rec, "X-Dup") == ["1", "2"]
    assert header_values(rec, "X-Custom") == ["a b  c"]
    assert header_values(rec, "Cookie") == ["a=1; b=2"]
    assert header_values(rec, "User-Agent") == ["proxy-test/1"]
    names = {n.lower() for n, _ in rec["headers"]}
    for hop in ("keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                "upgrade", "x-named-in-connection"):
        assert hop not in names, f"{hop} forwarded: {rec['headers']}"
    # nuri may send its own Connection to the upstream, never the client's tokens.
    for v in header_values(rec, "Connection"):
        assert "x-named-in-connection" not in v.lower(), v
    assert rec["body_length"] == 0


def test_forwarded_fields_are_added(proxy, up):
    e = up.echo()
    s = proxy([e])
    rec = echoed(get(s, "/", host=HOST))
    assert header_values(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert header_values(rec, "X-Forwarded-Proto") == ["http"]
    assert header_values(rec, "X-Forwarded-Host") == [HOST]
    assert header_values(rec, "Forwarded") == [f"for=127.0.0.1;host={HOST};proto=http"]


def test_forwarded_fields_are_appended_to_incoming_ones(proxy, up):
    e = up.echo()
    s = proxy([e])
    rec = echoed(get(s, "/", host=HOST, headers=[
        ("X-Forwarded-For", "203.0.113.7"), ("Forwarded", "for=198.51.100.1;proto=https")]))
    assert header_values(rec, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header_values(rec, "Forwarded") == [
        f"for=198.51.100.1;proto=https, for=127.0.0.1;host={HOST};proto=http"]


def test_ipv6_client_is_bracketed_in_forwarded(proxy, up):
    if not have_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    e = up.echo()
    s = proxy([e], listen=("[::1]:0",))
    rec = echoed(get(s, "/", host=HOST))
    assert header_values(rec, "X-Forwarded-For") == ["::1"]
    assert header_values(rec, "Forwarded") == [f'for="[::1]";host={HOST};proto=http']


def test_response_hop_by_hop_removed_date_and_server_replaced(proxy, up):
    u = up.raw("hop-headers")
    s = proxy([u])
    c = s.connect()
    c.send(req("/", host=HOST))
    r = c.read_response()  # validates Date's format and that no Server is sent
    assert r.status == 200 and r.body == HOP_RESPONSE_BODY
    assert r.header("X-Kept") == "kept value"
    assert r.all("Set-Cookie") == ["a=1", "b=2"]
    for hop in ("Keep-Alive", "Proxy-Connection", "Trailer", "Upgrade", "X-Named-In-Connection"):
        assert not r.has(hop), f"{hop} passed to the client:\n{r}"
    assert "x-named-in-connection" not in r.tokens("Connection")
    assert abs(parse_http_date(r.header("Date")) - time.time()) < 60, "the upstream's Date kept"
    # The upstream's "Connection: close" is about its own connection, not the client's.
    c.send(req("/again", host=HOST))
    assert c.read_response(timeout=10).status == 200
    assert len(u.requests) == 2


def test_server_tokens_replace_the_upstreams_server(proxy, up):
    e = up.echo()  # wsgiref sends "Server: WSGIServer/0.2 CPython/..."
    s = proxy([e], top={"server_tokens": True})
    r = get(s, "/")
    assert re.fullmatch(r"nuri/\S+", r.header("Server")), r.header("Server")


def test_via_is_added_only_when_configured(proxy, up):
    e = up.echo()
    s = proxy([e], proxy_via=True)
    rec = echoed(r := get(s, "/"))
    assert header_values(rec, "Via") == ["1.1 nuri"]
    assert r.all("Via") == ["1.1 nuri"]
    s2 = proxy([e])
    rec = echoed(r := get(s2, "/"))
    assert header_values(rec, "Via") == [] and not r.has("Via")


def test_prefix_location_proxies_only_its_paths(proxy, up, tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "local.txt").write_bytes(b"served by nuri itself\n")
    e = up.echo()
    s = proxy([e], prefix="/api/", root=root)
    rec = echoed(get(s, "/api/v1/items?id=3"))
    assert rec["target"] == "/api/v1/items?id=3"
    r = get(s, "/local.txt")
    assert r.status == 200 and r.body == b"served by nuri itself\n"
    assert e.count("/") == 1


# ----------------------------------------------------------------------------------------------
# Uploads


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_reaches_the_upstream_intact(proxy, up, tmp_path, framing):
    data = os.urandom(20 * MIB + 3)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    e = up.echo()
    s = proxy([e], limits={"max_body_size": "32M"})
    if framing == "content-length":
        r = curl(s.url("/upload?x=1"), "--data-binary", f"@{f}", "-H",
                 "Content-Type: application/octet-stream")
    else:
        r = curl(s.url("/upload?x=1"), "-T", str(f), "-H", "Transfer-Encoding: chunked")
    assert r.rc == 0 and r.status == 200, str(r)
    rec = json.loads(r.body)
    assert rec["method"] == ("POST" if framing == "content-length" else "PUT")
    assert rec["body_length"] == len(data) and rec["body_sha256"] == sha256(data)


def test_200_mib_upload_streams_with_bounded_memory(proxy, up):
    """The upstream gets the request while the client is still sending, and nuri's RSS stays
    within a few MiB."""
    e = up.echo()
    s = proxy([e], limits={"max_body_size": "256M"})
    get(s, "/warm-up")
    sampler = RssSampler(s.pid)
    c = s.connect(timeout=60)
    c.send(req("/upload", "POST", [("Content-Length", str(200 * MIB))], host=HOST))
    for block in big_chunks(200, seed=7):
        assert c.send(block), "nuri closed the connection during the upload"
    sent_all = time.monotonic()
    r = c.read_response("POST", timeout=60)
    growth = sampler.stop()
    rec = echoed(r)
    assert rec["body_length"] == 200 * MIB and rec["body_sha256"] == big_digest(200, seed=7)
    (arrived,) = [t for target, t in e.arrivals if target == "/upload"]
    assert arrived < sent_all, "the upstream got the request only after the whole body: buffered"
    assert growth <= RSS_GROWTH_LIMIT, f"nuri's RSS grew by {growth / MIB:.1f} MiB"


def test_body_over_max_body_size_is_413_and_not_forwarded_whole(proxy, up):
    e = up.echo()
    s = proxy([e], limits={"max_body_size": "1K"})
    c = s.connect()
    c.send(req("/upload", "POST", host=HOST, body=b"a" * 4096))
    r = c.read_response("POST", validate=False)
    assert r.status == 413, str(r)
    assert all(x["body_length"] < 4096 for x in e.requests), "a body over the limit reached the upstream"
    assert echoed(get(s, "/small", "POST", body=b"b" * 1000))["body_length"] == 1000


# ----------------------------------------------------------------------------------------------
# Balancing


def test_round_robin_spreads_evenly(proxy, up):
    a, b = up.echo("a"), up.echo("b")
    s = proxy([a, b], proxy_balance="round-robin")
    order = [echoed(get(s, f"/r{i}"))["upstream"] for i in range(20)]
    assert order.count("a") == 10 and order.count("b") == 10, order
    assert all(x != y for x, y in zip(order, order[1:])), f"not alternating: {order}"


@pytest.mark.parametrize("balance", ["least-connections", "round-robin"])
def test_least_connections_prefers_the_idle_upstream(proxy, up, balance):
    """One slow request holds one upstream; least-connections sends every quick request to the
    other. Round-robin (the control) keeps sending half of them to the busy one."""
    a, b = up.echo("a"), up.echo("b")
    s = proxy([a, b], proxy_balance=balance)
    slow = s.connect(timeout=60)
    slow.send(req("/slow?s=60", host=HOST))
    wait_until(lambda: a.count("/slow") + b.count("/slow") == 1, 5 * TIME_SCALE,
               "the slow request to reach an upstream")
    busy, idle = (a, b) if a.count("/slow") else (b, a)
    try:
        names = [echoed(get(s, f"/q{i}"))["upstream"] for i in range(10)]
    finally:
        busy.release_slow()
    assert echoed(slow.read_response(timeout=10))["target"] == "/slow?s=60"
    if balance == "least-connections":
        assert names == [idle.name] * 10, f"busy upstream {busy.name} chosen: {names}"
    else:
        assert names.count(busy.name) == 5, names


# ----------------------------------------------------------------------------------------------
# Failures, passive and active health


def test_connect_refused_tries_the_next_upstream(proxy, up):
    b = up.echo("b")
    s = proxy([closed_port_url(), b], proxy_max_fails=0)
    for i in range(6):
        t0 = time.monotonic()
        assert echoed(get(s, f"/n{i}"))["upstream"] == "b"
        assert time.monotonic() - t0 < SLACK
    assert b.count("/n") == 6


def test_all_upstreams_refused_is_502(proxy, up, tmp_path):
    log = tmp_path / "access.log"
    s = proxy([closed_port_url(), closed_port_url()], access_log=log)
    t0 = time.monotonic()
    r = get(s, "/down")
    assert r.status == 502, str(r)
    assert time.monotonic() - t0 < SLACK
    assert access_statuses(log, 1) == [502]


def test_connect_timeout_tries_the_next_upstream_and_marks_it_failed(proxy, up):
    hole, b = up.blackhole(), up.echo("b")
    s = proxy([hole, b], proxy_connect_timeout=1, proxy_max_fails=1, proxy_fail_timeout=30)
    t0 = time.monotonic()
    names = [echoed(get(s, f"/t{i}"))["upstream"] for i in range(2)]
    elapsed = time.monotonic() - t0
    assert names == ["b", "b"]
    # At most one connect timeout: the second request skips the failed upstream.
    assert elapsed < 1 + SLACK, f"{elapsed:.1f}s for two requests"
    more = time.monotonic()
    for i in range(4):
        assert echoed(get(s, f"/u{i}"))["upstream"] == "b"
    assert time.monotonic() - more < SLACK, "a failed upstream was tried again within fail_timeout"


def test_connect_timeout_on_every_upstream_fails_after_the_timeout(proxy, up):
    hole = up.blackhole()
    s = proxy([hole], proxy_connect_timeout=1)
    t0 = time.monotonic()
    r = get(s, "/")
    elapsed = time.monotonic() - t0
    assert r.status in (502, 504), str(r)  # the spec does not say which one (see the report)
    assert 0.9 <= elapsed < 1 + SLACK, elapsed


@pytest.mark.parametrize("max_fails", [1, 0])
def test_passive_health_skips_a_failed_upstream_for_fail_timeout(proxy, up, max_fails):
    a, b = up.echo("a"), up.echo("b")
    fail_timeout = 3 * TIME_SCALE
    s = proxy([a, b], proxy_max_fails=max_fails, proxy_fail_timeout=fail_timeout)
    assert sorted(echoed(get(s, f"/w{i}"))["upstream"] for i in range(2)) == ["a", "b"]
    port = a.port
    a.stop()
    t_fail = time.monotonic()
    for i in range(6):
        t0 = time.monotonic()
        assert echoed(get(s, f"/down{i}"))["upstream"] == "b"
        assert time.monotonic() - t0 < SLACK, "a request hung on the stopped upstream"
    a2 = up.echo("a", port=port)  # back on the same port
    names = [echoed(get(s, f"/back{i}"))["upstream"] for i in range(6)]
    if max_fails == 0:
        assert names.count("a") == 3, f"max_fails = 0 must never skip: {names}"
        return
    assert time.monotonic() - t_fail < fail_timeout - 0.5, "too slow to check the skipping"
    assert names == ["b"] * 6, f"upstream a used within fail_timeout: {names}"
    # After fail_timeout it is tried again.
    while a2.count("/") == 0:
        assert time.monotonic() - t_fail < fail_timeout + SLACK, "a never tried again"
        get(s, "/probe")
        time.sleep(0.1)
    assert time.monotonic() - t_fail >= fail_timeout - 0.5


def test_a_bad_response_counts_as_a_passive_failure(proxy, up):
    bad, b = up.raw("bad-status"), up.echo("b")
    s = proxy([bad, b], proxy_max_fails=1, proxy_fail_timeout=60)
    statuses = [get(s, f"/p{i}").status for i in range(8)]
    assert len(bad.requests) == 1, f"an upstream that failed was used {len(bad.requests)} times"
    assert statuses.count(200) >= 7 and set(statuses) <= {200, 502}, statuses


def logged_refusals(err: str, cause: str) -> int:
    """The proxied requests the error log says were answered 503 for `cause`, over all its lines."""
    return sum(int(m[1]) for m in re.finditer(re.escape(cause) + r".*: answered (\d+) proxied request", err))


def assert_503s_at_once(c, n: int):
    """`n` requests /short0... on connection `c` each get 503 with Retry-After at once, and the
    connection stays open: the shortage is the proxy's own, not the client's doing."""
    t0 = time.monotonic()
    for i in range(n):
        c.send(req(f"/short{i}", host=HOST))
        r = c.read_response()
        assert r.status == 503 and r.header("Retry-After") == "1", str(r)
        assert "close" not in r.tokens("Connection"), "a refused request must not cost the connection"
    assert time.monotonic() - t0 < SLACK


@pytest.mark.parametrize("upstreams", [1, 2])
def test_no_descriptor_for_the_upstream_is_503_and_not_the_upstreams_fault(proxy, up, upstreams):
    """socket() fails with EMFILE: the shortage is this machine's. The request gets 503 with
    Retry-After (as a file that cannot be opened), no upstream is marked failed or tried in vain,
    and once descriptors are free again the same upstreams answer at once. Before, each one was
    tried, marked failed for fail_timeout and the client got 502, also after the shortage."""
    import resource
    ups = [up.echo(name) for name in "ab"[:upstreams]]
    s = proxy(ups, proxy_keepalive=0, proxy_max_fails=1, proxy_fail_timeout=60)
    c = s.connect()
    c.send(req("/first", host=HOST))
    assert echoed(c.read_response())["upstream"] == "a"
    # No pooled connection (proxy_keepalive = 0): the next request needs a new socket. The soft
    # limit is lowered to the lowest free number, so that none can be made.
    numbers = {int(n) for n in os.listdir(f"/proc/{s.pid}/fd")}
    lowest_free = min(set(range(len(numbers) + 1)) - numbers)
    limits = resource.prlimit(s.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(s.pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    try:
        assert_503s_at_once(c, 5)
    finally:
        resource.prlimit(s.pid, resource.RLIMIT_NOFILE, limits)
    names = []
    for i in range(2 * upstreams):
        c.send(req(f"/again{i}", host=HOST))
        names.append(echoed(c.read_response())["upstream"])
    assert sorted(set(names)) == ["a", "b"][:upstreams], f"an upstream was marked failed: {names}"
    c.close()
    assert sum(u.count("/short") for u in ups) == 0
    # The first refusal has its line at once; the other four, held back by the throttle, within
    # about a second after it, though no later refusal comes to carry them.
    wait_until(lambda: logged_refusals(s.stderr(), "no socket for an upstream") == 5, 2 + SLACK,
               "a line for the last four refusals")
    err = s.stderr()
    assert "no socket for an upstream (Too many open files): answered 1 proxied request(s) with 503" in err, err
    assert err.count("no socket for an upstream") <= 2, err  # one line a second at most
    assert "connect failed" not in err, err


@pytest.fixture
def two_port_netns():
    """A network namespace, loopback up, whose ephemeral port range is two ports (40000-40001):
    two connections to one address:port use them all. The machine's own range is left alone."""
    if os.geteuid() != 0:
        pytest.fail("needs root: a network namespace")
    ns = f"nuri-ports-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, capture_output=True)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                        "net.ipv4.ip_local_port_range=40000 40001"], check=True, capture_output=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def in_netns(ns: str, fn):
    """Runs fn() in a thread that has joined network namespace `ns` (setns moves the calling
    thread only): the sockets it makes and the threads and processes it starts live there.
    Returns fn's value or raises its exception."""
    outcome = {}

    def body():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{ns}") as f:
                if libc.setns(f.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {ns}: {os.strerror(err)}")
            outcome["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.parametrize("upstreams", [1, 2])
def test_no_local_port_for_the_upstream_is_503_and_not_the_upstreams_fault(proxy, up, two_port_netns,
                                                                           upstreams):
    """connect() fails with EADDRNOTAVAIL: every ephemeral port is in a connection to the
    upstream. That is this machine's limit: the request gets 503 with Retry-After, the other
    upstreams are tried first, none is marked failed, and once ports are free the same upstreams
    answer. Before, the upstream was marked failed (502), and stayed skipped for fail_timeout."""
    def body():
        # Fixed ports everywhere but the proxy's own connections: in this namespace a bind to
        # port 0 would take one of the two ephemeral ports.
        ups = [up.echo(name, port=9001 + i) for i, name in enumerate("ab"[:upstreams])]
        s = proxy(ups, listen=("127.0.0.1:8080",), proxy_keepalive=0, proxy_max_fails=1,
                  proxy_fail_timeout=60)
        # Round robin: two slow requests per upstream hold both ports to each of them.
        slow = []
        for i in range(2 * upstreams):
            c = s.connect(source_port=50000 + i)
            c.send(req(f"/slow?s=30&i={i}", host=HOST))
            slow.append(c)
        wait_until(lambda: sum(u.count("/slow") for u in ups) == 2 * upstreams, SLACK,
                   "the slow requests at the upstreams")
        c = s.connect(source_port=50100)
        assert_503s_at_once(c, 3)
        for u in ups:
            u.release_slow()
        for sc in slow:
            assert sc.read_response().status == 200
            sc.close()
        # The ports the slow requests used are in TIME_WAIT, which a new connection on loopback
        # may take over one second after its last timestamp (net.ipv4.tcp_tw_reuse = 2).
        time.sleep(1.2)
        names = []
        for i in range(2 * upstreams):
            c.send(req(f"/again{i}", host=HOST))
            r = c.read_response()
            assert r.status == 200, f"after the ports came free: {r}"
            names.append(echoed(r)["upstream"])
        assert sorted(set(names)) == ["a", "b"][:upstreams], f"an upstream was marked failed: {names}"
        c.close()
        assert sum(u.count("/short") for u in ups) == 0
        wait_until(lambda: logged_refusals(s.stderr(), "no local port left") == 3, 2 + SLACK,
                   "a line for the refusals held back")
        return s.stderr()

    err = in_netns(two_port_netns, body)
    assert ("no local port left to connect to an upstream (net.ipv4.ip_local_port_range): "
            "answered 1 proxied request(s) with 503") in err, err
    assert err.count("no local port left") <= 2, err  # one line a second at most
    assert "connect failed" not in err, err


def test_each_shortage_cause_has_its_own_line(proxy, up, two_port_netns):
    """No port, then no socket, then no port again, within one second on one worker: the log
    counts each refusal under its own cause. With one throttle for both, the socket refusal was
    held back and then counted in the port line, the last cause seen, so the log never said the
    proxy had run out of descriptors."""
    import resource

    def body():
        u = up.echo("a", port=9001)
        s = proxy([u], listen=("127.0.0.1:8080",), proxy_keepalive=0)
        slow = []
        for i in range(2):  # both ephemeral ports held in connections to the upstream
            c = s.connect(source_port=50000 + i)
            c.send(req(f"/slow?s=30&i={i}", host=HOST))
            slow.append(c)
        wait_until(lambda: u.count("/slow") == 2, SLACK, "the slow requests at the upstream")
        c = s.connect(source_port=50100)
        t0 = time.monotonic()
        assert_503s_at_once(c, 1)  # no port
        numbers = {int(n) for n in os.listdir(f"/proc/{s.pid}/fd")}
        lowest_free = min(set(range(len(numbers) + 1)) - numbers)
        limits = resource.prlimit(s.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(s.pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
        try:
            assert_503s_at_once(c, 1)  # no socket
        finally:
            resource.prlimit(s.pid, resource.RLIMIT_NOFILE, limits)
        assert_503s_at_once(c, 1)  # no port
        assert time.monotonic() - t0 < 1, "the three refusals must fall in one second to share a throttle"
        u.release_slow()
        for sc in slow:
            assert sc.read_response().status == 200
            sc.close()
        c.close()
        wait_until(lambda: logged_refusals(s.stderr(), "no local port left")
                   + logged_refusals(s.stderr(), "no socket for an upstream") == 3, 2 + SLACK,
                   "a line for the refusals held back")
        return s.stderr()

    err = in_netns(two_port_netns, body)
    assert logged_refusals(err, "no local port left") == 2, err
    assert logged_refusals(err, "no socket for an upstream (Too many open files)") == 1, err
    assert "connect failed" not in err, err


def test_health_check_without_a_local_port_leaves_the_upstream_as_it_was(proxy, up, two_port_netns):
    """The active health check finds no ephemeral port free for the upstream (EADDRNOTAVAIL):
    that says nothing about the upstream, which stays in use."""
    interval = 3

    def body():
        a = up.echo("a", port=9001)
        s = proxy([a], listen=("127.0.0.1:8080",), proxy_keepalive=0, proxy_health_check="/health",
                  proxy_health_interval=interval)
        wait_until(lambda: a.count("/health") >= 1, interval + SLACK, "the first health check")
        time.sleep(1.2)  # the check's port leaves TIME_WAIT for reuse (net.ipv4.tcp_tw_reuse = 2)
        slow = []
        for i in range(2):  # both ports in connections to the upstream
            c = s.connect(source_port=50000 + i)
            c.send(req(f"/slow?s=30&i={i}", host=HOST))
            slow.append(c)
        wait_until(lambda: a.count("/slow") == 2, SLACK, "the slow requests at the upstream")
        checks = a.count("/health")
        time.sleep(interval + 0.5)  # a check comes due and cannot connect
        assert a.count("/health") == checks
        a.release_slow()
        for c in slow:
            assert c.read_response().status == 200
            c.close()
        time.sleep(1.2)  # TIME_WAIT on loopback can be taken over after a second
        c = s.connect(source_port=50100)
        c.send(req("/after", host=HOST))
        assert echoed(c.read_response())["upstream"] == "a"
        c.close()
        return s.stderr()

    err = in_netns(two_port_netns, body)
    assert "skipped until a check passes" not in err, err


def test_health_check_without_a_socket_leaves_the_upstream_as_it_was(proxy, up):
    """The active health check cannot make a socket (EMFILE): that says nothing about the
    upstream, which stays in use. Before, it was logged as failed and skipped until a check
    passed."""
    import resource
    a = up.echo("a")
    interval = 1
    s = proxy([a], proxy_health_check="/health", proxy_health_interval=interval)
    wait_until(lambda: a.count("/health") >= 1, interval + SLACK, "the first health check")
    numbers = {int(n) for n in os.listdir(f"/proc/{s.pid}/fd")}
    lowest_free = min(set(range(len(numbers) + 1)) - numbers)
    limits = resource.prlimit(s.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(s.pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    try:
        checks = a.count("/health")
        time.sleep(2.5 * interval)  # two checks come due, neither can reach the upstream
        assert a.count("/health") == checks
    finally:
        resource.prlimit(s.pid, resource.RLIMIT_NOFILE, limits)
    assert echoed(get(s, "/after"))["upstream"] == "a"
    assert "skipped until a check passes" not in s.stderr(), s.stderr()


def test_active_health_check_skips_an_unhealthy_upstream(proxy, up):
    a, b = up.echo("a"), up.echo("b")
    interval = 1
    s = proxy([a, b], proxy_health_check="/health", proxy_health_interval=interval)
    wait_until(lambda: a.count("/health") >= 1 and b.count("/health") >= 1,
               interval + SLACK, "the first health checks")
    assert {r["method"] for r in a.requests if r["target"] == "/health"} == {"GET"}
    a.health_status = 503
    t0 = time.monotonic()
    checks = a.count("/health")
    wait_until(lambda: a.count("/health") > checks, interval + SLACK, "a check seeing 503")
    # From the next requests on, a is skipped.
    deadline = time.monotonic() + interval + SLACK
    while True:
        names = [echoed(get(s, f"/h{i}"))["upstream"] for i in range(4)]
        if names == ["b"] * 4:
            break
        assert time.monotonic() < deadline, f"unhealthy upstream still used: {names}"
    assert all(echoed(get(s, f"/sick{i}"))["upstream"] == "b" for i in range(10))
    assert time.monotonic() - t0 < 30
    a.health_status = 200
    since = time.monotonic()
    deadline = since + interval + SLACK
    while a.count("/back", since=since) == 0:
        assert time.monotonic() < deadline, "a recovered upstream is not used again"
        get(s, "/back")


def test_health_check_with_redirect_counts_as_up(proxy, up):
    a, b = up.echo("a"), up.echo("b")
    a.health_status = 302
    s = proxy([a, b], proxy_health_check="/health", proxy_health_interval=1)
    wait_until(lambda: a.count("/health") >= 2, 1 + 2 * SLACK, "two health checks")
    assert sorted(echoed(get(s, f"/r{i}"))["upstream"] for i in range(4)) == ["a", "a", "b", "b"]


# ----------------------------------------------------------------------------------------------
# Keep-alive pool


def test_upstream_connections_are_reused(proxy, up):
    e = up.echo()
    s = proxy([e], proxy_keepalive=16)
    c = s.connect()
    for i in range(30):
        c.send(req(f"/k{i}", host=HOST))
        assert echoed(c.read_response())["target"] == f"/k{i}"
    assert e.count("/k") == 30
    assert e.connections <= 3, f"{e.connections} upstream connections for 30 requests"


def test_keepalive_zero_uses_one_connection_per_request(proxy, up):
    e = up.echo()
    s = proxy([e], proxy_keepalive=0)
    c = s.connect()
    for i in range(10):
        c.send(req(f"/k{i}", host=HOST))
        echoed(c.read_response())
    assert e.connections == 10


def test_pooled_connection_closed_by_a_restarted_upstream_is_not_a_502(proxy, up):
    e = up.echo()
    s = proxy([e], proxy_keepalive=16)
    echoed(get(s, "/first"))
    port = e.port
    e.stop()  # closes the pooled connection
    e2 = up.echo(port=port)
    assert echoed(get(s, "/second"))["target"] == "/second"
    assert e2.count("/second") == 1


# ----------------------------------------------------------------------------------------------
# Bad upstreams: 502, 504, cut bodies


@pytest.mark.parametrize("mode", ["bad-status", "space-colon", "cl-te", "bad-cl", "huge-head",
                                  "reset-mid-head"])
def test_malformed_upstream_response_is_502(proxy, up, mode):
    u = up.raw(mode)
    s = proxy([u], proxy_max_fails=0)
    t0 = time.monotonic()
    r = get(s, "/")
    assert r.status == 502, str(r)
    assert time.monotonic() - t0 < SLACK
    assert b"2OO" not in r.body and b"X-Bad" not in r.body


@pytest.mark.parametrize("mode", ["te-gzip-chunked", "te-gzip-two-fields", "te-gzip"])
def test_unknown_transfer_coding_is_502_and_the_connection_is_not_reused(proxy, up, mode):
    """RFC 9112 §6.1: a recipient may remove only a coding it decodes. nuri decodes chunked alone
    and frames the body itself, so a gzip coding passed on would hand the client gzip bytes as if
    plain: anything but exactly chunked is a 502, as in nginx, and the connection is closed."""
    u = up.raw(mode)
    s = proxy([u], proxy_max_fails=0)
    for path in ("/a", "/b"):
        r = get(s, path)
        assert r.status == 502, str(r)
        assert GZIP_BODY[:10] not in r.body
    assert u.connections == 2, "the connection that brought an unknown coding was used again"
    line = f'upstream 127.0.0.1:{u.port}: unknown Transfer-Encoding "gzip'
    wait_until(lambda: s.stderr().count(line) == 2, SLACK, "the log to name the unknown coding")


def test_large_set_of_response_fields_passes_and_one_more_is_502(proxy, up):
    """An upstream head may hold 256 field lines (an application may set many cookies, one a
    line); 257 are a 502 that the log explains."""
    most = proxy([up.raw("cookies-255")])
    r = get(most, "/")
    assert r.status == 200, str(r)
    assert r.all("Set-Cookie") == [f"c{i}={i}; Path=/" for i in range(255)]
    over = proxy([up.raw("cookies-256")], proxy_max_fails=0)
    assert get(over, "/").status == 502
    wait_until(lambda: "too many header fields" in over.stderr(), SLACK, "the log to say why")


def test_bare_lf_line_ends_in_a_response_head_are_read_as_in_a_request(proxy, up):
    """RFC 9112 §2.2 lets a recipient take a bare LF as a line end; nuri's request parser does,
    and so does the response parser (the client gets a head written anew, with CRLF)."""
    r = get(proxy([up.raw("bare-lf")]), "/")
    assert r.status == 200, str(r)
    assert r.header("X-A") == "a" and r.body == b"hi"


def test_an_answer_before_the_request_body_says_the_connection_closes(proxy, up):
    """The upstream answers a POST's head before its body came: nuri closes the client connection
    after that answer (the rest of the body is not read), so the answer says so (RFC 9112 §9.6),
    as nuri's own early 413 does; a request pipelined behind the body is not answered."""
    s = proxy([up.raw("early-403")])
    c = s.connect()
    c.send(req("/upload", "POST", [("Content-Length", "10")], host=HOST))
    r = c.read_head()
    assert r.status == 403, str(r)
    assert "close" in r.tokens("Connection"), str(r)
    c.send(b"0123456789" + req("/next", host=HOST))
    data, closed = c.read_until_close(SLACK)
    assert closed and data == b"nope", data


def test_post_is_never_sent_twice(proxy, up):
    """Both upstreams reset after reading the request: the POST reached one of them, so it is
    not retried on the other; the client gets 502."""
    a, b = up.raw("reset-after-request"), up.raw("reset-after-request")
    s = proxy([a, b], proxy_max_fails=0)
    body = b"order=1&amount=100"
    r = get(s, "/pay", "POST", body=body,
            headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert r.status == 502, str(r)
    posts = a.requests + b.requests
    assert len(posts) == 1, f"the POST was sent {len(posts)} times"
    assert posts[0].startswith(b"POST /pay ") and posts[0].endswith(body)


def test_no_response_head_within_proxy_timeout_is_504(proxy, up, tmp_path):
    log = tmp_path / "access.log"
    u = up.raw("hang")
    s = proxy([u], proxy_timeout=1, access_log=log)
    t0 = time.monotonic()
    r = get(s, "/")
    elapsed = time.monotonic() - t0
    assert r.status == 504, str(r)
    assert 0.9 <= elapsed < 1 + SLACK, elapsed
    assert access_statuses(log, 1) == [504]


@pytest.mark.parametrize("mode", ["close-mid-cl", "close-mid-chunked"])
def test_upstream_closing_mid_body_closes_the_client(proxy, up, mode):
    u = up.raw(mode)
    s = proxy([u], proxy_max_fails=0)
    # curl must report the transfer as failed, not as a short complete file.
    r = curl(s.url("/"), "-H", f"Host: {HOST}", timeout=10, validate=False)
    assert r.rc in (18, 56), f"curl exit {r.rc}: {r.stderr}"
    assert r.status == 200
    # The same on a raw socket: the head, part of the body, then the close.
    c = s.connect()
    c.send(req("/", host=HOST))
    data, closed = c.read_until_close(5 + SLACK)
    assert closed, "the client connection stays open after the upstream cut the body"
    head, _, body = data.partition(b"\r\n\r\n")
    if mode == "close-mid-cl":
        assert re.search(rb"(?i)\r\ncontent-length: %d\r" % CLOSE_MID_BODY_LENGTH, head + b"\r")
        assert len(body) < CLOSE_MID_BODY_LENGTH
    else:
        assert re.search(rb"(?i)\r\ntransfer-encoding: chunked\r", head + b"\r")
        assert not body.endswith(b"0\r\n\r\n"), "a cut body was terminated like a complete one"
        try:
            complete, _ = parse_response(data, eof=True)
        except ProtocolError:
            complete = None
        assert complete is None, "the chunked body parses as complete"


def test_upstream_silent_mid_body_closes_the_client_after_proxy_timeout(proxy, up):
    u = up.raw("hang-mid-body")
    s = proxy([u], proxy_timeout=1)
    c = s.connect()
    c.send(req("/", host=HOST))
    t0 = time.monotonic()
    data, closed = c.read_until_close(1 + SLACK)
    elapsed = time.monotonic() - t0
    assert closed, "client connection not closed after proxy_timeout"
    assert 0.9 <= elapsed < 1 + SLACK, elapsed
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(body) < CLOSE_MID_BODY_LENGTH


# ----------------------------------------------------------------------------------------------
# Upgrade (WebSocket)

WS_REQUEST = req("/chat", headers=[
    ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], host=HOST)


def test_websocket_upgrade_is_tunnelled_both_ways(proxy, up):
    u = up.raw("upgrade-echo")
    s = proxy([u])
    c = s.connect(timeout=30)
    c.send(WS_REQUEST)
    r = c.read_head()
    assert r.status == 101, str(r)
    assert r.tokens("Upgrade") == {"websocket"} and "upgrade" in r.tokens("Connection")
    assert r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    (sent_head,) = u.requests
    assert re.search(rb"(?i)\r\nupgrade: websocket\r\n", sent_head)
    assert re.search(rb"(?i)\r\nconnection: [^\r]*upgrade", sent_head)
    assert b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" in sent_head
    payload = os.urandom(4 * MIB)
    got = bytearray(c.buf)
    c.buf.clear()

    def reader():
        c.sock.settimeout(30 * TIME_SCALE)
        while len(got) < len(payload):
            chunk = c.sock.recv(1 << 18)
            if not chunk:
                return
            got.extend(chunk)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(payload), 65536):
        c.sock.sendall(payload[i:i + 65536])
    t.join(30 * TIME_SCALE)
    assert bytes(got) == payload, f"{len(got)} of {len(payload)} bytes echoed"
    c.sock.shutdown(socket.SHUT_WR)  # the client closes: the upstream sees the end
    wait_until(lambda: u.eof_seen == 1, SLACK, "the upstream to see the client's close")
    data, closed = c.read_until_close(SLACK)
    assert closed and data == b""


def test_101_without_upgrade_is_502(proxy, up):
    """RFC 9110 §15.2.2: a 101 names the protocol it switches to; without Upgrade there is
    nothing to tell the client, and no tunnel is opened."""
    s = proxy([up.raw("upgrade-without-upgrade")], proxy_max_fails=0)
    c = s.connect()
    c.send(WS_REQUEST)
    assert c.read_response().status == 502
    wait_until(lambda: "101 Switching Protocols without Upgrade" in s.stderr(), SLACK, "the log to say why")


def test_websocket_upstream_close_closes_the_client(proxy, up):
    u = up.raw("upgrade-then-close")
    s = proxy([u])
    c = s.connect()
    c.send(WS_REQUEST)
    assert c.read_head().status == 101
    data, closed = c.read_until_close(SLACK)
    assert data == b"hello from upstream" and closed


# ----------------------------------------------------------------------------------------------
# Real peers: nginx and the shop example as upstreams


def test_nginx_as_upstream(proxy, up, tmp_path):
    root = tmp_path / "ngx-root"
    root.mkdir()
    data = os.urandom(3 * MIB + 1)
    (root / "f.bin").write_bytes(data)
    n = up.nginx(root, extra='location = /echo { return 200 '
                             '"xff=$http_x_forwarded_for host=$http_host conn=$http_connection '
                             'uri=$request_uri"; }')
    s = proxy([n])
    r = curl(s.url("/f.bin"))
    assert r.rc == 0 and r.body == data and r.header("Content-Length") == str(len(data))
    r = get(s, "/echo?a=1", host=HOST, headers=[("X-Forwarded-For", "203.0.113.7"),
                                                ("Connection", "keep-alive, X-Secret")])
    assert r.status == 200
    text = r.body.decode()
    assert f"xff=203.0.113.7, 127.0.0.1 host={HOST} " in text, text
    assert "uri=/echo?a=1" in text and "x-secret" not in text.lower(), text
    # keep-alive to nginx: many requests work on one client connection
    c = s.connect()
    for i in range(20):
        c.send(req("/f.bin", host=HOST))
        assert c.read_response(timeout=10).body == data


def test_shop_example_behind_the_proxy(proxy, up, nuri):
    public = REPO_ROOT / "examples" / "shop" / "public"
    shop = start_example(nuri, "shop", public, root=public)
    # No pooled connections: the shop (stopped first by the fixture) checks it has no client left.
    s = proxy([shop.url("")], proxy_keepalive=0)
    keyboard, mouse = 45000, 19000
    total = 2 * keyboard + 3 * mouse
    r = curl(s.url("/checkout"), "-d",
             f"item=1&quantity=2&price={keyboard}&item=2&quantity=3&price={mouse}&total={total}")
    assert r.status == 201, str(r)
    assert f'<span id="charged">{total}</span>' in r.body.decode()
    r = curl(s.url("/checkout"), "-d", "item=1&quantity=2&price=100&total=200")
    assert r.status == 422 and "the price sent (100)" in r.body.decode().replace("&quot;", '"')
    r = curl(s.url("/api/orders/1"))
    assert r.status == 200 and json.loads(r.body)["charged"] == total
    assert curl(s.url("/api/orders/2")).status == 404, "the refused order was recorded"
    r = curl(s.url("/"))
    assert r.status == 200 and b"<title>nuri shop</title>" in r.body


# ----------------------------------------------------------------------------------------------
# Access log


def test_access_log_records_the_proxied_status(proxy, up, tmp_path):
    log = tmp_path / "access.log"
    e = up.echo()
    s = proxy([e], access_log=log)
    assert get(s, "/ok").status == 200
    assert get(s, "/status/404").status == 404
    assert get(s, "/status/503").status == 503
    assert access_statuses(log, 3) == [200, 404, 503]


# ----------------------------------------------------------------------------------------------
# An upstream killed under load


def test_killing_an_upstream_mid_load(proxy, up):
    """8 keep-alive clients for a few seconds; one of two upstreams is killed (every connection
    reset) in the middle. No request hangs; only requests in flight at the kill may fail; the
    survivor serves everything after it."""
    a, b = up.echo("a"), up.echo("b")
    s = proxy([a, b], proxy_max_fails=1, proxy_fail_timeout=30, proxy_connect_timeout=1,
              proxy_timeout=10)
    stop = threading.Event()
    results = []  # (start, end, outcome)
    lock = threading.Lock()

    def client(k):
        c = None
        i = 0
        while not stop.is_set():
            if c is None:
                c = s.connect()
            t0 = time.monotonic()
            try:
                c.send(req(f"/load/{k}/{i}", host=HOST))
                r = c.read_response(timeout=10)
                outcome = r.status
                if r.status == 200:
                    assert json.loads(r.body)["target"] == f"/load/{k}/{i}"
            except (ProtocolError, OSError):
                outcome = "closed"
            except AssertionError as ex:
                outcome = f"error: {ex}"
            with lock:
                results.append((t0, time.monotonic(), outcome))
            if outcome != 200:
                c.close()
                c = None
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: a.count("/load") >= 20 and b.count("/load") >= 20, 10 * TIME_SCALE,
                   "load on both upstreams")
        t_kill = time.monotonic()
        a.stop(reset=True)
        # The load goes on for a while after the kill (a duration, not a wait for an event).
        stop.wait(2.5 * TIME_SCALE)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads), "a client hung"
    longest = max(end - start for start, end, _ in results)
    assert longest < SLACK + 1, f"a request took {longest:.1f}s"
    failed = [(start - t_kill, outcome) for start, _, outcome in results if outcome != 200]
    assert len(failed) <= 8, f"{len(failed)} failed requests: {failed[:20]}"
    assert all(o in (502, "closed") for _, o in failed), failed
    assert all(t < 0.5 * TIME_SCALE for t, _ in failed), \
        f"requests started after the kill failed: {failed}"
    after = [r for r in results if r[0] > t_kill + 0.5 * TIME_SCALE]
    assert len(after) >= 50, f"only {len(after)} requests in the 2 s after the kill"
    assert b.count("/load", since=t_kill + 0.5 * TIME_SCALE) >= len(after), \
        "the survivor did not serve the requests after the kill"


def test_status_page_and_metrics_show_each_upstream(proxy, up):
    """/server-status (HTML and JSON) and /metrics list every upstream with its state and
    counters: a stopped upstream shows as skipped with its failure counted."""
    a, b = up.echo("a"), up.echo("b")
    s = proxy([a, b], proxy_max_fails=1, proxy_fail_timeout=60, prefix="/api/")
    for i in range(4):
        assert get(s, f"/api/{i}").status == 200
    a.stop()
    for i in range(4):
        assert get(s, f"/api/after{i}").status == 200
    status = json.loads(get(s, "/server-status?format=json").body)
    rows = {r["upstream"]: r for r in status["upstreams"]}
    name_a, name_b = url_of(a)[len("http://"):], url_of(b)[len("http://"):]
    assert set(rows) == {name_a, name_b}
    assert rows[name_a]["up"] is False and rows[name_a]["failures"] >= 1
    assert rows[name_b]["up"] is True and rows[name_b]["failures"] == 0
    assert rows[name_b]["requests"] >= 6 and rows[name_a]["requests"] >= 2
    assert all(r["location"].endswith(" /api/") and r["active"] == 0 for r in rows.values())
    metrics = get(s, "/metrics").body.decode()
    assert re.search(r'^nuri_upstream_up\{location="[^"]+ /api/",upstream="%s"\} 0$' % re.escape(name_a),
                     metrics, re.M)
    assert re.search(r'^nuri_upstream_up\{location="[^"]+ /api/",upstream="%s"\} 1$' % re.escape(name_b),
                     metrics, re.M)
    m = re.search(r'^nuri_upstream_requests_total\{location="[^"]+",upstream="%s"\} (\d+)$' % re.escape(name_b),
                  metrics, re.M)
    assert m and int(m.group(1)) == rows[name_b]["requests"]
    html = get(s, "/server-status").body.decode()
    assert 'id="upstreams"' in html and name_a in html and "skipped" in html
