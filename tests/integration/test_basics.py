"""HTTP/1.x basics: the welcome page, Date/Server, persistence, pipelining, HEAD, OPTIONS,
request bodies (Content-Length, chunked, 100-continue), absolute-form and Host rules."""
import hashlib
import re
import socket
import threading
import time

from nuri_helpers import (IMF_FIXDATE_RE, TIME_SCALE, curl, parse_all_responses,
                          parse_http_date, req)


# -- the embedded welcome page -----------------------------------------------------------------

def test_welcome_page_without_root(nuri):
    s = nuri()
    r = s.get("/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert int(r.header("Content-Length")) == len(r.body) > 0
    assert b"nuri" in r.body.lower()
    assert re.search(rb"\bworks\b", r.body, re.I), r.body[:500]
    assert b"<html" in r.body.lower()


def test_welcome_page_via_curl(nuri):
    s = nuri()
    r = curl(s.url("/"))
    assert r.rc == 0, r.stderr
    assert r.status == 200
    assert b"nuri" in r.body.lower()


def test_welcome_page_head_matches_get(nuri):
    s = nuri()
    c = s.connect()
    c.send(req("/", "HEAD") + req("/"))
    head = c.read_response("HEAD")
    get = c.read_response("GET")
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.header("Content-Length") == str(len(get.body))
    assert head.header("Content-Type") == get.header("Content-Type")


def test_without_root_unknown_path_is_404(nuri):
    s = nuri()
    r = s.get("/no/such/page.html")
    assert r.status == 404
    assert b"404" in r.body


# -- Date and Server ---------------------------------------------------------------------------

def test_date_header_is_current_imf_fixdate(nuri, www):
    s = nuri(root=www.root)
    before = time.time()
    r = s.get("/a.txt")
    after = time.time()
    date = r.header("Date")
    assert IMF_FIXDATE_RE.fullmatch(date), date
    assert before - 2 <= parse_http_date(date) <= after + 1


def test_no_server_header_by_default_on_any_response(nuri, www):
    s = nuri(root=www.root)
    for r in (s.get("/a.txt"), s.get("/missing"), s.get("/a.txt", "DELETE"),
              s.request(b"GET / HTTP/1.1\r\n\r\n")):
        assert not r.has("Server"), str(r)


def test_server_tokens_adds_server_header(nuri, www):
    s = nuri("--server-tokens", root=www.root)
    for r in (s.get("/a.txt"), s.get("/missing")):
        assert re.fullmatch(r"nuri/\d+\.\d+(\.\d+)?\S*", r.header("Server") or ""), str(r)


# -- persistence --------------------------------------------------------------------------------

def test_http11_keeps_connection_alive_by_default(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    r1 = c.read_response()
    assert r1.status == 200 and r1.body == b"hello"
    assert "close" not in r1.tokens("Connection")
    c.assert_open(0.2)
    c.send(req("/b.txt"))
    r2 = c.read_response()
    assert r2.status == 200 and r2.body == www.files["/b.txt"]


def test_curl_reuses_the_connection(nuri, www, tmp_path):
    s = nuri(root=www.root)
    # curl pairs -o with URLs in order: its own -o (.body) gets /a.txt, "second" gets /b.txt.
    r = curl(s.url("/b.txt"), "-v", s.url("/a.txt"), "-o", str(tmp_path / "second"))
    assert r.rc == 0, r.stderr
    assert r.body == b"hello"
    assert "Re-using existing connection" in r.stderr, r.stderr
    assert (tmp_path / "second").read_bytes() == www.files["/b.txt"]
    assert [h.status for h in r.responses] == [200, 200]


def test_http10_closes_by_default(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    assert "keep-alive" not in r.tokens("Connection")
    c.assert_closed()


def test_http10_keep_alive_when_asked(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    assert "keep-alive" in r.tokens("Connection"), str(r)
    c.assert_open(0.2)
    c.send(b"GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r2 = c.read_response()
    assert r2.body == www.files["/b.txt"]
    assert "keep-alive" in r2.tokens("Connection")


def test_http10_keep_alive_then_plain_request_closes(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b.txt HTTP/1.0\r\n\r\n")
    assert c.read_response().body == b"hello"
    assert c.read_response().body == www.files["/b.txt"]
    c.assert_closed()


def test_connection_close_is_honoured(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", headers={"Connection": "close"}))
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    assert "close" in r.tokens("Connection")
    c.assert_closed()


def test_connection_close_token_is_case_insensitive(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", headers={"Connection": "TE, Close"}))
    r = c.read_response()
    assert r.body == b"hello" and "close" in r.tokens("Connection")
    c.assert_closed()


def test_404_keeps_the_connection_usable(nuri, www):
    """A 404 is not a framing error: the connection stays usable."""
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/missing"))
    assert c.read_response().status == 404
    c.send(req("/a.txt"))
    assert c.read_response().body == b"hello"


# -- pipelining ---------------------------------------------------------------------------------

def test_pipelined_requests_answered_in_order(nuri, www):
    s = nuri(root=www.root)
    paths = ["/a.txt", "/b.txt", "/missing", "/style.css", "/a.txt"]
    rs = s.exchange(b"".join(req(p) for p in paths), ["GET"] * len(paths))
    assert [r.status for r in rs] == [200, 200, 404, 200, 200]
    assert rs[0].body == b"hello" and rs[1].body == www.files["/b.txt"]
    assert rs[3].body == www.files["/style.css"] and rs[4].body == b"hello"


def test_pipelined_head_and_get_framing(nuri, www):
    s = nuri(root=www.root)
    methods = ["HEAD", "GET", "HEAD", "GET"]
    data = req("/letters.txt", "HEAD") + req("/a.txt") + req("/b.txt", "HEAD") + req("/b.txt")
    rs = s.exchange(data, methods)
    assert rs[0].header("Content-Length") == str(len(www.files["/letters.txt"]))
    assert rs[0].body == b"" and rs[2].body == b""
    assert rs[1].body == b"hello" and rs[3].body == www.files["/b.txt"]


def test_many_pipelined_requests_in_one_write(nuri, www):
    s = nuri(root=www.root)
    n = 100
    paths = ["/a.txt" if i % 2 == 0 else "/b.txt" for i in range(n)]
    data = b"".join(req(p) for p in paths[:-1]) + req(paths[-1], headers={"Connection": "close"})
    c = s.connect()
    c.send(data)
    raw, closed = c.read_until_close(10)
    assert closed
    rs = parse_all_responses(raw, ["GET"] * n)
    assert len(rs) == n
    for p, r in zip(paths, rs):
        assert r.status == 200 and r.body == www.files[p]


def test_request_sent_one_byte_at_a_time(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    for b in req("/a.txt", headers={"X-Long": "v" * 20}):
        c.send(bytes([b]))
        time.sleep(0.001)
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"


def test_second_pipelined_request_split_across_writes(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    second = req("/b.txt")
    c.send(req("/a.txt") + second[:7])
    assert c.read_response().body == b"hello"
    time.sleep(0.05)
    c.send(second[7:])
    assert c.read_response().body == www.files["/b.txt"]


# -- HEAD, OPTIONS, absolute-form, Host --------------------------------------------------------

def test_head_has_get_headers_and_no_body(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/letters.txt", "HEAD") + req("/letters.txt"))
    head, get = c.read_response("HEAD"), c.read_response("GET")
    assert head.status == get.status == 200
    for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
        assert head.header(name) == get.header(name), name
    assert head.header("Content-Length") == "1000" and head.body == b""
    assert get.body == www.files["/letters.txt"]


def test_head_via_curl(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/a.txt"), "-I", "-w", "%{size_download}")
    assert r.rc == 0, r.stderr
    assert r.status == 200
    assert r.header("Content-Length") == "5"
    assert r.stdout == "0", "HEAD response carried body bytes"


def test_options_on_file_is_204_with_allow(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "OPTIONS") + req("/a.txt"))
    r = c.read_response("OPTIONS")
    assert r.status == 204, str(r)
    assert r.header("Allow") == "GET, HEAD, OPTIONS"
    assert r.body == b""
    assert c.read_response().body == b"hello"  # no stray body bytes before it


def test_options_asterisk(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", "OPTIONS")
    assert r.status == 204, str(r)
    assert r.tokens("Allow") >= {"get", "head", "options"}


def test_absolute_form_target(nuri, www):
    s = nuri(root=www.root)
    host = f"127.0.0.1:{s.port}"
    r = s.request(f"GET http://{host}/a.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert r.status == 200 and r.body == b"hello"


def test_absolute_form_with_query(nuri, www):
    s = nuri(root=www.root)
    host = f"127.0.0.1:{s.port}"
    r = s.request(f"GET http://{host}/b.txt?x=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert r.status == 200 and r.body == www.files["/b.txt"]


def test_http11_without_host_is_400_and_close(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\n\r\n")
    r = c.read_response()
    assert r.status == 400
    assert "close" in r.tokens("Connection")
    c.assert_closed()


def test_two_host_fields_is_400(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert r.status == 400


def test_http10_without_host_is_fine(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.0\r\n\r\n")
    assert r.status == 200 and r.body == b"hello"


def test_header_names_are_case_insensitive(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.1\r\nhOsT: localhost\r\nconnection: close\r\n\r\n")
    assert r.status == 200 and r.body == b"hello"
    assert "close" in r.tokens("Connection")


def test_query_string_does_not_change_the_file(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/a.txt?v=1&x=%2F..%2F")
    assert r.status == 200 and r.body == b"hello"


def test_error_page_is_html_naming_the_status(nuri, www):
    s = nuri(root=www.root)
    r = s.get("/missing.txt")
    assert r.status == 404 and r.reason == "Not Found"
    assert r.header("Content-Type").startswith("text/html")
    assert b"404" in r.body and b"Not Found" in r.body


def test_error_page_for_400_names_the_status(nuri, www):
    s = nuri(root=www.root)
    r = s.request(b"GET /a.txt HTTP/1.1\r\n\r\n")
    assert r.status == 400 and r.reason == "Bad Request"
    assert r.header("Content-Type").startswith("text/html")
    assert b"400" in r.body and b"Bad Request" in r.body


def test_head_of_missing_file_has_no_body(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/missing", "HEAD") + req("/a.txt"))
    r = c.read_response("HEAD")
    assert r.status == 404 and r.body == b""
    assert c.read_response().body == b"hello"


# -- request bodies ----------------------------------------------------------------------------

def test_content_length_body_is_consumed_before_next_request(nuri, www):
    s = nuri(root=www.root)
    body = b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"  # looks like a request: must stay a body
    rs = s.exchange(req("/a.txt", "POST", body=body) + req("/letters.txt"), ["POST", "GET"])
    assert rs[0].status == 405
    assert rs[1].status == 200 and rs[1].body == www.files["/letters.txt"]


def test_chunked_body_is_consumed_before_next_request(nuri, www):
    s = nuri(root=www.root)
    inner = b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    chunked = b"%x\r\n%s\r\n3\r\nabc\r\n0\r\n\r\n" % (len(inner), inner)
    data = req("/a.txt", "POST", {"Transfer-Encoding": "chunked"}) + chunked + req("/letters.txt")
    rs = s.exchange(data, ["POST", "GET"])
    assert rs[0].status == 405
    assert rs[1].status == 200 and rs[1].body == www.files["/letters.txt"]


def test_chunked_body_with_extensions_and_trailers(nuri, www):
    s = nuri(root=www.root)
    chunked = b"5;name=value\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"
    data = req("/a.txt", "POST", {"Transfer-Encoding": "chunked"}) + chunked + req("/b.txt")
    rs = s.exchange(data, ["POST", "GET"])
    assert rs[0].status == 405
    assert rs[1].body == www.files["/b.txt"]


def test_chunked_body_split_across_many_writes(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "PUT", {"Transfer-Encoding": "chunked"}))
    for piece in (b"4\r", b"\nwiki\r\n", b"5\r\npe", b"dia\r\n", b"0\r\n", b"\r\n"):
        time.sleep(0.02)
        c.send(piece)
    c.send(req("/b.txt"))
    assert c.read_response("PUT").status == 405
    assert c.read_response().body == www.files["/b.txt"]


def test_expect_100_continue_to_a_file_is_answered_at_once(nuri, www):
    """The static site's answer does not depend on the body: it comes at once, with no 100 that
    would have the client upload a body only for it to be dropped (nginx does the same). A body
    sent anyway is read and dropped, and the connection closes (the response says so)."""
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "POST", {"Content-Length": "5", "Expect": "100-continue"}))
    final = c.read_response("POST", timeout=3, interim=True)
    assert final.status == 405 and not c.interim, str(final)
    assert "close" in final.tokens("Connection"), str(final)
    c.send(b"abcde")
    rest, closed = c.read_until_close(3)
    assert rest == b"" and closed, rest[:200]
    assert s.get("/a.txt").body == b"hello"


def test_expect_100_continue_via_curl(nuri, www):
    s = nuri(root=www.root)
    r = curl(s.url("/a.txt"), "-v", "-H", "Expect: 100-continue", "--data-binary", "hello")
    assert [h.status for h in r.responses] == [405], r.stderr
    assert r.final.header("Allow") == "GET, HEAD, OPTIONS"


def test_no_100_continue_for_http10(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"POST /a.txt HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
    r = c.read_response("POST", interim=True)
    assert r.status == 405, "a 1xx must never be sent to an HTTP/1.0 client: " + str(r)


# -- concurrency --------------------------------------------------------------------------------

def test_many_concurrent_keepalive_clients(nuri, www):
    s = nuri(root=www.root)
    errors = []
    conns = [s.connect() for _ in range(32)]

    def client(c, k):
        try:
            for i in range(20):
                path = ["/a.txt", "/b.txt", "/letters.txt"][(i + k) % 3]
                c.send(req(path))
                r = c.read_response(timeout=10)
                assert r.status == 200 and r.body == www.files[path]
        except Exception as e:  # collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(c, k)) for k, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * TIME_SCALE)
    assert not errors, errors[:3]


def test_client_closing_mid_request_does_not_disturb_others(nuri, www):
    s = nuri(root=www.root)
    for partial in (b"GET /a.t",
                    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab",
                    b"GET /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"):
        c = s.connect()
        c.send(partial)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST
    assert s.get("/a.txt").body == b"hello"


# -- more persistence and pipelining edge cases --------------------------------------------------

def test_requests_after_connection_close_are_not_answered(nuri, www):
    s = nuri(root=www.root)
    out = s.request_raw(req("/a.txt", headers={"Connection": "close"}) + req("/b.txt"))
    rs = parse_all_responses(out, ["GET"])
    assert len(rs) == 1 and rs[0].body == b"hello", out[:400]


def test_half_closed_client_still_gets_its_response(nuri, www):
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt"))
    c.sock.shutdown(socket.SHUT_WR)
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello"
    _, closed = c.read_until_close(3)
    assert closed


def test_get_with_a_body_is_served_and_body_skipped(nuri, www):
    s = nuri(root=www.root)
    data = req("/a.txt", body=b"GET /b.txt HTTP/1.1\r\n\r\n") + req("/letters.txt")
    rs = s.exchange(data, ["GET", "GET"])
    # A body on GET has no meaning (RFC 9110 §9.3.1) but its framing is clear: skip it.
    assert rs[0].status == 200 and rs[0].body == b"hello"
    assert rs[1].body == www.files["/letters.txt"]


def test_keepalive_survives_304_206_416_412(nuri, www):
    s = nuri(root=www.root)
    etag = s.get("/letters.txt").header("ETag")
    data = (req("/letters.txt", headers={"If-None-Match": etag})
            + req("/letters.txt", headers={"Range": "bytes=0-3"})
            + req("/letters.txt", headers={"Range": "bytes=5000-"})
            + req("/letters.txt", headers={"If-Match": '"x"'})
            + req("/a.txt"))
    rs = s.exchange(data, ["GET"] * 5)
    assert [r.status for r in rs] == [304, 206, 416, 412, 200]
    assert rs[1].body == www.files["/letters.txt"][:4]
    assert rs[4].body == b"hello"


def test_pipelined_responses_survive_a_full_socket_buffer(nuri, www):
    """200 pipelined requests while the client does not read: nothing may be lost or reordered."""
    s = nuri(root=www.root)
    c = s.connect(rcvbuf=4096)
    paths = ["/letters.txt", "/a.txt", "/b.txt", "/missing"] * 50
    c.send(b"".join(req(p) for p in paths))
    time.sleep(0.3)
    for p in paths:
        r = c.read_response(timeout=10)
        if p == "/missing":
            assert r.status == 404
        else:
            assert r.status == 200 and r.body == www.files[p]


def test_pipelined_requests_larger_than_any_read_buffer(nuri, www):
    s = nuri(root=www.root)
    pad = {"X-Pad": "p" * 1000}
    n = 120
    data = b"".join(req("/a.txt" if i % 2 else "/b.txt", headers=pad) for i in range(n))
    rs = s.exchange(data, ["GET"] * n, timeout=10)
    for i, r in enumerate(rs):
        assert r.body == (b"hello" if i % 2 else www.files["/b.txt"])


def test_chunk_sizes_with_leading_zeros_and_uppercase_hex(nuri, www):
    s = nuri(root=www.root)
    chunked = b"0005\r\nhello\r\nA\r\n0123456789\r\n000\r\n\r\n"
    data = req("/a.txt", "POST", {"Transfer-Encoding": "chunked"}) + chunked + req("/b.txt")
    rs = s.exchange(data, ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == www.files["/b.txt"]


def test_date_header_advances(nuri, www):
    s = nuri(root=www.root)
    d1 = parse_http_date(s.get("/a.txt").header("Date"))
    time.sleep(1.2)
    d2 = parse_http_date(s.get("/a.txt").header("Date"))
    assert d2 >= d1 + 1, (d1, d2)


def test_expect_100_with_body_sent_immediately(nuri, www):
    """A client that does not wait for 100 Continue: any interim response must not confuse the
    framing of the final response or of the next one."""
    s = nuri(root=www.root)
    c = s.connect()
    c.send(req("/a.txt", "POST", {"Content-Length": "5", "Expect": "100-continue"}) + b"hello"
           + req("/b.txt"))
    assert c.read_response("POST").status == 405
    assert c.read_response().body == www.files["/b.txt"]
    assert all(r.status == 100 for r in c.interim)


def test_transfer_coding_names_are_case_insensitive(nuri, www):
    s = nuri(root=www.root)
    data = (req("/a.txt", "POST", {"Transfer-Encoding": "Chunked"}) + b"5\r\nhello\r\n0\r\n\r\n"
            + req("/b.txt"))
    rs = s.exchange(data, ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == www.files["/b.txt"]


def test_pipelined_small_file_after_large_file(nuri, big):
    """sendfile for the big body, then a small buffered response: order and bytes must hold."""
    s = nuri(root=big.path.parent)
    c = s.connect()
    c.send(req(big.url_path) + req("/a.txt") + req(big.url_path, "HEAD") + req("/b.txt"))
    r = c.read_response(timeout=60)
    assert r.status == 200 and len(r.body) == big.size
    assert hashlib.sha256(r.body).hexdigest() == big.digest
    assert c.read_response().body == b"hello"
    h = c.read_response("HEAD")
    assert h.header("Content-Length") == str(big.size) and h.body == b""
    assert c.read_response().body == b"second file\n"


def test_request_arriving_while_a_large_response_is_being_written(nuri, big):
    """Edge-triggered readiness: a request that arrives while the server waits to write must
    still be read and answered once the big response is done."""
    s = nuri("--workers", "1", "--header-timeout", "3", root=big.path.parent)
    c = s.connect(rcvbuf=16384)
    c.send(req(big.url_path))
    head = c.read_head()
    assert head.status == 200
    h = hashlib.sha256(bytes(c.buf))
    got = len(c.buf)
    c.buf.clear()
    c.sock.settimeout(10 * TIME_SCALE)
    sent_second = False
    while got < big.size:
        piece = c.sock.recv(min(1 << 20, big.size - got))
        assert piece
        h.update(piece)
        got += len(piece)
        if not sent_second and got > 1024 * 1024:
            c.send(req("/a.txt"))
            sent_second = True
    assert h.hexdigest() == big.digest
    r = c.read_response(timeout=2)
    assert r.status == 200 and r.body == b"hello", str(r)


def test_request_and_fin_in_quick_succession(nuri, www):
    """Request bytes and the client's FIN arriving together: answered, then closed promptly
    (the end of input must not be missed when the read that got the request was short)."""
    s = nuri("--idle-timeout", "30", root=www.root)
    for i in range(20):
        c = s.connect()
        c.sock.sendall(req("/a.txt" if i % 2 else "/letters.txt"))
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r.status == 200
        data, closed = c.read_until_close(2)
        assert closed and data == b"", f"round {i}: connection left open after the client's FIN"
        c.close()


def test_pipelined_requests_then_fin_all_answered(nuri, www):
    (www.root / "mid.bin").write_bytes(b"m" * 30000)
    s = nuri("--workers", "1", "--idle-timeout", "30", "--header-timeout", "5", root=www.root)
    c = s.connect()
    n = 20  # 600 KB of responses: the output fills and drains while the FIN is already in
    c.sock.sendall(req("/mid.bin") * n)
    c.sock.shutdown(socket.SHUT_WR)
    for i in range(n):
        r = c.read_response(timeout=3)
        assert r.status == 200 and len(r.body) == 30000, (i, str(r))
    data, closed = c.read_until_close(2)
    assert closed and data == b""
