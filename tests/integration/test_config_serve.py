"""`nuri serve --config FILE` end to end (issue 3): virtual hosts, locations, access rules, Basic
auth, access log formats, a bad file starting nothing, and command-line overrides.

Black-box: each test writes a TOML file, starts the real binary through the `nuri` fixture (so the
fixture's teardown checks apply: no fd leak, no child, exit 0 on SIGTERM, no sanitizer report)
and talks to it over raw sockets.
"""
from __future__ import annotations

import base64
import json
import re
import socket
import time
from pathlib import Path

import pytest

from config_helpers import hash_password, read_log_lines, serve, tree
from nuri_helpers import TIME_SCALE, free_port_holder, parse_all_responses, read_to_close, req, run_nuri

# ----------------------------------------------------------------------------------------------
# Helpers


def get(s, path="/", host="localhost", headers=(), method="GET", i=0, version="HTTP/1.1"):
    c = s.connect(i)
    try:
        c.send(req(path, method, headers, host=host, version=version))
        return c.read_response(method)
    finally:
        c.close()


def raw_from(port: int, source: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Connects from `source` (a loopback address) and returns every byte until close."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout * TIME_SCALE,
                                 source_address=(source, 0))
    try:
        try:
            c.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_to_close(c)
    finally:
        c.close()


def basic(user: str, password: str) -> tuple:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


# ----------------------------------------------------------------------------------------------
# Virtual hosts

@pytest.fixture
def sites(tmp_path):
    """Three roots, each with an index.html naming it."""
    out = {}
    for name in ("a", "b", "w", "ip"):
        out[name] = tree(tmp_path / f"site_{name}", {"index.html": f"SITE-{name.upper()}\n",
                                                      "only.txt": f"only in {name}"})
    return out


def vhost_conf(sites, extra_top="", a_default=False, b_default=False):
    return f"""{extra_top}
[[listen]]
address = "127.0.0.1:0"

[[host]]
names = ["a.test", "Alias.A.Test"]
root = "{sites['a']}"
{"default = true" if a_default else ""}

[[host]]
names = ["b.test"]
root = "{sites['b']}"
{"default = true" if b_default else ""}

[[host]]
names = ["*.w.test"]
root = "{sites['w']}"

[[host]]
names = ["exact.w.test", "127.0.0.1"]
root = "{sites['ip']}"
"""


def body_of(s, host, path="/", **kw):
    r = get(s, path, host=host, **kw)
    return r.status, r.body


