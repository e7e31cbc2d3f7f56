"""libnuri back ends (issue 4): examples/hello, built on include/nuri/server.h, answered by the
same core as `nuri serve`. Black-box over curl and raw sockets: typed routes, 404/405 with
Allow, query and form parsing (and their 400/413/415), cookies, redirects, middleware, a handler
that throws (500 with a request id in the body and the log, and the worker goes on).
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time

import pytest

from nuri_helpers import TIME_SCALE, parse_all_responses, req, start_example


@pytest.fixture
def hello(nuri):
    return start_example(nuri, "hello", 2)  # a send timeout of 2 s, for the 504 test


def curl(s, path, *args):
    """(status, {lower-case name: [values]}, body) of one curl request to `s`."""
    host, port = s.addrs[0]
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", str(10 * TIME_SCALE), *args,
                        f"http://{host}:{port}{path}"], capture_output=True, timeout=20 * TIME_SCALE)
    assert p.returncode == 0, p.stderr
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


def test_typed_parameters_pick_the_route(hello):
    status, headers, body = curl(hello, "/items/42")
    assert status == 200 and json.loads(body) == {"id": 42} and headers["content-type"] == ["application/json"]
    assert json.loads(curl(hello, "/items/-3")[2]) == {"id": -3}
    assert curl(hello, "/items/abc")[0] == 404  # not an int: no route
    assert curl(hello, "/items/99999999999999999999")[0] == 404  # not an int64 either
    assert curl(hello, "/files/a/b%20c.txt")[2] == b"file: a/b c.txt\n"


def test_wrong_method_is_405_with_allow(hello):
    status, headers, _ = curl(hello, "/items/42", "-X", "DELETE")
    assert status == 405 and headers["allow"] == ["GET, HEAD"]
    status, headers, _ = curl(hello, "/api/items")
    assert status == 405 and headers["allow"] == ["POST"]
    status, headers, body = curl(hello, "/items/42", "-I")
    assert status == 200 and headers["content-length"] == ["9"] and body == b""  # {"id":42}


def test_query_and_form(hello):
    assert curl(hello, "/api/echo?tag=a&tag=b%20c&tag=x+y")[2] == b"a;b c;x y;\n"
    assert curl(hello, "/api/echo?tag=%zz")[0] == 400  # malformed escape: the client's error
    status, headers, body = curl(hello, "/api/items", "--data-urlencode", "name=red shoe & co")
    assert status == 201 and body == b"created red shoe & co\n"
    assert re.fullmatch(r"/items/\d+", headers["location"][0])
    assert curl(hello, "/api/items", "-d", "name=")[0] == 422
    assert curl(hello, "/api/items", "-H", "Content-Type: application/json", "-d", "{}")[0] == 415
    # A chunked form body arrives whole.
    status, _, body = curl(hello, "/api/items", "-H", "Transfer-Encoding: chunked", "-d", "name=chunky")
    assert status == 201 and body == b"created chunky\n"
    # Past max_body_size (1 MiB): 413 before the handler runs.
    big = hello.workdir / "big.form"
    big.write_bytes(b"name=" + b"x" * (1 << 20))
    status, _, _ = curl(hello, "/api/items", "--data-binary", f"@{big}")
    assert status == 413


def test_expect_100_continue_to_a_handler_that_reads_the_body(hello):
    """A back-end route reads the body: the client waiting on Expect gets 100 Continue first
    (only the static site, whose answer does not depend on the body, answers at once)."""
    with socket.create_connection(hello.addrs[0], timeout=5) as c:
        c.sendall(b"POST /api/items HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\n")
        interim = c.recv(4096)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n", interim
        c.sendall(b"name=abc")
        final = b""
        while b"created abc" not in final:
            chunk = c.recv(4096)
            assert chunk, final
            final += chunk
        assert final.startswith(b"HTTP/1.1 201 "), final


def test_cookies_and_redirects(hello):
    status, headers, body = curl(hello, "/")
    assert status == 200 and b"visit 1" in body
    assert headers["set-cookie"] == ["visits=1; Path=/; HttpOnly; SameSite=Lax"]
    assert b"visit 8" in curl(hello, "/", "-b", "visits=7")[2]
    status, headers, _ = curl(hello, "/old")
    assert status == 301 and headers["location"] == ["/"]


@pytest.mark.parametrize("cookie, visit", [
    ("visits=2147483647", b"visit 2147483648"),  # past an int: no overflow
    ("visits=9223372036854775806", b"visit 9223372036854775807"),
    ("visits=9223372036854775807", b"visit 1"),  # no room for one more
    ("visits=99999999999999999999", b"visit 1"),
    ("visits=-5", b"visit 1"),
    ("visits=7x", b"visit 1"),
])
def test_a_visits_cookie_out_of_range_starts_over(hello, cookie, visit):
    status, _, body = curl(hello, "/", "-b", cookie)
    assert status == 200 and re.search(rb"visit -?\d+", body).group() == visit


def test_middleware(hello):
    status, headers, body = curl(hello, "/admin")
    assert status == 401 and body == b"token required\n"
    assert re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", headers["x-request-id"][0])  # after() ran too
    status, _, body = curl(hello, "/admin", "-H", "X-Token: secret")
    assert status == 200 and body == b"welcome, admin\n"


def test_every_spelling_of_a_path_meets_its_guard(hello):
    """The router decodes escapes, so /%61dmin is the /admin route; path() decodes the
    unreserved ones too, so the before hook's prefix check sees /admin as well."""
    for path in ["/%61dmin", "/%61%64%6d%69%6e", "/%61%64%6D%69%6E", "/adm%69n"]:
        status, _, body = curl(hello, path)
        assert status == 401 and body == b"token required\n", path
        status, _, body = curl(hello, path, "-H", "X-Token: secret")
        assert status == 200 and body == b"welcome, admin\n", path
    status, _, body = curl(hello, "/%41dmin")  # "/Admin": another path, no route
    assert status == 404 and b"admin" not in body


