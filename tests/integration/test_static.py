"""Static files: content types, validators, directories and index files, dotfiles, percent
decoding, symlinks inside the root, methods, large files, files that change under the server."""
import os
import re
import socket
import threading
import time

import pytest

from nuri_helpers import TIME_SCALE, curl, http_date, req, sha256_file


@pytest.mark.parametrize("path,ctype", [
    ("/index.html", "text/html; charset=utf-8"),
    ("/dir/page.html", "text/html; charset=utf-8"),
    ("/UPPER.HTML", "text/html; charset=utf-8"),
    ("/style.css", "text/css; charset=utf-8"),
    ("/image.png", "image/png"),
    ("/a.txt", "text/plain; charset=utf-8"),
    ("/data.xyz", "application/octet-stream"),
    ("/noext", "application/octet-stream"),
])
def test_content_type_and_exact_body(nuri, www, path, ctype):
    s = nuri(root=www.root)
    r = curl(s.url(path))
    assert r.rc == 0, r.stderr
    assert r.status == 200
    assert r.header("Content-Type") == ctype
    assert r.body == www.files[path]
    assert r.header("Content-Length") == str(len(www.files[path]))


def test_file_response_has_all_validators(nuri, www):
    s = nuri(root=www.root)
    past = 1_600_000_000  # Sun, 13 Sep 2020 12:26:40 GMT
    os.utime(www.root / "b.txt", (past, past))
    r = s.get("/b.txt")
    assert r.status == 200
    assert re.fullmatch(r'"[\x21\x23-\x7e]+"', r.header("ETag") or ""), r.header("ETag")
    assert r.header("Last-Modified") == http_date(past) == "Sun, 13 Sep 2020 12:26:40 GMT"
    assert r.header("Accept-Ranges") == "bytes"
    assert r.header("Content-Length") == str(len(www.files["/b.txt"]))
    assert r.header("Date")


def test_etag_is_stable_and_differs_between_files(nuri, www):
    s = nuri(root=www.root)
    e1, e2 = s.get("/a.txt").header("ETag"), s.get("/a.txt").header("ETag")
    assert e1 == e2
    assert s.get("/b.txt").header("ETag") != e1