def test_exact_host_names_select_their_root(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    assert body_of(s, "a.test") == (200, b"SITE-A\n")
    assert body_of(s, "alias.a.test") == (200, b"SITE-A\n")
    assert body_of(s, "b.test") == (200, b"SITE-B\n")
    assert body_of(s, "b.test", "/only.txt") == (200, b"only in b")


@pytest.mark.parametrize("host", ["B.TEST", "b.test:8080", "b.test.", "B.Test.:1", "b.TEST:65535"])
def test_host_match_ignores_case_port_and_trailing_dot(nuri, tmp_path, sites, host):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    assert body_of(s, host) == (200, b"SITE-B\n"), host


def test_wildcard_matches_any_depth_but_not_the_bare_domain(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    assert body_of(s, "x.w.test") == (200, b"SITE-W\n")
    assert body_of(s, "a.b.c.W.TEST:99") == (200, b"SITE-W\n")
    # The bare domain and a look-alike suffix are not covered: the default (first) host.
    assert body_of(s, "w.test") == (200, b"SITE-A\n")
    assert body_of(s, "xw.test") == (200, b"SITE-A\n")


def test_exact_name_beats_wildcard_and_ip_literal_names(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    assert body_of(s, "exact.w.test") == (200, b"SITE-IP\n")
    assert body_of(s, f"127.0.0.1:{s.port}") == (200, b"SITE-IP\n")


def test_first_host_is_default_when_none_marked(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    assert body_of(s, "nobody.example") == (200, b"SITE-A\n")
    assert body_of(s, "localhost") == (200, b"SITE-A\n")


def test_host_marked_default_gets_unknown_names(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites, b_default=True))
    assert body_of(s, "nobody.example") == (200, b"SITE-B\n")
    # HTTP/1.0 without Host: the default host as well.
    r = get(s, "/", host=None, version="HTTP/1.0")
    assert (r.status, r.body) == (200, b"SITE-B\n"), str(r)
    assert body_of(s, "a.test") == (200, b"SITE-A\n")


@pytest.mark.parametrize("code", [421, 404])
def test_unknown_host_status(nuri, tmp_path, sites, code):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites, extra_top=f"unknown_host = {code}"))
    r = get(s, "/", host="nobody.example")
    assert r.status == code, str(r)
    assert b"SITE-" not in r.body
    r = get(s, "/only.txt", host="w.test")  # the bare domain of a wildcard is unknown too
    assert r.status == code, str(r)
    assert body_of(s, "a.test") == (200, b"SITE-A\n")
    assert body_of(s, "q.w.test") == (200, b"SITE-W\n")
    # The absolute-form authority is what counts: unknown there, known in Host.
    r = get(s, "http://nobody.example/", host="a.test")
    assert r.status == code, str(r)


LISTENER_HOSTS = """
[[host]]
names = ["a.test"]
root = "{a}"
[[host]]
names = ["b.test"]
root = "{b}"
[[host]]
names = ["*.w.test"]
root = "{w}"
"""


def test_listener_default_host_per_port(nuri, tmp_path, sites):
    conf = """
[[listen]]
address = "127.0.0.1:0"
default_host = "B.Test"
[[listen]]
address = "127.0.0.1:0"
""" + LISTENER_HOSTS.format(**sites)
    s = serve(nuri, tmp_path / "n.toml", conf, listeners=2)
    assert s.addrs[0][1] != s.addrs[1][1]
    assert get(s, "/", host="nobody", i=0).body == b"SITE-B\n"
    assert get(s, "/", host="nobody", i=1).body == b"SITE-A\n"
    # A name that matches still wins over the listener's default.
    assert get(s, "/", host="a.test", i=0).body == b"SITE-A\n"
    assert get(s, "/", host="b.test", i=1).body == b"SITE-B\n"
    assert get(s, "/", host="z.w.test", i=0).body == b"SITE-W\n"


def test_listener_default_host_may_name_a_wildcard_host(nuri, tmp_path, sites):
    """default_host is "a name of some [[host]]"; check-config accepts "*.w.test", so the
    listener must use that host (or the file must be refused), not fall back silently."""
    conf = """
[[listen]]
address = "127.0.0.1:0"
default_host = "*.w.test"
""" + LISTENER_HOSTS.format(**sites)
    s = serve(nuri, tmp_path / "n.toml", conf)
    r = get(s, "/", host="nobody")
    assert r.body == b"SITE-W\n", (
        f"listener default_host = \"*.w.test\" was accepted but ignored: got {r.body!r}")


def test_absolute_form_authority_selects_the_host(nuri, tmp_path, sites):
    s = serve(nuri, tmp_path / "n.toml", vhost_conf(sites))
    # RFC 9112 §3.2.2: the target's authority wins over the Host field.
    r = get(s, "http://b.test/only.txt", host="a.test")
    assert (r.status, r.body) == (200, b"only in b"), str(r)
    r = get(s, "http://Deep.X.W.Test:8080/", host="a.test")
    assert (r.status, r.body) == (200, b"SITE-W\n"), str(r)


# ----------------------------------------------------------------------------------------------
# Locations


@pytest.fixture
def loc_site(tmp_path):
    main = tree(tmp_path / "main", {
        "index.html": "MAIN-INDEX",
        "a.txt": "main a",
        "docs/readme.txt": "main docs readme",
        "private/secret.txt": "SECRET",
        "pub/private/inner.txt": "INNER",
        "pub/ok.txt": "ok",
        "errors/404.html": "<h1>custom not found</h1>",
        "errors/403.txt": "custom forbidden",
        "multi/home.htm": "HOME-HTM",
        "multi/index.html": "MULTI-INDEX",
        "second/index.html": "SECOND-INDEX",
        "noindex/x.txt": "x",
        ".env": "ENV",
        "dot/.well-known/acme": "ACME",
        "dot/.git/config": "GIT",
        "cached/c.txt": "cached content",
    })
    other = tree(tmp_path / "other", {
        "docs/readme.txt": "OTHER docs readme",
        "docs/api/spec.txt": "OTHER api spec",
    })
    api = tree(tmp_path / "api", {"docs/api/spec.txt": "API spec"})
    return main, other, api


def loc_conf(main, other, api, extra_root_loc=""):
    return f"""
[[listen]]
address = "127.0.0.1:0"

[[host]]
names = ["site.test"]
root = "{main}"

  [[host.location]]
  prefix = "/"
  index = ["home.htm", "index.html"]
  headers = {{ "X-Frame-Options" = "DENY", "X-Loc" = "root" }}
  error_pages = {{ 404 = "/errors/404.html", 403 = "/errors/403.txt" }}
  hidden = ["/private/", "/pub/private/"]
  {extra_root_loc}

  [[host.location]]
  prefix = "/docs/"
  root = "{other}"
  headers = {{ "X-Loc" = "docs" }}

  [[host.location]]
  prefix = "/docs/api/"
  root = "{api}"
  headers = {{ "X-Loc" = "api" }}

  [[host.location]]
  prefix = "/cached/"
  cache_control = "max-age=3600, public"

  [[host.location]]
  prefix = "/old/"
  return = [301, "https://example.test/new/"]

  [[host.location]]
  prefix = "/moved"
  return = {{ status = 302, target = "/a.txt" }}

  [[host.location]]
  prefix = "/tmp307/"
  return = [307, "/docs/readme.txt"]

  [[host.location]]
  prefix = "/perm308/"
  return = {{ status = 308, target = "http://other.test/x?y=1" }}

  [[host.location]]
  prefix = "/dot/"
  dotfiles = true
"""


@pytest.fixture
def loc_server(nuri, tmp_path, loc_site):
    main, other, api = loc_site
    return serve(nuri, tmp_path / "n.toml", loc_conf(main, other, api))


def test_longest_prefix_wins_with_its_own_root(loc_server):
    s = loc_server
    r = get(s, "/docs/readme.txt")
    assert (r.status, r.body, r.header("X-Loc")) == (200, b"OTHER docs readme", "docs"), str(r)
    r = get(s, "/docs/api/spec.txt")
    assert (r.status, r.body, r.header("X-Loc")) == (200, b"API spec", "api"), str(r)
    r = get(s, "/a.txt")
    assert (r.status, r.body, r.header("X-Loc")) == (200, b"main a", "root"), str(r)
    # A location's headers replace nothing from another location: only the chosen one applies.
    assert get(s, "/docs/readme.txt").header("X-Frame-Options") is None


def test_index_list_first_existing(loc_server):
    s = loc_server
    r = get(s, "/multi/")
    assert (r.status, r.body) == (200, b"HOME-HTM"), str(r)
    r = get(s, "/second/")
    assert (r.status, r.body) == (200, b"SECOND-INDEX"), str(r)
    r = get(s, "/")
    assert (r.status, r.body) == (200, b"MAIN-INDEX"), str(r)
    # No index and no listing: not a listing.
    r = get(s, "/noindex/")
    assert r.status == 403 and b"x.txt" not in r.body, str(r)


def test_location_headers_on_every_response(loc_server):
    s = loc_server
    for path, status in (("/a.txt", 200), ("/missing", 404), ("/multi", 301)):
        r = get(s, path)
        assert r.status == status, str(r)
        assert r.header("X-Frame-Options") == "DENY", f"{path}: {r}"
        assert r.header("X-Loc") == "root", f"{path}: {r}"


def test_cache_control_only_on_200_206_304(loc_server):
    s = loc_server
    cc = "max-age=3600, public"
    r = get(s, "/cached/c.txt")
    assert r.status == 200 and r.header("Cache-Control") == cc, str(r)
    etag = r.header("ETag")
    r = get(s, "/cached/c.txt", headers=[("Range", "bytes=0-5")])
    assert (r.status, r.body, r.header("Cache-Control")) == (206, b"cached", cc), str(r)
    r = get(s, "/cached/c.txt", headers=[("If-None-Match", etag)])
    assert r.status == 304 and r.header("Cache-Control") == cc, str(r)
    for path, status in (("/cached/nothing", 404), ("/cached", 301)):
        r = get(s, path)
        assert r.status == status and r.header("Cache-Control") is None, str(r)
    assert get(s, "/a.txt").header("Cache-Control") is None


@pytest.mark.parametrize("path,status,target", [
    ("/old/", 301, "https://example.test/new/"),
    ("/old/deep/page.html?q=1", 301, "https://example.test/new/"),
    ("/old", 301, "https://example.test/new/"),  # "/old/" also governs "/old"
    ("/moved", 302, "/a.txt"),
    ("/moved/anything", 302, "/a.txt"),
    ("/tmp307/x", 307, "/docs/readme.txt"),
    ("/perm308/", 308, "http://other.test/x?y=1"),
])
def test_return_redirects(loc_server, path, status, target):
    r = get(loc_server, path)
    assert r.status == status and r.header("Location") == target, str(r)


def test_redirect_even_for_post_and_head(loc_server):
    c = loc_server.connect()
    c.send(req("/tmp307/x", "POST", [("Content-Length", "3")]) + b"abc")
    r = c.read_response("POST")
    assert r.status == 307 and r.header("Location") == "/docs/readme.txt", str(r)
    c.close()
    r = get(loc_server, "/old/", method="HEAD")
    assert r.status == 301 and r.body == b"", str(r)


@pytest.mark.parametrize("path", [
    "/private/secret.txt", "/private/", "/pub/private/inner.txt",
    "/%70rivate/secret.txt", "//private/secret.txt", "/pub/./private/inner.txt",
    "/x/../private/secret.txt", "/pub/%2e/private/inner.txt",
])
def test_hidden_prefixes_are_404(loc_server, path):
    r = get(loc_server, path)
    assert r.status == 404, f"{path}: {r}"
    assert b"SECRET" not in r.body and b"INNER" not in r.body
    assert get(loc_server, "/pub/ok.txt").body == b"ok"


def test_dotfiles_per_location(loc_server):
    s = loc_server
    assert get(s, "/.env").status == 404
    r = get(s, "/dot/.well-known/acme")
    assert (r.status, r.body) == (200, b"ACME"), str(r)
    r = get(s, "/dot/.git/config")
    assert (r.status, r.body) == (200, b"GIT"), str(r)


def test_error_page_body_with_the_error_status(loc_server):
    s = loc_server
    r = get(s, "/no/such/file")
    assert r.status == 404, str(r)
    assert r.body == b"<h1>custom not found</h1>", str(r)
    assert r.header("Content-Type").startswith("text/html"), str(r)
    assert r.header("Content-Length") == str(len(r.body))
    # Hidden paths get the custom 404 too; a 403 gets its own page, with its content type.
    assert get(s, "/private/secret.txt").body == b"<h1>custom not found</h1>"
    r = get(s, "/noindex/")
    assert (r.status, r.body) == (403, b"custom forbidden"), str(r)
    assert r.header("Content-Type").startswith("text/plain"), str(r)
    # Locations without error_pages keep the built-in page.
    r = get(s, "/docs/nothing")
    assert r.status == 404 and b"custom" not in r.body, str(r)


def test_error_page_for_head_and_keep_alive(loc_server):
    s = loc_server
    page = b"<h1>custom not found</h1>"
    c = s.connect()
    c.send(req("/nope", "HEAD") + req("/nope") + req("/a.txt"))
    r1 = c.read_response("HEAD")
    r2 = c.read_response("GET")
    r3 = c.read_response("GET")
    c.close()
    assert r1.status == 404 and r1.body == b"" and r1.header("Content-Length") == str(len(page)), str(r1)
    assert (r2.status, r2.body) == (404, page), str(r2)
    assert (r3.status, r3.body) == (200, b"main a"), str(r3)


def test_error_page_ignores_range_and_conditionals(loc_server):
    r = get(loc_server, "/nope", headers=[("Range", "bytes=0-3"), ("If-None-Match", "*")])
    assert (r.status, r.body) == (404, b"<h1>custom not found</h1>"), str(r)
    assert r.header("Content-Range") is None


# ----------------------------------------------------------------------------------------------
# Directory listing

NASTY = '<b>&"it\'s".txt'


@pytest.fixture
def listing_server(nuri, tmp_path):
    root = tree(tmp_path / "lst", {
        "files/alpha.txt": "aaaa",
        "files/sub/inner.txt": "i",
        f"files/{NASTY}": "nasty",
        "files/a#b c.txt": "hash",
        "files/.secret": "dot",
        "withindex/index.html": "THE-INDEX",
        "withindex/other.txt": "o",
        "off/x.txt": "x",
        "pub/open.txt": "o",
        "pub/secretive.txt": "a file, not the hidden directory",
        "pub/key.txt": "k",
        "pub/draft-1.txt": "d",
        "pub/drafts/d.txt": "d",
        "pub/secret/s.txt": "s",
    })
    conf = f"""
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
  [[host.location]]
  prefix = "/files/"
  directory_listing = true
  [[host.location]]
  prefix = "/withindex/"
  directory_listing = true
  [[host.location]]
  prefix = "/pub/"
  directory_listing = true
  hidden = ["/pub/secret/", "/pub/key.txt", "/pub/draft"]
"""
    return serve(nuri, tmp_path / "n.toml", conf, root=root)


def test_directory_listing_leaves_out_hidden_paths(listing_server):
    """What `hidden` answers 404 is not listed either; it was, with its size and time."""
    for fmt in ("", "?format=json"):
        r = get(listing_server, "/pub/" + fmt)
        assert r.status == 200, str(r)
        body = r.body.decode()
        assert "open.txt" in body and "secretive.txt" in body, body[:2000]
        for name in ("key.txt", "draft-1.txt", "drafts", '"secret"', ">secret/<", "secret/"):
            assert name not in body, (name, body[:2000])
    assert get(listing_server, "/pub/key.txt").status == 404
    # Nor does a redirect to the hidden directory say it is there.
    assert get(listing_server, "/pub/secret").status == 404


def test_directory_listing_html_escapes_names(listing_server):
    r = get(listing_server, "/files/")
    assert r.status == 200 and r.header("Content-Type").startswith("text/html"), str(r)
    html = r.body.decode()
    assert "<table" in html and "alpha.txt" in html and "sub" in html, html[:2000]
    assert "<b>&" not in html, "unescaped name in the listing"
    assert "&lt;b&gt;&amp;" in html, html[:3000]
    assert ".secret" not in html, "dotfile listed while dotfiles = false"
    # Links are percent-encoded so that '#', '?' and spaces reach the file.
    assert 'href="a%23b%20c.txt"' in html, re.findall(r'href="[^"]*"', html)
    r = get(listing_server, "/files/a%23b%20c.txt")
    assert (r.status, r.body) == (200, b"hash"), str(r)


def test_directory_listing_json(listing_server):
    r = get(listing_server, "/files/?format=json")
    assert r.status == 200 and r.header("Content-Type").startswith("application/json"), str(r)
    doc = json.loads(r.body)
    entries = {e["name"]: e for e in doc["entries"]}
    assert {"alpha.txt", "sub", NASTY, "a#b c.txt"} <= set(entries), entries.keys()
    assert entries["sub"]["type"] == "directory" and entries["alpha.txt"]["type"] == "file"
    # format=json among other query parameters.
    r = get(listing_server, "/files/?sort=name&format=json")
    assert r.header("Content-Type").startswith("application/json"), str(r)
    assert {e["name"] for e in json.loads(r.body)["entries"]} == set(entries)
    assert ".secret" not in entries
    assert entries["alpha.txt"]["size"] == 4


def test_directory_with_index_serves_the_index(listing_server):
    r = get(listing_server, "/withindex/")
    assert (r.status, r.body) == (200, b"THE-INDEX"), str(r)
    # Listing off elsewhere.
    r = get(listing_server, "/off/")
    assert r.status == 403 and b"x.txt" not in r.body, str(r)


# ----------------------------------------------------------------------------------------------
# Access rules


def test_location_access_rules_give_403(nuri, tmp_path):
    root = tree(tmp_path / "acc", {"open.txt": "open", "staff/s.txt": "staff",
                                   "nolocal2/n.txt": "n", "only1/o.txt": "o"})
    conf = f"""
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
  [[host.location]]
  prefix = "/staff/"
  access = ["allow 127.0.0.1", "deny all"]
  [[host.location]]
  prefix = "/nolocal2/"
  deny = ["127.0.0.2/32"]
  [[host.location]]
  prefix = "/only1/"
  allow = ["127.0.0.0/31"]
"""
    s = serve(nuri, tmp_path / "n.toml", conf, root=root)

    def fetch(src, path):
        data = raw_from(s.port, src, req(path, headers=[("Connection", "close")]))
        return int(data[9:12]), data

    assert fetch("127.0.0.1", "/staff/s.txt")[0] == 200
    assert fetch("127.0.0.2", "/staff/s.txt")[0] == 403
    assert fetch("127.0.0.2", "/open.txt")[0] == 200
    assert fetch("127.0.0.2", "/nolocal2/n.txt")[0] == 403
    assert fetch("127.0.0.3", "/nolocal2/n.txt")[0] == 200
    # A list ending in allow denies everyone else.
    assert fetch("127.0.0.1", "/only1/o.txt")[0] == 200
    code, data = fetch("127.0.0.2", "/only1/o.txt")
    assert code == 403 and b"\r\n\r\no" not in data, data


def test_ipv6_ranges_do_not_hold_ipv4_clients(nuri, tmp_path):
    """'::/0' and '::/1' name IPv6 clients. They held every IPv4 client too: a deny of '::/0'
    shut IPv4 out, an allow of '::/1' let it in. A range in mapped form still holds IPv4."""
    root = tree(tmp_path / "v6", {"pub/a.txt": "a", "admin/s.txt": "s", "mapped/m.txt": "m"})
    conf = f"""
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
  [[host.location]]
  prefix = "/pub/"
  deny = ["::/0"]
  [[host.location]]
  prefix = "/admin/"
  allow = ["2001:db8::/32", "::/1"]
  [[host.location]]
  prefix = "/mapped/"
  allow = ["::ffff:127.0.0.0/104"]
"""
    s = serve(nuri, tmp_path / "n.toml", conf, root=root)
    assert s.get("/pub/a.txt").status == 200
    assert s.get("/admin/s.txt").status == 403
    assert s.get("/mapped/m.txt").status == 200


def test_listener_access_closes_before_any_byte(nuri, tmp_path):
    root = tree(tmp_path / "lacc", {"index.html": "HELLO"})
    conf = f"""
[[listen]]
address = "127.0.0.1:0"
access = ["deny 127.0.0.2", "allow all"]
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
"""
    s = serve(nuri, tmp_path / "n.toml", conf, listeners=2, root=root)
    p0, p1 = s.addrs[0][1], s.addrs[1][1]
    for _ in range(3):
        assert raw_from(p0, "127.0.0.2", req("/", headers=[("Connection", "close")])) == b""
    # Closed even if the client sends nothing: the server does not wait for a request.
    c = socket.create_connection(("127.0.0.1", p0), timeout=3 * TIME_SCALE,
                                 source_address=("127.0.0.2", 0))
    try:
        assert c.recv(100) == b""
    except ConnectionResetError:
        pass
    finally:
        c.close()
    assert raw_from(p0, "127.0.0.1", req("/", headers=[("Connection", "close")])).startswith(
        b"HTTP/1.1 200")
    # The other listener has no rules.
    assert raw_from(p1, "127.0.0.2", req("/", headers=[("Connection", "close")])).startswith(
        b"HTTP/1.1 200")
    s.assert_alive()


# ----------------------------------------------------------------------------------------------
# Basic auth


@pytest.fixture
def auth_server(nuri, tmp_path):
    root = tree(tmp_path / "auth", {"open.txt": "open", "staff/s.txt": "STAFF",
                                    "filed/f.txt": "FILED", "errors/401.html": "please log in"})
    htpasswd = tmp_path / "conf" / "htpasswd"
    htpasswd.parent.mkdir(parents=True, exist_ok=True)
    htpasswd.write_text(f"# users\n\ncarol:{hash_password('c4rol!')}\n"
                        f"dave:{hash_password('old')}:extra field\n")
    conf = f"""
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
  [[host.location]]
  prefix = "/staff/"
  error_pages = {{ 401 = "/errors/401.html" }}
    [host.location.auth]
    realm = "staff area"
    users = {{ alice = "{hash_password('s3cret')}", colon = "{hash_password('pa:ss')}" }}
  [[host.location]]
  prefix = "/filed/"
    [host.location.auth]
    user_file = "htpasswd"
    users = {{ dave = "{hash_password('new')}" }}
[access_log]
path = "{tmp_path / "access.log"}"
"""
    s = serve(nuri, tmp_path / "conf" / "n.toml", conf, root=root)
    s.access_log = tmp_path / "access.log"
    return s


def test_the_access_log_names_the_user_basic_auth_admitted(auth_server):
    """Combined Log Format's third field is the authenticated user (Apache's %u, nginx's
    $remote_user); it was always '-'. A user who was refused is not named."""
    s = auth_server
    assert get(s, "/staff/s.txt", headers=[basic("alice", "s3cret")]).status == 200
    assert get(s, "/staff/s.txt", headers=[basic("mallory", "s3cret")]).status == 401
    assert get(s, "/open.txt", headers=[basic("alice", "s3cret")]).status == 200  # no auth asked
    # Two workers write their lines in either order: each is found by what it says.
    lines = read_log_lines(s.access_log, 3)
    users = {(re.search(r'"GET (\S+) HTTP/1.1" (\d+)', line).groups(), line.split(" ")[2]) for line in lines}
    assert users == {(("/staff/s.txt", "200"), "alice"), (("/staff/s.txt", "401"), "-"),
                     (("/open.txt", "200"), "-")}, lines


def test_basic_auth_challenge_without_credentials(auth_server):
    r = get(auth_server, "/staff/s.txt")
    assert r.status == 401, str(r)
    challenge = r.header("WWW-Authenticate")
    assert challenge and re.match(r'Basic realm="staff area"', challenge), challenge
    assert b"STAFF" not in r.body
    # Error page for 401 keeps the challenge.
    assert r.body == b"please log in", str(r)
    r = get(auth_server, "/filed/f.txt")
    assert r.status == 401 and 'realm="restricted"' in r.header("WWW-Authenticate"), str(r)
    assert get(auth_server, "/open.txt").status == 200


@pytest.mark.parametrize("header", [
    basic("alice", "wrong"), basic("alice", ""), basic("mallory", "s3cret"),
    basic("ALICE", "s3cret"), ("Authorization", "Basic !!notbase64!!"),
    ("Authorization", "Bearer " + base64.b64encode(b"alice:s3cret").decode()),
    ("Authorization", "Basic " + base64.b64encode(b"alice").decode()),
])
def test_basic_auth_rejects_bad_credentials(auth_server, header):
    r = get(auth_server, "/staff/s.txt", headers=[header])
    assert r.status == 401 and r.header("WWW-Authenticate"), f"{header}: {r}"
    assert b"STAFF" not in r.body


def test_basic_auth_accepts_right_credentials(auth_server):
    s = auth_server
    r = get(s, "/staff/s.txt", headers=[basic("alice", "s3cret")])
    assert (r.status, r.body) == (200, b"STAFF"), str(r)
    assert r.header("WWW-Authenticate") is None
    # The password may hold ':' (only the first one separates the user).
    assert get(s, "/staff/s.txt", headers=[basic("colon", "pa:ss")]).status == 200
    # RFC 7617 / RFC 9110 §11.1: the scheme name is case-insensitive.
    lower = ("Authorization", "basic " + base64.b64encode(b"alice:s3cret").decode())
    r = get(s, "/staff/s.txt", headers=[lower])
    assert r.status == 200, f"lower-case 'basic' scheme refused: {r}"


def test_basic_auth_user_file_and_inline_override(auth_server):
    s = auth_server
    assert get(s, "/filed/f.txt", headers=[basic("carol", "c4rol!")]).body == b"FILED"
    # Inline users override the file's entry of the same name.
    assert get(s, "/filed/f.txt", headers=[basic("dave", "new")]).status == 200
    assert get(s, "/filed/f.txt", headers=[basic("dave", "old")]).status == 401
    # Users of one location are not users of another.
    assert get(s, "/filed/f.txt", headers=[basic("alice", "s3cret")]).status == 401


# ----------------------------------------------------------------------------------------------
# Access log formats


def _log_server(nuri, tmp_path, fmt):
    root = tree(tmp_path / "logroot", {"a.txt": "hello"})
    log = tmp_path / "access.log"
    conf = f"""
[access_log]
path = "{log}"
format = "{fmt}"
[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{root}"
"""
    s = serve(nuri, tmp_path / "n.toml", conf, root=root)
    # Two connections, maybe two workers: each writes its lines at the end of its loop
    # iteration, so on a busy machine the second request's line can come first. The tests
    # therefore look lines up by request, not by position.
    get(s, "/a.txt", headers=[("User-Agent", 'agent "007"'), ("Referer", "http://r.test/")])
    get(s, "/missing")
    return s, log


def test_access_log_json(nuri, tmp_path):
    s, log = _log_server(nuri, tmp_path, "json")
    lines = read_log_lines(log, 2)
    docs = sorted((json.loads(line) for line in lines), key=lambda d: d["request"])  # /a.txt, /missing
    assert docs[0]["status"] == 200 and docs[0]["bytes"] == 5, docs
    assert docs[0]["request"] == "GET /a.txt HTTP/1.1", docs
    assert docs[0]["user_agent"] == 'agent "007"' and docs[0]["referer"] == "http://r.test/"
    assert docs[0]["client"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", docs[0]["time"]), docs[0]
    assert docs[1]["status"] == 404 and docs[1]["request"] == "GET /missing HTTP/1.1"


def test_access_log_common(nuri, tmp_path):
    s, log = _log_server(nuri, tmp_path, "common")
    lines = read_log_lines(log, 2)
    clf = re.compile(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                     r'"GET (/a\.txt|/missing) HTTP/1\.1" (\d{3}) (\d+|-)')
    matches = {m[1]: m for m in map(clf.fullmatch, lines) if m}
    assert set(matches) == {"/a.txt", "/missing"}, lines
    assert matches["/a.txt"][2] == "200" and matches["/a.txt"][3] == "5", lines
    assert matches["/missing"][2] == "404", lines
    assert "agent" not in log.read_text() and "r.test" not in log.read_text()


# ----------------------------------------------------------------------------------------------
# Bad configuration: exit 2, FILE:LINE:COL errors, nothing started


def test_bad_config_exits_2_with_positions_and_binds_nothing(tmp_path):
    holder, port = free_port_holder()
    holder.close()  # a port free right now; the bad config names it
    conf = tmp_path / "bad.toml"
    conf.write_text(f"""workers = 2
[[listen]]
address = "127.0.0.1:{port}"
[[host]]
root = "{tmp_path / 'does-not-exist'}"
wrokers = 3
[limits]
idle_timeout = "long"
""")
    t0 = time.monotonic()
    p = run_nuri("serve", "--config", conf, cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert time.monotonic() - t0 < 5 * TIME_SCALE
    err = p.stderr.decode()
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "nothing was started" in lines[-1], err
    lines = [line for line in lines if not line.startswith("nuri serve:")]  # a closing summary
    assert len(lines) == 3, err
    positions = [re.match(re.escape(str(conf)) + r":(\d+):(\d+): ", line) for line in lines]
    assert all(positions), err
    found = {int(m[1]) for m in positions}
    assert {5, 6, 8} <= found, err  # root, unknown key, wrong type
    assert "listening on" not in p.stdout.decode() + err
    # Nothing was left bound on the listener's port.
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


def test_bad_user_file_named_with_its_line(tmp_path):
    (tmp_path / "htpasswd").write_text("ok:" + hash_password("x") + "\nnocolonhere\n")
    conf = tmp_path / "n.toml"
    conf.write_text(f"""[[listen]]
address = "127.0.0.1:0"
[[host]]
root = "{tmp_path}"
  [[host.location]]
  prefix = "/"
    [host.location.auth]
    user_file = "htpasswd"
""")
    p = run_nuri("serve", "--config", conf, cwd="/")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.decode()
    assert re.search(re.escape(str(tmp_path / "htpasswd")) + r":2:\d+: ", err), err
    assert "listening on" not in p.stdout.decode()


def test_toml_syntax_error_exits_2(tmp_path):
    conf = tmp_path / "syn.toml"
    conf.write_text('[[listen]]\naddress = "127.0.0.1:0"\n[[host]\nroot = "x"\n')
    p = run_nuri("serve", "--config", conf)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert re.search(re.escape(str(conf)) + r":3:\d+: ", p.stderr.decode()), p.stderr
    assert "listening on" not in p.stdout.decode()


# ----------------------------------------------------------------------------------------------
# The file's folder for relative paths; command-line overrides


def test_relative_root_is_taken_from_the_config_folder(nuri, tmp_path):
    confdir = tmp_path / "etc" / "nuri"
    tree(confdir / "htdocs", {"index.html": "RELATIVE-OK"})
    # The fixture runs the server from tmp_path, a different folder.
    s = serve(nuri, confdir / "n.toml", '[[listen]]\naddress = "127.0.0.1:0"\n'
              '[[host]]\nroot = "htdocs"\n', root=confdir / "htdocs")
    r = get(s, "/")
    assert (r.status, r.body) == (200, b"RELATIVE-OK"), str(r)


def test_workers_and_server_tokens_override_the_file(nuri, tmp_path):
    root = tree(tmp_path / "ov", {"a.txt": "A"})
    text = (f'workers = 3\nserver_tokens = false\n[[listen]]\naddress = "127.0.0.1:0"\n'
            f'[[host]]\nroot = "{root}"\n')
    s = serve(nuri, tmp_path / "n.toml", text, "--workers", "1", "--server-tokens", root=root)
    assert s.wait_stdout(r"\b1 worker\(s\)"), s.stdout()
    r = get(s, "/a.txt")  # the fixture's validation requires Server: nuri/VERSION here
    assert r.status == 200 and re.fullmatch(r"nuri/\S+", r.header("Server") or ""), str(r)
    tasks = len(list(Path(f"/proc/{s.pid}/task").iterdir()))
    assert tasks < 3 + 2, f"{tasks} threads with --workers 1"


def test_file_settings_apply_without_overrides(nuri, tmp_path):
    root = tree(tmp_path / "ov", {"a.txt": "A"})
    text = (f'workers = 3\nserver_tokens = true\n[[listen]]\naddress = "127.0.0.1:0"\n'
            f'[[host]]\nroot = "{root}"\n')
    s = serve(nuri, tmp_path / "n.toml", text, root=root, tokens=True)
    s.workers = 3
    assert s.wait_stdout(r"\b3 worker\(s\)"), s.stdout()
    r = get(s, "/a.txt")
    assert r.status == 200 and r.header("Server"), str(r)


def test_listen_option_replaces_the_files_listeners(nuri, tmp_path):
    root = tree(tmp_path / "ov", {"a.txt": "A"})
    holder, taken = free_port_holder()  # the file's address is busy: binding it would fail
    try:
        text = f'[[listen]]\naddress = "127.0.0.1:{taken}"\n'
        text += f'[[host]]\nroot = "{root}"\n'
        s = serve(nuri, tmp_path / "n.toml", text, "--listen", "127.0.0.1:0", root=root)
        assert len(s.addrs) == 1 and s.port != taken
        assert f":{taken}/" not in s.stdout()
        assert get(s, "/a.txt").body == b"A"
    finally:
        holder.close()


def test_auth_hides_missing_files_too(auth_server):
    r = get(auth_server, "/staff/no-such-file")
    assert r.status == 401, f"existence leaked without credentials: {r}"
    r = get(auth_server, "/staff/no-such-file", headers=[basic("alice", "s3cret")])
    assert r.status == 404, str(r)


SMUGGLED = b"GET /private/secret.txt HTTP/1.1\r\nHost: site.test\r\n\r\n"


@pytest.mark.parametrize("path,status", [("/tmp307/x", 307), ("/noindex/", 403),
                                         ("/private/x", 404)])
def test_refused_request_body_is_not_read_as_a_request(loc_server, path, status):
    """A redirect or error sent without reading the body must skip it (or close): the body,
    itself shaped like a request, must never be answered."""
    c = loc_server.connect()
    c.send(req(path, "POST", [("Content-Length", str(len(SMUGGLED)))]) + SMUGGLED
           + req("/a.txt", headers=[("Connection", "close")]))
    r1 = c.read_response("POST")
    assert r1.status == status, str(r1)
    rest, _ = c.read_until_close(timeout=3.0)
    c.close()
    assert b"SECRET" not in rest
    if rest:
        rs = parse_all_responses(rest, ["GET"])
        assert len(rs) == 1 and rs[0].status == 200 and rs[0].body == b"main a", rest[:500]


def test_auth_401_with_body_then_keep_alive(auth_server):
    body = b"x" * 100
    c = auth_server.connect()
    c.send(req("/staff/s.txt", "POST", [("Content-Length", "100")]) + body
           + req("/staff/s.txt", headers=[basic("alice", "s3cret")]))
    r1 = c.read_response("POST")
    assert r1.status == 401, str(r1)
    if "close" not in r1.tokens("Connection"):
        r2 = c.read_response("GET")
        assert (r2.status, r2.body) == (200, b"STAFF"), str(r2)
    c.close()