def test_absolute_form_targets_reach_the_routes(hello):
    """RFC 9112 §3.2.2: a server accepts absolute-form (what a client talking to a proxy sends)."""
    host, port = hello.addrs[0]
    c = hello.connect(0)
    c.send(req(f"http://{host}:{port}/items/5") + req(f"http://{host}:{port}/%61dmin") +
           req(f"http://{host}:{port}", headers=[("Connection", "close")]))
    data, closed = c.read_until_close()
    assert closed
    items, admin, root = parse_all_responses(data, ["GET"] * 3)
    assert items.status == 200 and json.loads(items.body) == {"id": 5}
    assert admin.status == 401  # the guard sees the path part too
    assert root.status == 200 and b"visit 1" in root.body  # no path: "/"
    c.close()


def test_a_throwing_handler_gets_500_with_its_request_id(hello):
    status, headers, body = curl(hello, "/boom")
    assert status == 500
    request_id = headers["x-request-id"][0]
    assert f"Request id: {request_id}".encode() in body
    assert b"on purpose" not in body  # the details are for the log, not the client
    assert re.search(rf'"GET /boom HTTP/1.1": request {re.escape(request_id)}: handler threw: on purpose',
                     hello.stderr())
    # The worker goes on: every worker answers, many times, on one connection and on new ones.
    for _ in range(20):
        assert curl(hello, "/boom")[0] == 500
        assert curl(hello, "/items/1")[0] == 200
    c = hello.connect(0)
    c.send(req("/boom") + req("/items/7") + req("/boom") + req("/items/8", headers=[("Connection", "close")]))
    data, closed = c.read_until_close()
    assert closed
    responses = parse_all_responses(data, ["GET"] * 4)
    assert [r.status for r in responses] == [500, 200, 500, 200]
    c.close()


