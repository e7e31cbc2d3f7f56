"""Conditional requests (RFC 9110 §13) and ranges (RFC 9110 §14) on /letters.txt (1000 bytes,
every 5-byte record distinct, so an off-by-one range shows)."""
import os
import re

import pytest

from nuri_helpers import LETTERS, curl, http_date, parse_multipart_byteranges, req

SIZE = len(LETTERS)
MTIME = 1_650_000_000  # Fri, 15 Apr 2022 05:20:00 GMT


@pytest.fixture
def srv(nuri, www):
    os.utime(www.root / "letters.txt", (MTIME, MTIME))
    s = nuri(root=www.root)
    s.etag = s.get("/letters.txt").header("ETag")
    assert s.etag and s.etag.startswith('"'), s.etag
    return s


def _get(s, method="GET", **headers):
    return s.get("/letters.txt", method, {k.replace("_", "-"): v for k, v in headers.items()})


def _assert_304(s, headers, method="GET"):
    c = s.connect()
    c.send(req("/letters.txt", method, headers) + req("/a.txt"))
    r = c.read_response(method)
    assert r.status == 304, str(r)
    assert r.body == b""
    assert r.header("ETag") == s.etag
    nxt = c.read_response()  # proves the 304 carried no body
    assert nxt.body == b"hello"
    return r


# -- If-None-Match / If-Modified-Since ---------------------------------------------------------

def test_if_none_match_matching_is_304(srv):
    _assert_304(srv, {"If-None-Match": srv.etag})


def test_if_none_match_star_is_304(srv):
    _assert_304(srv, {"If-None-Match": "*"})


def test_if_none_match_weak_form_is_304(srv):
    _assert_304(srv, {"If-None-Match": "W/" + srv.etag})


def test_if_none_match_list_is_304(srv):
    _assert_304(srv, {"If-None-Match": f'"nope", W/"other", {srv.etag}'})


def test_if_none_match_on_head_is_304(srv):
    _assert_304(srv, {"If-None-Match": srv.etag}, "HEAD")


def test_if_none_match_other_tag_is_200(srv):
    r = _get(srv, If_None_Match='"definitely-not-it"')
    assert r.status == 200 and r.body == LETTERS


def test_if_none_match_via_curl(srv):
    r = curl(srv.url("/letters.txt"), "-H", f"If-None-Match: {srv.etag}")
    assert r.status == 304 and r.body == b""


@pytest.mark.parametrize("when", [MTIME, MTIME + 3600])
def test_if_modified_since_not_older_is_304(srv, when):
    _assert_304(srv, {"If-Modified-Since": http_date(when)})


def test_if_modified_since_older_is_200(srv):
    r = _get(srv, If_Modified_Since=http_date(MTIME - 1))
    assert r.status == 200 and r.body == LETTERS


def test_if_modified_since_ignored_when_if_none_match_present(srv):
    r = _get(srv, If_None_Match='"other"', If_Modified_Since=http_date(MTIME + 10))
    assert r.status == 200 and r.body == LETTERS


def test_invalid_if_modified_since_is_ignored(srv):
    r = _get(srv, If_Modified_Since="yesterday-ish")
    assert r.status == 200 and r.body == LETTERS


def test_last_modified_roundtrip(srv):
    r = _get(srv)
    assert r.header("Last-Modified") == http_date(MTIME)
    _assert_304(srv, {"If-Modified-Since": r.header("Last-Modified")})


# -- If-Match / If-Unmodified-Since ------------------------------------------------------------

def test_if_match_other_tag_is_412(srv):
    r = _get(srv, If_Match='"not-the-etag"')
    assert r.status == 412, str(r)
    assert b"412" in r.body and LETTERS[:20] not in r.body


def test_if_match_weak_tag_is_412(srv):
    """If-Match uses the strong comparison: a weak tag never matches."""
    r = _get(srv, If_Match="W/" + srv.etag)
    assert r.status == 412, str(r)


def test_if_match_matching_is_200(srv):
    r = _get(srv, If_Match=srv.etag)
    assert r.status == 200 and r.body == LETTERS


@pytest.mark.parametrize("order", ["tag_second", "tag_first"])
def test_if_match_in_two_field_lines_is_one_list(srv, order):
    """RFC 9110 §5.3: two If-Match lines are one list; the current tag in either matches.
    Only the first line was read: with the tag second the answer was 412."""
    lines = [("If-Match", '"x"'), ("If-Match", srv.etag)]
    if order == "tag_first":
        lines.reverse()
    r = srv.request(req("/letters.txt", headers=lines))
    assert r.status == 200 and r.body == LETTERS, str(r)


@pytest.mark.parametrize("order", ["tag_second", "tag_first"])
def test_if_none_match_in_two_field_lines_is_one_list(srv, order):
    lines = [("If-None-Match", '"x"'), ("If-None-Match", srv.etag)]
    if order == "tag_first":
        lines.reverse()
    _assert_304(srv, lines)


def test_if_match_star_is_200(srv):
    r = _get(srv, If_Match="*")
    assert r.status == 200 and r.body == LETTERS


