"""`nuri explain`: which listener, host, location and rule decide a request's answer, and why.

The main test is differential: one configuration with several hosts, locations, allow/deny
rules, Basic auth, a proxy, the status page, dotfiles, directories with and without an index,
limits and traversal attempts; every request is explained by `nuri explain` and sent to a real
`nuri serve` running that configuration, and the predicted status must be the real one. The
others check the shape of each kind of step, --json, and the usage errors (exit 2).
"""
from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from nuri_helpers import TIME_SCALE, free_port_holder, parse_response, run_nuri
from config_helpers import hash_password, tree
from upstreams import EchoUpstream

PASSWORD = "s3cret"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def free_ports(n: int) -> list:
    holders = [free_port_holder() for _ in range(n)]
    for h, _ in holders:
        h.close()  # free right now; the configuration names them
    return [p for _, p in holders]


def explain(*args, check_exit=0):
    r = run_nuri("explain", *args)
    if check_exit is not None:
        assert r.returncode == check_exit, (args, r.returncode, r.stdout, r.stderr)
    return r


def explain_json(*args) -> dict:
    return json.loads(explain(*args, "--json").stdout)


@pytest.fixture
def site(tmp_path):
    """A configuration exercising every kind of decision, its files, and an echo upstream."""
    www = tree(tmp_path / "www", {
        "index.html": "<p>shop</p>",
        "a.txt": "hello",
        "dir/index.html": "DIR",
        "noindex/file.txt": "x",
        "open/one.txt": "1",
        ".env": "SECRET=1",
        "dot/.hidden": "dot",
        "admin/x.txt": "admin",
        "private/p.txt": "private",
        "secret/x/y.txt": "hidden",
        "secret/ok.txt": "visible",
    })
    (tmp_path / "outside.txt").write_text("OUTSIDE")
    (www / "link_out.txt").symlink_to("../outside.txt")
    docs = tree(tmp_path / "docs", {"index.html": "docs", "404.html": "<p>custom 404</p>"})
    upstream = EchoUpstream()
    port, guarded = free_ports(2)
    conf = tmp_path / "nuri.toml"
    conf.write_text(f"""
workers = 1

[[listen]]
address = "127.0.0.1:{port}"

[[listen]]
address = "127.0.0.1:{guarded}"
deny = ["127.0.0.4"]

[limits]
max_uri_size = 256
max_header_size = 1024
max_body_size = 1000

[status]
allow = ["127.0.0.1"]

[[host]]
names = ["shop.local", "*.shop.local"]
root = "{www}"
default = true

  [[host.location]]
  prefix = "/"

  [[host.location]]
  prefix = "/open/"
  directory_listing = true

  [[host.location]]
  prefix = "/dot/"
  dotfiles = true

  [[host.location]]
  prefix = "/admin/"
  access = ["allow 127.0.0.1", "deny 127.0.0.0/8"]

  [[host.location]]
  prefix = "/private/"
    [host.location.auth]
    realm = "staff"
    users = {{ alice = "{hash_password(PASSWORD)}" }}

  [[host.location]]
  prefix = "/api/"
  proxy = ["{upstream.url}"]
  deny = ["127.0.0.3"]

  [[host.location]]
  prefix = "/old/"
  return = [301, "http://shop.local/new/"]

  [[host.location]]
  prefix = "/secret/"
  hidden = ["/secret/x/"]

[[host]]
names = ["docs.local"]
root = "{docs}"

  [[host.location]]
  prefix = "/"
  error_pages = {{ 404 = "/404.html" }}
""")
    yield {"conf": conf, "port": port, "guarded": guarded, "www": www, "upstream": upstream}
    upstream.stop()