def test_json_bodies(hello):
    status, headers, body = curl(hello, "/api/sum", "-H", "Content-Type: application/json",
                                 "-d", '{"numbers": [1, 2.5, -3]}')
    assert status == 200 and headers["content-type"] == ["application/json"]
    assert json.loads(body) == {"sum": 0.5, "count": 3}
    # +json media types are JSON too.
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/vnd.x+json", "-d", '{"numbers": []}')[0] == 200
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "-d", '{"numbers": [1,')[0] == 400
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "-d", '{"numbers": "x"}')[0] == 422
    # Nesting past 64 levels is refused before parsing; 64 is fine.
    deep = "[" * 65 + "]" * 65
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "-d", deep)[0] == 400
    ok = '{"numbers": [], "x": ' + "[" * 62 + "]" * 62 + "}"
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "-d", ok)[0] == 200
    # Brackets inside strings do not count.
    quoted = '{"numbers": [], "s": "' + "[" * 200 + '\\"["}'
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "-d", quoted)[0] == 200
    # A million brackets: 400 at once, the server lives on.
    big = hello.workdir / "deep.json"
    big.write_bytes(b"[" * 1_000_000)
    assert curl(hello, "/api/sum", "-H", "Content-Type: application/json", "--data-binary", f"@{big}")[0] == 400
    assert curl(hello, "/items/1")[0] == 200