def test_if_unmodified_since_older_is_412(srv):
    r = _get(srv, If_Unmodified_Since=http_date(MTIME - 60))
    assert r.status == 412, str(r)


def test_if_unmodified_since_equal_is_200(srv):
    r = _get(srv, If_Unmodified_Since=http_date(MTIME))
    assert r.status == 200 and r.body == LETTERS


def test_if_match_failure_wins_over_range(srv):
    r = _get(srv, If_Match='"nope"', Range="bytes=0-9")
    assert r.status == 412


def test_if_none_match_wins_over_range(srv):
    r = _get(srv, If_None_Match=srv.etag, Range="bytes=0-9")
    assert r.status == 304 and r.body == b""


# -- single ranges -----------------------------------------------------------------------------

@pytest.mark.parametrize("spec,first,last", [
    ("0-9", 0, 9),
    ("3-3", 3, 3),
    ("-5", SIZE - 5, SIZE - 1),
    ("5-", 5, SIZE - 1),
    ("990-2000", 990, SIZE - 1),
    ("-5000", 0, SIZE - 1),
    ("0-", 0, SIZE - 1),
    ("999-999", 999, 999),
])
def test_single_range(srv, spec, first, last):
    r = _get(srv, Range=f"bytes={spec}")
    assert r.status == 206, str(r)
    assert r.header("Content-Range") == f"bytes {first}-{last}/{SIZE}"
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == LETTERS[first:last + 1]
    assert r.header("ETag") == srv.etag
    assert r.header("Content-Type") == "text/plain; charset=utf-8"


def test_range_via_curl(srv):
    r = curl(srv.url("/letters.txt"), "-r", "100-199")
    assert r.status == 206
    assert r.header("Content-Range") == f"bytes 100-199/{SIZE}"
    assert r.body == LETTERS[100:200]


def test_range_unit_is_case_insensitive(srv):
    r = _get(srv, Range="Bytes=0-4")
    assert r.status == 206 and r.body == LETTERS[:5]


def test_range_on_head(srv):
    c = srv.connect()
    c.send(req("/letters.txt", "HEAD", {"Range": "bytes=0-9"}) + req("/a.txt"))
    r = c.read_response("HEAD")
    assert r.status in (200, 206) and r.body == b""
    assert c.read_response().body == b"hello"


# -- multiple ranges ---------------------------------------------------------------------------

def _check_multipart(r, expected):
    assert r.status == 206, str(r)
    ctype = r.header("Content-Type")
    m = re.fullmatch(r'multipart/byteranges;\s*boundary=("?)([^";]+)\1', ctype or "")
    assert m, ctype
    assert not r.has("Content-Range")
    assert r.header("Content-Length") == str(len(r.body))
    parts = parse_multipart_byteranges(r.body, m[2])
    assert len(parts) == len(expected), r.body[:600]
    for (headers, data), (first, last) in zip(parts, expected):
        assert headers.get("content-range") == f"bytes {first}-{last}/{SIZE}", headers
        assert headers.get("content-type") == "text/plain; charset=utf-8", headers
        assert data == LETTERS[first:last + 1]


def test_multiple_ranges_are_multipart(srv):
    r = _get(srv, Range="bytes=0-4,10-14,990-")
    _check_multipart(r, [(0, 4), (10, 14), (990, 999)])


def test_multiple_ranges_with_suffix(srv):
    r = _get(srv, Range="bytes=100-109, -3")
    _check_multipart(r, [(100, 109), (SIZE - 3, SIZE - 1)])


def test_multiple_ranges_come_in_the_order_asked(srv):
    """RFC 9110 §14.6: the parts SHOULD follow the order of the range-specs (a client asking for
    the end first, as a media player does, reads it first); merged ranges excepted."""
    r = _get(srv, Range="bytes=-1,0-0,500-504")
    _check_multipart(r, [(SIZE - 1, SIZE - 1), (0, 0), (500, 504)])


def test_multiple_ranges_via_curl(srv):
    r = curl(srv.url("/letters.txt"), "-r", "0-4,500-504")
    _check_multipart(r.final, [(0, 4), (500, 504)])


# -- unsatisfiable and invalid -----------------------------------------------------------------

@pytest.mark.parametrize("spec", [f"{SIZE}-", "5000-6000", f"{SIZE}-{SIZE + 10}"])
def test_unsatisfiable_range_is_416(srv, spec):
    r = _get(srv, Range=f"bytes={spec}")
    assert r.status == 416, str(r)
    assert r.header("Content-Range") == f"bytes */{SIZE}"
    assert LETTERS[:20] not in r.body


@pytest.mark.parametrize("value", ["bytes=abc", "items=0-5", "bytes=", "bytes=-", "bytes 0-5",
                                   "bytes=0-5x", "bytes=1-2-3"])
def test_invalid_range_syntax_is_ignored(srv, value):
    r = _get(srv, Range=value)
    assert r.status == 200, str(r)
    assert r.body == LETTERS
    assert not r.has("Content-Range")