def test_empty_file(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/empty.txt") + req("/a.txt"))
    r = c.read_response()
    assert r.status == 200 and r.header("Content-Length") == "0" and r.body == b""
    assert c.read_response().body == b"hello"


# -- directories -------------------------------------------------------------------------------

def test_root_index(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/"))
    assert r.status == 200 and r.body == www.files["/index.html"]
    assert r.header("Content-Type") == "text/html; charset=utf-8"


def test_directory_index(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/dir/"))
    assert r.status == 200 and r.body == www.files["/dir/index.html"]
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert r.header("ETag") and r.header("Last-Modified")


def test_directory_without_slash_redirects(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/dir"))
    assert r.status == 301
    assert r.header("Location") == "/dir/"


def test_directory_redirect_keeps_query(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/dir?x=1&y=%2F"))
    assert r.status == 301
    assert r.header("Location") == "/dir/?x=1&y=%2F"


@pytest.mark.parametrize("target", ["//attacker.example/..%2fdir", "//dir", "http://x//dir", "/x/..%2Fdir"])
def test_directory_redirect_never_names_another_site(nuri, www, target):
    """The Location is built from the normalized path, not the target as sent: "//attacker.
    example/..%2fdir" names the directory /dir, and sent back as it came ("//attacker.example/
    ..%2fdir/") a browser reads it as a link to attacker.example (an open redirect)."""
    s = nuri(root=www.root)
    r = s.request(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert r.status == 301 and r.header("Location") == "/dir/", str(r)


def test_nested_directory_redirect(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/dir/sub")
    assert r.status == 301 and r.header("Location") == "/dir/sub/"


def test_redirect_followed_by_curl(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/dir"), "-L")
    assert [h.status for h in r.responses] == [301, 200]
    assert r.body == www.files["/dir/index.html"]


def test_directory_without_index_is_403(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/noindex/"))
    assert r.status == 403
    assert b"listed nowhere" not in r.body and b"file.txt" not in r.body


def test_root_without_index_is_403(nuri, www):
    os.unlink(www.root / "index.html")
    s = nuri(root=www.root)
    r = s.get("/")
    assert r.status == 403
    assert b"a.txt" not in r.body


def test_head_of_directory_redirect_has_no_body(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/dir", "HEAD") + req("/a.txt"))
    r = c.read_response("HEAD")
    assert r.status == 301 and r.header("Location") == "/dir/" and r.body == b""
    assert c.read_response().body == b"hello"


# -- dotfiles ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/dir/.hidden", "/.git/", "/.git",
                                  "/%2eenv", "/%2Egit/config", "/dir/../.env"])
def test_dotfiles_are_404_by_default(nuri, www, path):
    s = nuri(root=www.root)
    r = s.get(path)
    assert r.status == 404, str(r)
    for secret in (b"SECRET_ENV", b"[core]", b"hidden in dir"):
        assert secret not in r.body


def test_dotfiles_served_with_flag(nuri, www):
    s = nuri("--dotfiles", root=www.root)
    assert s.get("/.env").body == www.files["/.env"]
    assert s.get("/.git/config").body == www.files["/.git/config"]
    assert s.get("/dir/.hidden").body == www.files["/dir/.hidden"]


# -- paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("target,path", [
    ("/file%20name.txt", "/file name.txt"),
    ("/caf%C3%A9.txt", "/caf\u00e9.txt"),
    ("/caf%c3%a9.txt", "/caf\u00e9.txt"),
    ("/%61.txt", "/a.txt"),
    ("/dir/%69ndex.html", "/dir/index.html"),
    ("/dir%2Fpage.html", "/dir/page.html"),
    ("/dir/../a.txt", "/a.txt"),
    ("/./a.txt", "/a.txt"),
    ("/dir/./page.html", "/dir/page.html"),
    ("/dir/sub/../page.html", "/dir/page.html"),
    ("/dir/sub/%2e%2e/page.html", "/dir/page.html"),
    ("/dir/sub/./../../b.txt", "/b.txt"),
])
def test_percent_decoding_and_dot_segments_inside_root(nuri, www, target, path):
    s = nuri(root=www.root)
    r = s.get(target)
    assert r.status == 200, str(r)
    assert r.body == www.files[path]


@pytest.mark.parametrize("path", ["/missing.txt", "/A.TXT", "/a.txt/", "/a.txt/x", "/dir/nope/",
                                  "/missing/deeper/x.html"])
def test_missing_files_are_404(nuri, www, path):
    s = nuri(root=www.root)
    r = s.get(path)
    assert r.status == 404, str(r)
    assert b"404" in r.body


def test_symlink_to_file_inside_root_is_served(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/link_inside.txt").body == b"hello"
    assert s.get("/dir/uplink.txt").body == b"hello"


def test_symlink_to_directory_inside_root_is_served(nuri, www):
    os.symlink("dir", www.root / "dirlink")
    s = nuri(root=www.root)
    r = s.get("/dirlink/page.html")
    assert r.status == 200 and r.body == www.files["/dir/page.html"]


# -- methods -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_write_methods_are_405(nuri, www, method):
    s = nuri(root=www.root)
    body = [] if method == "DELETE" else ["--data-binary", "x"]
    r = curl(s.url("/a.txt"), "-X", method, *body)
    assert r.status == 405, str(r)
    assert r.header("Allow") == "GET, HEAD, OPTIONS"
    assert b"405" in r.body
    assert (www.root / "a.txt").read_bytes() == b"hello"


def test_delete_without_body_is_405_and_file_stays(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/a.txt", "DELETE")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD, OPTIONS"
    assert (www.root / "a.txt").exists()


# -- large files -------------------------------------------------------------------------------

def test_large_file_download_is_byte_exact(nuri, big, tmp_path):
    s = nuri(root=big.path.parent)
    out = tmp_path / "download"
    r = curl(s.url(big.url_path), out=str(out), timeout=60)
    assert r.rc == 0, r.stderr
    assert r.status == 200 and r.header("Content-Length") == str(big.size)
    assert out.stat().st_size == big.size
    assert sha256_file(out) == big.digest


def test_large_file_ranges_are_exact(nuri, big):
    s = nuri(root=big.path.parent)
    for first, last in [(0, 99), (33_554_431, 33_554_432 + 4095), (big.size - 10, big.size - 1),
                        (12_345_678, 12_345_678 + 3 * 1024 * 1024)]:
        r = curl(s.url(big.url_path), "-r", f"{first}-{last}", timeout=60)
        assert r.status == 206
        assert r.header("Content-Range") == f"bytes {first}-{last}/{big.size}"
        assert r.body == big.slice(first, last)


def test_parallel_large_downloads(nuri, big, tmp_path):
    s = nuri(root=big.path.parent)
    results = {}

    def fetch(i):
        out = tmp_path / f"dl{i}"
        results[i] = (curl(s.url(big.url_path), out=str(out), timeout=90), out)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * TIME_SCALE)
    assert len(results) == 3
    for r, out in results.values():
        assert r.rc == 0 and r.status == 200, r.stderr
        assert sha256_file(out) == big.digest


def test_large_file_head(nuri, big):
    s = nuri(root=big.path.parent)
    r = s.get(big.url_path, "HEAD")
    assert r.status == 200 and r.header("Content-Length") == str(big.size) and r.body == b""


# -- the tree changes under the server ---------------------------------------------------------

def _poll(fn, timeout=1.5):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_modified_file_is_served_fresh(nuri, www):
    s = nuri(root=www.root)
    first = s.get("/a.txt")
    assert first.body == b"hello"
    p = www.root / "a.txt"
    p.write_bytes(b"changed content, longer")
    later = time.time() + 5
    os.utime(p, (later, later))
    r = _poll(lambda: (lambda r: r if r.body == b"changed content, longer" else None)(
        s.get("/a.txt")))
    assert r, "stale content served after the file changed"
    assert r.header("Content-Length") == "23"
    assert r.header("ETag") != first.header("ETag")


def test_replaced_file_is_served_fresh(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/b.txt").body == www.files["/b.txt"]
    tmp = www.root / "b.txt.new"
    tmp.write_bytes(b"replaced atomically")
    os.rename(tmp, www.root / "b.txt")
    assert _poll(lambda: s.get("/b.txt").body == b"replaced atomically")


def test_deleted_file_becomes_404(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/a.txt").status == 200
    os.unlink(www.root / "a.txt")
    assert _poll(lambda: s.get("/a.txt").status == 404)


def test_file_created_after_start_is_served(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/new.txt").status == 404
    (www.root / "new.txt").write_bytes(b"brand new")
    assert _poll(lambda: s.get("/new.txt").body == b"brand new")


def test_many_distinct_files(nuri, www):
    d = www.root / "many"
    d.mkdir()
    for i in range(300):
        (d / f"f{i}.txt").write_bytes(b"file %d\n" % i)
    s = nuri(root=www.root)
    c = s.connect()
    for i in range(300):
        c.send(req(f"/many/f{i}.txt"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"file %d\n" % i


def test_fifo_is_not_opened_for_reading(nuri, www):
    """Opening a FIFO blocks; the server must refuse special files instead of hanging."""
    os.mkfifo(www.root / "pipe.txt")
    s = nuri("--workers", "1", root=www.root)
    r = s.request(req("/pipe.txt"), timeout=3)
    assert r.status in (403, 404), str(r)
    assert s.get("/a.txt").body == b"hello"


# -- redirects must not let a file name inject headers --------------------------------------------

def test_redirect_location_is_percent_encoded(nuri, www):
    (www.root / "my dir").mkdir()
    (www.root / "my dir" / "index.html").write_bytes(b"spaced dir")
    s = nuri(root=www.root)
    r = s.get("/my%20dir")
    assert r.status == 301
    assert r.header("Location") == "/my%20dir/", r.header("Location")
    assert s.get("/my%20dir/").body == b"spaced dir"


def test_redirect_cannot_inject_headers(nuri, www):
    (www.root / "evil\r\nX-Injected: 1").mkdir()
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/evil%0d%0aX-Injected:%201") + req("/a.txt"))
    r = c.read_response()  # the strict parser fails on a raw CR or LF inside a header
    assert not r.has("X-Injected"), str(r)
    assert r.status in (301, 400, 404), str(r)
    if r.status == 301:
        assert "\r" not in r.header("Location") and "\n" not in r.header("Location")
    if "close" not in r.tokens("Connection"):
        assert c.read_response().body == b"hello"


def test_head_of_directory_index_matches_get(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/dir/", "HEAD") + req("/dir/"))
    head, get = c.read_response("HEAD"), c.read_response()
    assert head.status == get.status == 200 and head.body == b""
    assert head.header("Content-Length") == get.header("Content-Length") == "10"
    assert head.header("ETag") == get.header("ETag")


# -- files beyond 4 GiB and aborted downloads ------------------------------------------------------

def test_sparse_file_over_4gib(nuri, www):
    size = 5 * 1024 ** 3 + 100
    marker_at = {2 ** 32 - 8: b"ACROSS4G-BOUNDARY", size - 20: b"THE-END-OF-5GIB-...."}
    p = www.root / "huge.bin"
    with open(p, "wb") as f:
        f.truncate(size)
        for off, data in marker_at.items():
            f.seek(off)
            f.write(data)
    s = nuri(root=www.root)
    head = s.get("/huge.bin", "HEAD")
    assert head.status == 200 and head.header("Content-Length") == str(size)
    for off, data in marker_at.items():
        last = off + len(data) - 1
        r = s.get("/huge.bin", headers={"Range": f"bytes={off}-{last}"})
        assert r.status == 206
        assert r.header("Content-Range") == f"bytes {off}-{last}/{size}"
        assert r.body == data
    r = s.get("/huge.bin", headers={"Range": "bytes=-20"})
    assert r.body == b"THE-END-OF-5GIB-...."


def test_client_reset_mid_download_leaves_server_healthy(nuri, big):
    s = nuri(root=big.path.parent)
    for _ in range(3):
        c = s.connect(rcvbuf=16384)
        c.send(req(big.url_path))
        assert c.read_head().status == 200
        c.sock.recv(65536)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    r = s.get("/a.txt")
    assert r.body == b"hello"
    s.check_leaks()


def test_file_truncated_during_download_closes_the_connection(nuri, www):
    """The promised Content-Length can no longer be met: the server must close the connection
    (not hang, not pad), and stay healthy."""
    data = os.urandom(16 * 1024 * 1024)
    p = www.root / "shrinking.bin"
    p.write_bytes(data)
    s = nuri("--workers", "1", root=www.root)
    c = s.connect(rcvbuf=16384)
    c.send(req("/shrinking.bin"))
    head = c.read_head()
    assert head.status == 200 and head.header("Content-Length") == str(len(data))
    c.sock.settimeout(5)
    got = bytearray(c.buf)
    c.buf.clear()
    while len(got) < 256 * 1024:
        got += c.sock.recv(65536)
    os.truncate(p, 1024 * 1024)
    deadline = time.monotonic() + 10 * TIME_SCALE
    while time.monotonic() < deadline:
        try:
            piece = c.sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not piece:
            break
        got += piece
    else:
        raise AssertionError("connection neither finished nor closed after truncation")
    assert len(got) < len(data), "more bytes than the file has now"
    # Only the part that still exists is checked: bytes already queued by sendfile beyond the
    # new end come from truncated page-cache pages (zeros), which no server can prevent.
    kept = min(len(got), 1024 * 1024)
    assert bytes(got[:kept]) == data[:kept], "bytes differ from the file"
    assert s.get("/a.txt").body == b"hello"


# -- the open-file cache: changes and evictions under in-flight responses ------------------------

def test_same_size_rewrite_is_noticed(nuri, www):
    s = nuri(root=www.root)
    assert s.get("/a.txt").body == b"hello"
    (www.root / "a.txt").write_bytes(b"HELLO")  # same size, same second
    assert _poll(lambda: s.get("/a.txt").body == b"HELLO"), "same-size change never noticed"


def test_more_files_than_the_cache_holds(nuri, www):
    d = www.root / "lots"
    d.mkdir()
    n = 1300
    for i in range(n):
        (d / f"{i}.txt").write_bytes(b"%d" % i)
    s = nuri("--workers", "1", root=www.root)
    c = s.connect()
    for rnd in range(2):
        for i in range(n):
            c.send(req(f"/lots/{i}.txt"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"%d" % i, (rnd, i, str(r))


def test_large_file_replaced_during_download(nuri, www):
    """The cache drops the old entry while a response still sends from its fd: the download
    must finish with the old bytes (no fd closed under it), and new requests get the new file."""
    old = os.urandom(16 * 1024 * 1024)
    p = www.root / "release.bin"
    p.write_bytes(old)
    s = nuri("--workers", "1", root=www.root)
    c = s.connect(rcvbuf=16384)
    c.send(req("/release.bin"))
    assert c.read_head().status == 200
    got = bytearray(c.buf)
    c.buf.clear()
    c.sock.settimeout(10 * TIME_SCALE)
    while len(got) < 256 * 1024:
        got += c.sock.recv(65536)
    new = os.urandom(1000)
    tmp = www.root / "release.bin.tmp"
    tmp.write_bytes(new)
    os.rename(tmp, p)
    assert _poll(lambda: s.get("/release.bin").body == new, 3), "replacement never served"
    while len(got) < len(old):
        piece = c.sock.recv(1 << 20)
        assert piece, f"download cut at {len(got)}"
        got += piece
    assert bytes(got) == old


def test_small_file_replaced_while_responses_are_queued(nuri, www):
    """Small files may be served from memory: responses queued behind a full socket buffer must
    not read freed memory when the cache entry is replaced."""
    old = b"o" * 30000
    new = b"N" * 20000
    p = www.root / "small.bin"
    p.write_bytes(old)
    s = nuri("--workers", "1", root=www.root)
    c = s.connect(rcvbuf=4096)
    n = 8  # 240 KB: queued in the server, under the pipelining stall of the next test
    c.send(req("/small.bin") * n)
    time.sleep(0.2)
    tmp = www.root / "small.tmp"
    tmp.write_bytes(new)
    os.rename(tmp, p)
    assert _poll(lambda: s.get("/small.bin").body == new, 3)
    for i in range(n):
        r = c.read_response(timeout=10)
        assert r.status == 200 and r.body in (old, new), (i, r.body[:40], len(r.body))


@pytest.mark.parametrize("size,count", [(30000, 12), (5000, 80)])
def test_pipelined_in_memory_files_do_not_stall(nuri, www, size, count):
    """Many pipelined requests for a small (memory-cached) file in one write: every response
    must come at once, not a 408 after --header-timeout for a request already received."""
    (www.root / "small.bin").write_bytes(b"s" * size)
    s = nuri("--workers", "1", "--header-timeout", "3", root=www.root)
    c = s.connect()
    c.send(req("/small.bin") * count)
    for i in range(count):
        r = c.read_response(timeout=2)
        assert r.status == 200 and len(r.body) == size, (i, str(r))


@pytest.mark.skipif(os.geteuid() != 0, reason="reading packets off lo (AF_PACKET) needs root; CI is root")
def test_head_of_a_sendfile_response_leaves_with_the_body(nuri, www):
    """A head whose body follows by sendfile is sent with MSG_MORE, so the first segment on the
    wire holds the head and the body's first bytes. Pushed out alone (TCP_NODELAY), it cost a 1 MiB
    response a third of its rate on loopback (docs/benchmarks.md, session 22). Read off lo."""
    body = os.urandom(256 * 1024)  # past what the file cache keeps in memory: sendfile
    (www.root / "quarter.bin").write_bytes(body)
    s = nuri(root=www.root)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    cap.bind(("lo", 0))
    with cap, socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        client_port = c.getsockname()[1]
        c.sendall(b"GET /quarter.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < len(body):
            chunk = c.recv(1 << 20)
            assert chunk, got[:300]
            got += chunk
        head, _, rest = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and rest == body
        cap.settimeout(2)
        first = None
        while first is None:
            frame = cap.recv(1 << 17)
            ip = frame[14:]
            if frame[12:14] != b"\x08\x00" or ip[9] != socket.IPPROTO_TCP:
                continue
            tcp = ip[(ip[0] & 0x0F) * 4:]
            src, dst = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")
            payload = tcp[(tcp[12] >> 4) * 4:int.from_bytes(ip[2:4], "big") - (ip[0] & 0x0F) * 4]
            if (src, dst) == (s.port, client_port) and payload:
                first = payload
    assert first.startswith(b"HTTP/1.1 200 "), first[:100]
    assert len(first) > len(head) + 4, f"the head went out alone: a first segment of {len(first)} bytes"
    assert first[len(head) + 4:] == body[:len(first) - len(head) - 4]