def test_multipart_uploads(hello):
    upload = hello.workdir / "photo.bin"
    upload.write_bytes(bytes(range(256)) * 40)
    status, _, body = curl(hello, "/api/upload", "-F", "title=holiday", "-F", f"photo=@{upload};type=image/png",
                           "-F", f"note=@{upload};filename=note.txt")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["multipart"] is True and doc["title"] == "holiday"
    assert doc["files"][0] == {"field": "photo", "filename": "photo.bin", "type": "image/png", "size": 10240}
    assert doc["files"][1]["filename"] == "note.txt"
    # A form field with a name only is a field; a broken multipart body is the client's error.
    broken = hello.workdir / "broken.multipart"
    broken.write_bytes(b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n")
    status, _, _ = curl(hello, "/api/upload", "-H", "Content-Type: multipart/form-data; boundary=xyz",
                        "--data-binary", f"@{broken}")
    assert status == 400
    status, _, _ = curl(hello, "/api/upload", "-H", "Content-Type: multipart/form-data", "-d", "x")
    assert status == 400  # no boundary


def test_later_answers_do_not_block_the_workers(hello):
    started = time.monotonic()
    status, _, body = curl(hello, "/slow?ms=300")
    assert status == 200 and body == b"waited 300 ms\n"
    assert time.monotonic() - started >= 0.3
    assert curl(hello, "/thread")[2] == b"answered from another thread\n"
    # 40 answers waiting on the 2 workers' timers: other requests are answered meanwhile, at once.
    results = []
    slow = [threading.Thread(target=lambda: results.append(curl(hello, "/slow?ms=1200")[0])) for _ in range(40)]
    for t in slow:
        t.start()
    time.sleep(0.3)
    for _ in range(10):
        started = time.monotonic()
        assert curl(hello, "/items/5")[0] == 200
        assert time.monotonic() - started < 0.5 * TIME_SCALE
    for t in slow:
        t.join()
    assert results == [200] * 40


def test_later_answers_keep_pipelined_responses_in_order(hello):
    c = hello.connect(0)
    c.send(req("/slow?ms=200") + req("/items/9") + req("/thread") + req("/items/10", headers=[("Connection", "close")]))
    data, closed = c.read_until_close()
    assert closed
    bodies = [r.body for r in parse_all_responses(data, ["GET"] * 4)]
    assert bodies == [b"waited 200 ms\n", b'{"id":9}', b"answered from another thread\n", b'{"id":10}']
    c.close()


def test_later_answer_for_a_client_that_left_is_dropped(hello):
    for _ in range(5):
        c = hello.connect(0)
        c.send(req("/slow?ms=200"))
        c.close()
    time.sleep(0.4)  # the completions arrive for connections that are gone
    assert curl(hello, "/items/3")[0] == 200


def test_no_answer_in_time_is_504_and_a_throwing_fill_is_500(hello):
    started = time.monotonic()
    status, headers, _ = curl(hello, "/never")
    waited = time.monotonic() - started
    assert status == 504 and 1.9 <= waited < 4 * TIME_SCALE, waited
    request_id = headers["x-request-id"][0]
    assert f"request {request_id}: no answer from the application within 2 s" in hello.stderr()
    status, headers, body = curl(hello, "/late-boom")
    assert status == 500 and f"Request id: {headers['x-request-id'][0]}".encode() in body
    assert "handler threw: failed later" in hello.stderr()


def test_streamed_body_arrives_in_pieces(hello):
    c = hello.connect(0)
    c.send(req("/count?n=4&ms=150"))
    started = time.monotonic()
    head = c.read_head()
    assert head.status == 200 and head.header("Transfer-Encoding") == "chunked"
    assert not head.has("Content-Length")
    # The first piece comes long before the last: the body is not collected first.
    deadline = time.monotonic() + 5 * TIME_SCALE
    while b"1\n" not in c.buf and time.monotonic() < deadline:
        c._fill(deadline)
    first = time.monotonic() - started
    assert first < 0.45, first  # four pieces 150 ms apart take 600 ms
    # The rest of the chunked body, then the next request on the same connection.
    c.send(req("/items/6", headers=[("Connection", "close")]))
    data, closed = c.read_until_close(timeout=3)
    assert closed
    c.close()
    streamed, after = parse_all_responses(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data,
                                          ["GET", "GET"])
    assert streamed.body == b"1\n2\n3\n4\n" and after.body == b'{"id":6}'


def test_streamed_body_framing(hello):
    host, port = hello.addrs[0]
    p = subprocess.run(["curl", "-sS", f"http://{host}:{port}/count?n=5&ms=10", f"http://{host}:{port}/items/2",
                        "-w", "%{num_connects} "], capture_output=True, timeout=10 * TIME_SCALE)
    assert p.stdout == b"1\n2\n3\n4\n5\n1 " + b'{"id":2}0 '  # one connection for both
    p = subprocess.run(["curl", "-sS", "--http1.0", "-i", f"http://{host}:{port}/count?n=3&ms=10"],
                       capture_output=True, timeout=10 * TIME_SCALE)
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head and body == b"1\n2\n3\n"
    # A client that leaves mid-stream: the producer learns it from write() and stops; the
    # server goes on.
    for _ in range(5):
        c = hello.connect(0)
        c.send(req("/count?n=100&ms=5"))
        c.read_head()
        c.close()
    time.sleep(0.3)
    assert curl(hello, "/items/1")[0] == 200


def test_file_bodies_are_sent_from_disk(nuri, tmp_path):
    """Response::file(): the bytes of the file (sendfile, so a large one costs no memory), its
    Content-Type from the extension, Last-Modified and ETag; HEAD announces the length; a file
    that cannot be opened is the handler's to answer (here 404), and nothing leaks either way."""
    data = bytes((i * 7 + i // 4096) % 256 for i in range(3 * 1024 * 1024 + 17))
    (tmp_path / "report.pdf").write_bytes(data)
    (tmp_path / "notes.txt").write_text("plain notes\n")
    s = start_example(nuri, "hello", 2, str(tmp_path))
    status, headers, body = curl(s, "/downloads/report.pdf")
    assert status == 200 and body == data
    assert headers["content-type"] == ["application/pdf"]
    assert headers["content-length"] == [str(len(data))]
    assert headers["etag"][0].startswith('"') and headers["last-modified"]
    status, headers, body = curl(s, "/downloads/notes.txt", "-I")
    assert status == 200 and body == b"" and headers["content-length"] == ["12"]
    assert headers["content-type"][0].startswith("text/plain")
    assert curl(s, "/downloads/missing.bin")[0] == 404
    # Several at once on one worker, and a client that leaves in the middle of one.
    host, port = s.addrs[0]
    c = socket.create_connection((host, port))
    c.sendall(req("/downloads/report.pdf"))
    c.recv(1000)
    c.close()
    for _ in range(3):
        assert curl(s, "/downloads/report.pdf")[2] == data


def test_an_escaped_nul_in_the_path_is_400(nuri, tmp_path):
    """A NUL in a parameter would cut the file name given to Response::file() short, the
    extension after it choosing the Content-Type: a.txt sent as HTML. Refused before routing,
    as the static files refuse it."""
    (tmp_path / "a.txt").write_text("<script>alert(1)</script>\n")
    s = start_example(nuri, "hello", 2, str(tmp_path))
    status, headers, body = curl(s, "/downloads/a.txt%00.html")
    assert status == 400 and b"<script>" not in body
    assert curl(s, "/files/a%00b")[0] == 400
    assert curl(s, "/items/1%00")[0] == 400
    status, headers, _ = curl(s, "/downloads/a.txt")
    assert status == 200 and headers["content-type"][0].startswith("text/plain")