# -- If-Range ----------------------------------------------------------------------------------

def test_if_range_matching_etag_is_206(srv):
    r = _get(srv, Range="bytes=0-9", If_Range=srv.etag)
    assert r.status == 206 and r.body == LETTERS[:10]


def test_if_range_stale_etag_is_full_200(srv):
    r = _get(srv, Range="bytes=0-9", If_Range='"stale-tag"')
    assert r.status == 200 and r.body == LETTERS
    assert not r.has("Content-Range")


def test_if_range_weak_etag_is_full_200(srv):
    r = _get(srv, Range="bytes=0-9", If_Range="W/" + srv.etag)
    assert r.status == 200 and r.body == LETTERS


def test_if_range_matching_date_is_206(srv):
    r = _get(srv, Range="bytes=10-19", If_Range=http_date(MTIME))
    assert r.status == 206 and r.body == LETTERS[10:20]


def test_if_range_older_date_is_full_200(srv):
    r = _get(srv, Range="bytes=10-19", If_Range=http_date(MTIME - 100))
    assert r.status == 200 and r.body == LETTERS


def test_if_range_date_not_a_second_before_the_response_is_weak(nuri, www):
    """RFC 9110 §13.1.5 and §8.8.2.2: a Last-Modified date is a strong validator only once its
    second is over (it is before the response's Date); a weak If-Range is false, so the whole
    file comes back. Else a file written twice within one second could have a range of its new
    content spliced onto a download of the old. A date in the future is never a second before."""
    import time
    future = int(time.time()) + 3600
    os.utime(www.root / "letters.txt", (future, future))
    s = nuri(root=www.root)
    r = _get(s, Range="bytes=10-19", If_Range=http_date(future))
    assert r.status == 200 and r.body == LETTERS, str(r)
    past = int(time.time()) - 10
    os.utime(www.root / "letters.txt", (past, past))
    r = _get(s, Range="bytes=10-19", If_Range=http_date(past))
    assert r.status == 206 and r.body == LETTERS[10:20], str(r)


def test_multiple_ranges_in_a_large_file(nuri, big):
    s = nuri(root=big.path.parent)
    spans = [(0, 99), (33_554_432, 33_554_531), (big.size - 100, big.size - 1)]
    r = s.get(big.url_path, headers={"Range": "bytes=" + ",".join(f"{a}-{b}" for a, b in spans)})
    assert r.status == 206, str(r)
    m = re.fullmatch(r'multipart/byteranges;\s*boundary=("?)([^";]+)\1', r.header("Content-Type"))
    assert m, r.header("Content-Type")
    parts = parse_multipart_byteranges(r.body, m[2])
    assert len(parts) == 3
    for (headers, data), (a, b) in zip(parts, spans):
        assert headers.get("content-range") == f"bytes {a}-{b}/{big.size}"
        assert data == big.slice(a, b)


def test_overlapping_ranges_give_the_right_bytes(srv):
    r = _get(srv, Range="bytes=0-10,5-15")
    assert r.status == 206, str(r)
    if r.header("Content-Type").startswith("multipart/byteranges"):
        boundary = r.header("Content-Type").split("boundary=")[1].strip('"')
        for headers, data in parse_multipart_byteranges(r.body, boundary):
            a, b = map(int, re.match(r"bytes (\d+)-(\d+)/", headers["content-range"]).groups())
            assert data == LETTERS[a:b + 1]
    else:  # coalesced into one range
        m = re.fullmatch(rf"bytes (\d+)-(\d+)/{SIZE}", r.header("Content-Range"))
        assert m and int(m[1]) == 0 and int(m[2]) >= 15
        assert r.body == LETTERS[int(m[1]):int(m[2]) + 1]


# -- date forms and sub-second mtimes --------------------------------------------------------------

def test_if_modified_since_in_obsolete_date_formats(srv):
    """RFC 9110 §5.6.7: recipients accept RFC 850 and asctime dates too."""
    _assert_304(srv, {"If-Modified-Since": "Friday, 15-Apr-22 05:20:00 GMT"})
    _assert_304(srv, {"If-Modified-Since": "Fri Apr 15 05:20:00 2022"})
    r = _get(srv, If_Modified_Since="Friday, 15-Apr-22 05:19:59 GMT")
    assert r.status == 200


def test_subsecond_mtime_compares_at_second_resolution(nuri, www):
    """Last-Modified has whole seconds; a file modified at .7 s must still match its own
    Last-Modified in If-Modified-Since (304) and If-Unmodified-Since (not 412)."""
    os.utime(www.root / "letters.txt", ns=(MTIME * 10**9 + 700_000_000,) * 2)
    s = nuri(root=www.root)
    lm = s.get("/letters.txt").header("Last-Modified")
    assert lm == http_date(MTIME)
    r = s.get("/letters.txt", headers={"If-Modified-Since": lm})
    assert r.status == 304, str(r)
    r = s.get("/letters.txt", headers={"If-Unmodified-Since": lm})
    assert r.status == 200, str(r)
