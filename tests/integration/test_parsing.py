"""Strict request parsing (RFC 9112): what is rejected, with which status, and that after a
framing error the connection is closed so that a smuggled request behind it is never answered."""
import pytest

from nuri_helpers import parse_all_responses, req

H = b"Host: x\r\n"
POST = b"POST /a.txt HTTP/1.1\r\n" + H
SMUGGLED = b"GET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n"  # its body, "second file", must never appear

BAD_REQUESTS_400 = {
    # header field syntax
    "space_before_colon_host": b"GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n",
    "space_before_colon": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo : y\r\n\r\n",
    "tab_before_colon": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo\t: y\r\n\r\n",
    "obs_fold_space": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\r\n b\r\n\r\n",
    "obs_fold_tab": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\r\n\tb\r\n\r\n",
    "whitespace_before_first_header": b"GET /a.txt HTTP/1.1\r\n Host: x\r\n\r\n",
    "bare_cr_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\rb\r\n\r\n",
    "bare_cr_line_end": b"GET /a.txt HTTP/1.1\r\nHost: x\rX-Foo: y\r\n\r\n",
    "bare_cr_request_line": b"GET /a.txt HTTP/1.1\rHost: x\r\n\r\n",
    "nul_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\x00b\r\n\r\n",
    "ctl_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\x01b\r\n\r\n",
    "esc_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\x1b[31mb\r\n\r\n",
    "del_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\x7fb\r\n\r\n",
    "nul_in_name": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-F\x00o: y\r\n\r\n",
    "paren_in_name": b"GET /a.txt HTTP/1.1\r\n" + H + b"X(Foo): y\r\n\r\n",
    "at_in_name": b"GET /a.txt HTTP/1.1\r\n" + H + b"X@Foo: y\r\n\r\n",
    "space_in_name": b"GET /a.txt HTTP/1.1\r\n" + H + b"X Foo: y\r\n\r\n",
    "empty_name": b"GET /a.txt HTTP/1.1\r\n" + H + b": y\r\n\r\n",
    "no_colon": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo y\r\n\r\n",
    # request line
    "double_space": b"GET  /a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "leading_space": b" GET /a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "missing_version": b"GET /a.txt\r\n" + H + b"\r\n",
    "extra_word": b"GET /a.txt HTTP/1.1 x\r\n" + H + b"\r\n",
    "space_in_target": b"GET /a b.txt HTTP/1.1\r\n" + H + b"\r\n",
    "lowercase_protocol": b"GET /a.txt http/1.1\r\n" + H + b"\r\n",
    "version_letters": b"GET /a.txt HTTP/1.x\r\n" + H + b"\r\n",
    "version_one_digit": b"GET /a.txt HTTP/1\r\n" + H + b"\r\n",
    "version_two_digit_major": b"GET /a.txt HTTP/11.1\r\n" + H + b"\r\n",
    "target_not_origin_form": b"GET a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "method_bad_token": b"GE(T /a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "ctl_in_target": b"GET /a\x01.txt HTTP/1.1\r\n" + H + b"\r\n",
    "nul_in_target": b"GET /a.txt\x00 HTTP/1.1\r\n" + H + b"\r\n",
    "del_in_target": b"GET /a\x7f.txt HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk_form_on_get": b"GET * HTTP/1.1\r\n" + H + b"\r\n",
    "space_after_version": b"GET /a.txt HTTP/1.1 \r\n" + H + b"\r\n",
    "bad_percent_escape": b"GET /%zz.txt HTTP/1.1\r\n" + H + b"\r\n",
    "truncated_percent_escape": b"GET /a.txt% HTTP/1.1\r\n" + H + b"\r\n",
    "half_percent_escape": b"GET /a%4 HTTP/1.1\r\n" + H + b"\r\n",
    "tls_client_hello":
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
    # Host
    "missing_host": b"GET /a.txt HTTP/1.1\r\n\r\n",
    "two_host_fields": b"GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    # Content-Length
    "cl_letters": POST + b"Content-Length: abc\r\n\r\n",
    "cl_negative": POST + b"Content-Length: -1\r\n\r\n",
    "cl_plus_sign": POST + b"Content-Length: +5\r\n\r\nhello",
    "cl_hex": POST + b"Content-Length: 0x5\r\n\r\nhello",
    "cl_empty": POST + b"Content-Length: \r\n\r\n",
    "cl_conflicting_fields": POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl_conflicting_list": POST + b"Content-Length: 5, 6\r\n\r\nhello!",
    "cl_overflow": POST + b"Content-Length: 99999999999999999999999999\r\n\r\n",
    # Transfer-Encoding
    "te_with_cl": POST + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "cl_with_te": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG",
    "te_chunked_not_last": POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te_two_fields_last_not_chunked":
        POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    "te_gzip_only": POST + b"Transfer-Encoding: gzip\r\n\r\n",
    "te_xchunked": POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    # chunked body syntax
    "chunk_size_not_hex": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_negative": POST + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk_trailer_malformed":
        POST + b"Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
    "chunk_data_without_crlf":
        POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
}

BAD_501 = {
    "unknown_method": b"BREW /a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "unknown_method_propfind": b"PROPFIND /a.txt HTTP/1.1\r\n" + H + b"\r\n",
    "te_gzip_then_chunked": POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_unknown_then_chunked": POST + b"Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
}

BAD_505 = {
    "http_2_0": b"GET /a.txt HTTP/2.0\r\n" + H + b"\r\n",
    "http_3_0": b"GET /a.txt HTTP/3.0\r\n" + H + b"\r\n",
    "http_0_9": b"GET /a.txt HTTP/0.9\r\n" + H + b"\r\n",
}

ALL_BAD = ([(k, v, 400) for k, v in BAD_REQUESTS_400.items()]
           + [(k, v, 501) for k, v in BAD_501.items()]
           + [(k, v, 505) for k, v in BAD_505.items()])


def _assert_rejected_then_closed(server, bad: bytes, status: int):
    c = server.connect()
    c.send(bad + SMUGGLED)
    r = c.read_response("POST" if bad.startswith(b"POST") else "GET")
    assert r.status == status, f"expected {status}, got:\n{r}"
    assert "close" in r.tokens("Connection"), f"no Connection: close on a framing error:\n{r}"
    rest, closed = c.read_until_close(3)
    assert b"HTTP/1" not in rest and b"second file" not in rest, \
        f"the request behind the bad one was answered: {rest[:300]!r}"
    assert rest == b"", f"bytes after the error response: {rest[:300]!r}"
    assert closed, "connection left open after a framing error"
    return r


@pytest.mark.parametrize("name,bad,status", ALL_BAD, ids=[x[0] for x in ALL_BAD])
def test_rejected_and_connection_closed(nuri, www, name, bad, status):
    s = nuri(root=www.root)
    _assert_rejected_then_closed(s, bad, status)
    # The server is still fine for the next client.
    assert s.get("/a.txt").body == b"hello"


@pytest.mark.parametrize("bad,status", [
    (b"HEAD /a.txt HTTP/1.1\r\n\r\n", 400),
    (b"HEAD /a.txt HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n", 400),
    (b"HEAD /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 99999999\r\n\r\n", 413),
    (b"HEAD /a.txt HTTP/1.1\r\n" + H + b"Expect: foo\r\n\r\n", 417),
    (b"HEAD /a.txt HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"HEAD /a.txt HTTP/2.0\r\n" + H + b"\r\n", 505),
    # RFC 9112 §2.2: empty lines before the request line are allowed; the request is still a HEAD.
    (b"\r\n\r\nHEAD /a.txt HTTP/1.1\r\n\r\n", 400),
    (b"\nHEAD /a.txt HTTP/1.1\r\n" + H + b"Expect: foo\r\n\r\n", 417),
], ids=["no_host", "bad_field", "too_large", "expect", "unknown_coding", "version", "after_crlf", "after_lf"])
def test_error_for_a_head_request_has_no_body(nuri, www, bad, status):
    """RFC 9110 §9.3.2: no content in a response to HEAD, an error found while parsing the head
    included (nginx sends none either). The length may be announced; no byte may follow."""
    s = nuri(root=www.root)
    c = s.connect()
    c.send(bad)
    data, closed = c.read_until_close(3)
    assert closed and data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    head, _, body = data.partition(b"\r\n\r\n")
    assert body == b"", f"{len(body)} body bytes after the head: {data[:400]!r}"


def test_http_1_2_is_served_as_http_1_1(nuri, www):
    """RFC 9110 §6.2: a later minor version of HTTP/1 is processed as HTTP/1.1 and answered in
    HTTP/1.1, and the connection persists as HTTP/1.1's does."""
    s = nuri(root=www.root)
    c = s.connect()
    c.send(b"GET /a.txt HTTP/1.2\r\n" + H + b"\r\nGET /a.txt HTTP/1.9\r\n" + H + b"\r\n")
    for _ in range(2):
        r = c.read_response()
        assert r.status == 200 and r.version == "HTTP/1.1" and r.body == b"hello", r
    c.close()


def test_error_body_names_status_for_501_and_505(nuri, www):
    s = nuri(root=www.root)
    r = s.request(BAD_501["unknown_method"])
    assert r.status == 501 and b"501" in r.body and b"Not Implemented" in r.body
    assert r.header("Content-Type").startswith("text/html")
    r = s.request(BAD_505["http_2_0"])
    assert r.status == 505 and b"505" in r.body
    assert r.header("Content-Type").startswith("text/html")


def test_413_414_431_also_close_and_ignore_smuggled_request(nuri, www):
    s = nuri("--max-body-size", "10", root=www.root)
    _assert_rejected_then_closed(s, POST + b"Content-Length: 11\r\n\r\nhello world", 413)
    _assert_rejected_then_closed(s, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414)
    _assert_rejected_then_closed(
        s, b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Big: " + b"b" * 17000 + b"\r\n\r\n", 431)


def test_smuggling_cl_te_classic(nuri, www):
    """CL.TE: a front end using Content-Length would forward 'G' as the start of a request."""
    s = nuri(root=www.root)
    data = (POST + b"Content-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED"
            + SMUGGLED)
    out = s.request_raw(data)
    rs = parse_all_responses(out, ["POST"])
    assert [r.status for r in rs] == [400], out[:400]


def test_smuggling_te_with_obs_fold(nuri, www):
    s = nuri(root=www.root)
    data = POST + b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + SMUGGLED
    rs = parse_all_responses(s.request_raw(data), ["POST"])
    assert [r.status for r in rs] == [400]


# -- what must NOT be rejected ------------------------------------------------------------------

GOOD_REQUESTS = {
    "obs_text_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Name: caf\xc3\xa9 \xff\r\n\r\n",
    "tab_in_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Foo: a\tb\r\n\r\n",
    "ows_around_value": b"GET /a.txt HTTP/1.1\r\nHost: \t x \t\r\n\r\n",
    "empty_value": b"GET /a.txt HTTP/1.1\r\n" + H + b"X-Empty:\r\n\r\n",
    "all_tchars_in_name": b"GET /a.txt HTTP/1.1\r\n" + H + b"!#$%&'*+-.^_`|~09Az: v\r\n\r\n",
    "content_length_zero_on_get": b"GET /a.txt HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n",
    "many_headers": b"GET /a.txt HTTP/1.1\r\n" + H
    + b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(90)) + b"\r\n",
    "host_with_port": b"GET /a.txt HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
    "host_ipv6": b"GET /a.txt HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "percent_encoded_target": b"GET /%61.txt HTTP/1.1\r\n" + H + b"\r\n",
    "http10": b"GET /a.txt HTTP/1.0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(GOOD_REQUESTS))
def test_valid_requests_are_accepted(nuri, www, name):
    s = nuri(root=www.root)
    r = s.request(GOOD_REQUESTS[name])
    assert r.status == 200 and r.body == b"hello", str(r)


def test_leading_zeros_in_content_length_are_a_number(nuri, www):
    s = nuri(root=www.root)
    rs = s.exchange(POST + b"Content-Length: 005\r\n\r\nhello" + req("/b.txt"), ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == www.files["/b.txt"]


def test_leading_zeros_do_not_count_toward_the_digit_limits(nuri, www):
    """1*DIGIT and 1*HEXDIG: zeros in front do not make the number larger. 30 digits of
    Content-Length and a 29-digit chunk size for 5 bytes were 400 (nginx takes both)."""
    s = nuri(root=www.root)
    rs = s.exchange(POST + b"Content-Length: " + b"0" * 29 + b"5\r\n\r\nhello" + req("/b.txt"), ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == www.files["/b.txt"]
    chunked = b"0" * 28 + b"5\r\nhello\r\n" + b"0" * 20 + b"\r\n\r\n"
    rs = s.exchange(POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked + req("/b.txt"), ["POST", "GET"])
    assert rs[0].status == 405 and rs[1].body == www.files["/b.txt"]


def test_long_target_under_the_uri_limit_is_not_414(nuri, www):
    s = nuri(root=www.root)
    target = "/a.txt?" + "q" * (8000 - len("/a.txt?"))
    r = s.get(target)
    assert r.status == 200 and r.body == b"hello", str(r)


def test_error_in_the_middle_of_a_pipeline(nuri, www):
    """Responses before the bad request are sent, then the connection closes."""
    s = nuri("--max-body-size", "10", root=www.root)
    data = (req("/a.txt") + POST + b"Content-Length: 50\r\n\r\n" + b"x" * 50 + req("/b.txt"))
    out = s.request_raw(data)
    rs = parse_all_responses(out, ["GET", "POST"])
    assert [r.status for r in rs] == [200, 413], out[:500]
    assert rs[0].body == b"hello"


@pytest.mark.parametrize("length,status", [(8192, 200), (8193, 414)])
def test_uri_limit_boundary(nuri, www, length, status):
    s = nuri(root=www.root)
    target = "/a.txt?" + "q" * (length - len("/a.txt?"))
    assert len(target) == length
    r = s.get(target)
    assert r.status == status, str(r)