def real_status(port: int, source: str, method: str, target: str, host: str, headers=(),
                body: bytes = b""):
    """Sends the request explain was given from `source` and returns the status (None when the
    connection closes without an answer)."""
    lines = [f"{method} {target} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += list(headers)
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    c = socket.create_connection(("127.0.0.1", port), timeout=5 * TIME_SCALE, source_address=(source, 0))
    try:
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        # One response (the connection may stay open: the head is the one explain was given).
        raw = b""
        while True:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                chunk = b""
            raw += chunk
            resp, _ = parse_response(raw, method, eof=not chunk)
            if resp is not None or not chunk:
                break
    finally:
        c.close()
    if not raw:
        return None, None
    assert resp is not None, raw[:300]
    return resp.status, resp


# (method, target, host, source, headers, body bytes, expected status, expected answer word)
# `expected` documents what the server does; the test asserts explain == real == expected.
CASES = [
    ("GET", "/", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/a.txt", "shop.local", "127.0.0.1", [], 0, 200),
    ("HEAD", "/a.txt", "shop.local", "127.0.0.1", [], 0, 200),
    ("OPTIONS", "/a.txt", "shop.local", "127.0.0.1", [], 0, 204),
    ("GET", "/missing.txt", "shop.local", "127.0.0.1", [], 0, 404),
    ("GET", "/dir", "shop.local", "127.0.0.1", [], 0, 301),
    ("GET", "/dir/", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/noindex/", "shop.local", "127.0.0.1", [], 0, 403),
    ("GET", "/open/", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/.env", "shop.local", "127.0.0.1", [], 0, 404),
    ("GET", "/dot/.hidden", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/secret/x/y.txt", "shop.local", "127.0.0.1", [], 0, 404),
    ("GET", "/secret/ok.txt", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/admin/x.txt", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/admin/x.txt", "shop.local", "127.0.0.2", [], 0, 403),
    ("GET", "/private/p.txt", "shop.local", "127.0.0.1", [], 0, 401),
    ("GET", "/private/p.txt", "shop.local", "127.0.0.1", ["Authorization: " + basic("alice", "wrong")], 0, 401),
    ("GET", "/private/p.txt", "shop.local", "127.0.0.1", ["Authorization: " + basic("alice", PASSWORD)], 0, 200),
    ("GET", "/api/thing", "shop.local", "127.0.0.3", [], 0, 403),
    ("GET", "/old/page", "shop.local", "127.0.0.1", [], 0, 301),
    ("GET", "/server-status", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/server-status", "shop.local", "127.0.0.2", [], 0, 403),
    ("POST", "/server-status", "shop.local", "127.0.0.1", [], 0, 405),
    ("GET", "/metrics", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/healthz", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/%2e%2e/outside.txt", "shop.local", "127.0.0.1", [], 0, 400),
    ("GET", "/dir/%2e%2e/a.txt", "shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/dir%2f..%2f..%2foutside.txt", "shop.local", "127.0.0.1", [], 0, None),
    ("GET", "/link_out.txt", "shop.local", "127.0.0.1", [], 0, 403),
    ("GET", "/a%00.txt", "shop.local", "127.0.0.1", [], 0, 400),
    ("DELETE", "/a.txt", "shop.local", "127.0.0.1", [], 0, 405),
    ("POST", "/a.txt", "shop.local", "127.0.0.1", ["Content-Length: 5000"], 0, 413),
    ("POST", "/a.txt", "shop.local", "127.0.0.1", ["Content-Length: 10"], 10, 405),
    ("GET", "/" + "a" * 300, "shop.local", "127.0.0.1", [], 0, 414),
    ("GET", "/", "shop.local", "127.0.0.1", ["X-Big: " + "b" * 1100], 0, 431),
    ("FOO", "/", "shop.local", "127.0.0.1", [], 0, 501),
    ("OPTIONS", "*", "shop.local", "127.0.0.1", [], 0, 204),
    ("GET", "/", "unknown.example", "127.0.0.1", [], 0, 200),
    ("GET", "/a.txt", "www.shop.local", "127.0.0.1", [], 0, 200),
    ("GET", "/nothing", "docs.local", "127.0.0.1", [], 0, 404),
    ("GET", "/a.txt", "shop.local", "127.0.0.1", ["If-None-Match: *"], 0, 304),
    ("GET", "/a.txt", "shop.local", "127.0.0.1", ["Range: bytes=0-1"], 0, 206),
    ("GET", "/a.txt", "shop.local", "127.0.0.1", ["Range: bytes=100-200"], 0, 416),
    ("GET", "/a.txt", "shop.local", "127.0.0.1", ["If-Match: \"nope\""], 0, 412),
]


def test_explain_predicts_the_real_status_of_every_request(nuri, site):
    conf, port = site["conf"], site["port"]
    s = nuri("--config", str(conf), listen=(), run=False)
    s.n_listeners = 2
    s.root = Path(conf.parent).resolve()
    s.start()
    assert len(CASES) >= 30
    mismatches = []
    for method, target, host, source, headers, body_len, expected in CASES:
        args = ["--config", conf, "--from", source, "--json"]
        for h in headers:
            args += ["-H", h]
        url = target if target == "*" else f"http://{host}:{port}{target}"
        if target == "*":
            args += ["-H", f"Host: {host}:{port}"]
        predicted = explain_json(*args, method, url)
        got, resp = real_status(port, source, method, target, f"{host}:{port}", headers, b"x" * body_len)
        if expected is not None and got != expected:
            mismatches.append(f"{method} {target} from {source}: server {got}, test expected {expected}")
        if predicted["status"] != got:
            mismatches.append(f"{method} {target} from {source}: explain {predicted['status']} "
                              f"({predicted['why']}), server {got}")
    assert not mismatches, "\n".join(mismatches)

    # The proxy: explain names the upstream and predicts no status of its own; the real request
    # reaches that upstream (the echo back end answers 200 with what it got).
    predicted = explain_json("--config", conf, "GET", f"http://shop.local:{port}/api/thing")
    assert predicted["status"] is None and predicted["answer"] == "from an upstream"
    upstream = [st for st in predicted["steps"] if st["step"] == "upstream"][0]
    assert upstream["servers"] == [f"127.0.0.1:{site['upstream'].port}"]
    got, resp = real_status(port, "127.0.0.1", "GET", "/api/thing", f"shop.local:{port}")
    assert got == 200 and json.loads(resp.body)["target"] == "/api/thing"

    # The second listener closes 127.0.0.4 right after accept: no answer, as explain says.
    guarded = site["guarded"]
    predicted = explain_json("--config", conf, "--from", "127.0.0.4", "GET", f"http://shop.local:{guarded}/")
    assert predicted["status"] is None and predicted["answer"] == "connection closed"
    assert real_status(guarded, "127.0.0.4", "GET", "/", "shop.local")[0] is None
    assert explain_json("--config", conf, "--from", "127.0.0.5", "GET", f"http://shop.local:{guarded}/")["status"] == 200
    assert real_status(guarded, "127.0.0.5", "GET", "/", "shop.local")[0] == 200


def lines_of(*args) -> dict:
    """The text output as {step name: [lines]}."""
    out = {}
    for line in explain(*args).stdout.decode().splitlines():
        name, _, rest = line.partition(": ")
        out.setdefault(name, []).append(rest)
    return out


def test_text_names_the_file_a_request_maps_to(site):
    conf, port, www = site["conf"], site["port"], site["www"]
    out = lines_of("--config", conf, "GET", f"http://shop.local:{port}/dir/")
    assert out["listener"] == [f"127.0.0.1:{port} (why: it listens on port {port})"]
    assert out["virtual host"][0].startswith(f"shop.local, *.shop.local (root {www})")
    assert 'server_name match: "shop.local"' in out["virtual host"][0]
    assert out["location"][0].startswith("/ (why: longest prefix of /dir/ among")
    files = out["file"]
    assert files[0].startswith(f"{www}/dir/ (why: openat2 of /dir/ beneath {www} (RESOLVE_BENEATH): a directory")
    assert files[1].startswith(f"{www}/dir/index.html (why: openat2 of /dir/index.html")
    assert "a regular file, 3 bytes" in files[1]
    assert out["answer"] == ["200 OK (why: a regular file, 3 bytes, text/html; charset=utf-8)"]
    assert out["request"][0].startswith("GET /dir/ HTTP/1.1, Host: shop.local:")


def test_text_names_the_denying_rule(site):
    conf, port = site["conf"], site["port"]
    out = lines_of("--config", conf, "--from", "127.0.0.2", "GET", f"http://shop.local:{port}/admin/x.txt")
    assert out["location"][0].startswith("/admin/ (why: longest prefix of /admin/x.txt")
    assert out["rule"] == ["deny 127.0.0.0/8 (why: rule 2 of 2 of the location, the first whose range "
                           "contains 127.0.0.2)"]
    assert out["answer"] == ["403 Forbidden (why: the location's allow/deny rules deny the client)"]
    assert "file" not in out  # refused before any file is opened


def test_text_names_the_limit_that_refuses(site):
    conf, port = site["conf"], site["port"]
    out = lines_of("--config", conf, "-H", "Content-Length: 5000", "POST", f"http://shop.local:{port}/a.txt")
    assert "body 5000 of 1000 bytes (max_body_size)" in out["limits"][0]
    assert out["answer"][0].startswith("413 Content Too Large (why: Content-Length 5000 is over max_body_size = 1000")
    out = lines_of("--config", conf, "GET", f"http://shop.local:{port}/" + "a" * 300)
    assert out["answer"][0].startswith("414 URI Too Long (why: the target is 301 bytes, over max_uri_size = 256")
    out = lines_of("--config", conf, "-H", "X-Big: " + "b" * 1100, "GET", f"http://shop.local:{port}/")
    assert "over max_header_size = 1024" in out["answer"][0]


def test_text_of_traversal_auth_redirect_proxy_and_hosts(site):
    conf, port = site["conf"], site["port"]
    base = f"http://shop.local:{port}"
    out = lines_of("--config", conf, "GET", base + "/link_out.txt")
    assert "EXDEV" in out["file"][0] and out["answer"][0].startswith("403 Forbidden (why: openat2: EXDEV")
    out = lines_of("--config", conf, "GET", base + "/%2e%2e/outside.txt")
    assert out["answer"][0].startswith("400 Bad Request (why: the path does not normalize")
    out = lines_of("--config", conf, "GET", base + "/private/p.txt")
    assert out["auth"] == ['Basic, realm "staff", 1 user(s) (why: no Authorization field: 401 asks for one)']
    assert out["field"] == ['WWW-Authenticate: Basic realm="staff", charset="UTF-8"']
    out = lines_of("--config", conf, "GET", base + "/old/x")
    assert out["field"][0] == "Location: http://shop.local/new/"
    assert out["answer"][0].startswith('301 Moved Permanently (why: the location\'s return = [301, "http://shop.local/new/"]')
    out = lines_of("--config", conf, "GET", base + "/api/v1?x=1")
    assert out["upstream"][0].startswith(f"shop.local /api/ (127.0.0.1:{site['upstream'].port}) (why: "
                                         "proxy_balance = round-robin")
    assert out["answer"][0].startswith("from an upstream (why: the upstream's status; 502 when none")
    out = lines_of("--config", conf, "-H", "Host: a.b.shop.local", "GET", "/a.txt")
    assert 'wildcard "*.shop.local" matches Host "a.b.shop.local"' in out["virtual host"][0]
    assert out["listener"][0].endswith("(why: the request names no port: the first listener)")
    out = lines_of("--config", conf, "GET", f"http://nobody.example:{port}/")
    assert "no name matches Host" in out["virtual host"][0] and "the default host" in out["virtual host"][0]
    out = lines_of("--config", conf, "GET", f"http://docs.local:{port}/nothing")
    assert out["error page"][0].startswith("/404.html (why: error_pages of location /")
    out = lines_of("--config", conf, "GET", f"http://shop.local:{port}/server-status")
    assert out["status endpoint"][0].startswith("the status page /server-status")
    out = lines_of("--config", conf, "GET", "http://shop.local:1/")
    assert out["answer"][0].startswith("connection refused (why: nothing of this configuration listens on port 1")
    # An address in the request: the port may be listened on, at another address.
    out = lines_of("--config", conf, "GET", f"http://[::1]:{port}/")
    assert out["listener"][0].startswith(f"none (why: no listener on [::1]:{port} (this configuration listens on "), out


def test_json_shape(site):
    conf, port = site["conf"], site["port"]
    j = explain_json("--config", conf, "--from", "::1", "GET", f"http://shop.local:{port}/a.txt?q=1")
    assert set(j) == {"request", "steps", "status", "answer", "why", "fields"}
    assert j["request"] == {"method": "GET", "target": "/a.txt?q=1", "host": f"shop.local:{port}", "client": "::1"}
    assert j["status"] == 200 and j["answer"] == "200 OK"
    names = [s["step"] for s in j["steps"]]
    assert names == ["listener", "limits", "virtual host", "location", "rule", "file"]
    for s in j["steps"]:
        assert {"step", "what", "why"} <= set(s)
    file_step = j["steps"][-1]
    assert file_step["path"] == f"{site['www']}/a.txt" and file_step["result"] == "file"
    assert j["steps"][2]["match"] == "exact" and j["steps"][3]["prefix"] == "/"
    assert j["fields"]["Content-Type"].startswith("text/plain")
    denied = explain_json("--config", conf, "--from", "127.0.0.2", "GET", f"http://shop.local:{port}/admin/")
    rule = [s for s in denied["steps"] if s["step"] == "rule"][0]
    assert rule["allowed"] is False and rule["index"] == 2
    assert rule["rules"] == ["allow 127.0.0.1/32", "deny 127.0.0.0/8"]


def test_without_config_explains_the_built_in_site():
    out = lines_of("GET", "http://127.0.0.1:8080/")
    assert out["listener"] == ["127.0.0.1:8080 (why: it listens on port 8080 at that address)"]
    assert "the built-in welcome site" in out["virtual host"][0]
    assert out["answer"] == ["200 OK (why: a regular file, " + out["answer"][0].split("a regular file, ")[1]]
    assert lines_of("GET", "http://localhost:8080/nothing")["answer"][0].startswith("404 Not Found")
    status = lines_of("--from", "10.0.0.1", "GET", "http://localhost:8080/server-status")
    assert status["answer"][0].startswith("403 Forbidden")
    assert "[status] (default: this machine only)" in status["rule"][0]


@pytest.mark.parametrize("args,message", [
    (["GET"], "URL is required"),
    (["G ET", "http://a/"], 'method "G ET" is not an HTTP token'),
    (["GET", "ftp://a/"], "only http:// URLs"),
    (["GET", "http://a:99999/"], 'URL "http://a:99999/"'),
    (["GET", "nope nope"], 'URL "nope nope"'),
    (["--from", "10.0.0.300", "GET", "http://a/"], '--from "10.0.0.300": expected an IPv4 or IPv6 address'),
    (["-H", "NoColon", "GET", "http://a/"], 'header "NoColon": expected "Name: value"'),
    (["-H", "X: a\r\nInjected: 1", "GET", "http://a/"], "cannot hold control characters"),
    (["-H", "Bad Name: v", "GET", "http://a/"], 'header "Bad Name: v"'),
])
def test_usage_errors_are_one_line_and_exit_2(args, message):
    r = explain(*args, check_exit=2)
    err = r.stderr.decode()
    assert message in err, err
    assert r.stdout == b""
    assert len(err.strip().splitlines()) <= 2  # the line, and for CLI11's own errors where to look


def test_config_errors_use_check_configs_format(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text('wrokers = 2\n[[host]]\nroot = "/does/not/exist"\n')
    r = explain("--config", conf, "GET", "http://a/", check_exit=2)
    lines = r.stderr.decode().strip().splitlines()
    assert lines[0].startswith(f"{conf}:1:1: unknown key \"wrokers\"")
    assert all(line.startswith(f"{conf}:") for line in lines)
    r = explain("--config", tmp_path / "missing.toml", "GET", "http://a/", check_exit=2)
    assert "cannot read the configuration" in r.stderr.decode()


def test_help_lists_the_options():
    text = run_nuri("explain", "--help").stdout.decode()
    for option in ("--config", "--from", "-H,--header", "--json", "METHOD", "URL"):
        assert option in text
