"""--access-log: Apache combined format, escaping (no request can forge or break a line),
stdout with '-', off by default."""
import datetime
import re
import time

import pytest

from nuri_helpers import TIME_SCALE, curl, have_ipv6_loopback, req

Q = r'"((?:[^"\\]|\\.)*)"'
LOG_RE = re.compile(r"(\S+) (\S+) (\S+) \[([^\]]+)\] " + Q + r" (\d{3}) (\d+|-) " + Q + " " + Q)


def _lines(path):
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n"), f"log does not end with a newline: {data[-100:]!r}"
    return data.decode("latin-1").splitlines()


def _parse(line):
    m = LOG_RE.fullmatch(line)
    assert m, f"not a combined log line: {line!r}"
    host, ident, user, when, request, status, size, referer, agent = m.groups()
    return dict(host=host, ident=ident, user=user, time=when, request=request,
                status=int(status), bytes=size, referer=referer, agent=agent)


def _wait_lines(path, n, timeout=3.0):
    deadline = time.monotonic() + timeout * TIME_SCALE
    while True:
        lines = _lines(path)
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_combined_format_with_referer_and_agent(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    before = datetime.datetime.now(datetime.timezone.utc)
    r = curl(s.url("/a.txt"), "-e", "http://ref/", "-A", "test-agent/1.0")
    assert r.status == 200
    s.stop()
    lines = _lines(log)
    assert len(lines) == 1, lines
    e = _parse(lines[0])
    assert (e["host"], e["ident"], e["user"]) == ("127.0.0.1", "-", "-")
    assert e["request"] == "GET /a.txt HTTP/1.1"
    assert (e["status"], e["bytes"]) == (200, "5")
    assert (e["referer"], e["agent"]) == ("http://ref/", "test-agent/1.0")
    when = datetime.datetime.strptime(e["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs((when - before).total_seconds()) < 120, e["time"]


def test_missing_referer_and_agent_are_dashes(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    assert s.get("/b.txt").status == 200
    s.stop()
    e = _parse(_lines(log)[0])
    assert (e["referer"], e["agent"]) == ("-", "-")
    assert e["bytes"] == str(len(www.files["/b.txt"]))


def test_statuses_and_sizes_logged(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    etag = s.get("/a.txt").header("ETag")
    s.get("/missing")
    s.get("/a.txt", "HEAD")
    s.get("/a.txt?conditional", headers={"If-None-Match": etag})
    s.get("/letters.txt", headers={"Range": "bytes=0-9"})
    s.stop()
    # Requests on different connections may be logged by different workers: match by request.
    got = {e["request"]: (e["status"], e["bytes"]) for e in map(_parse, _lines(log))}
    assert got.pop("HEAD /a.txt HTTP/1.1") in ((200, "0"), (200, "-"))
    assert got.pop("GET /a.txt?conditional HTTP/1.1") in ((304, "0"), (304, "-"))
    status, size = got.pop("GET /missing HTTP/1.1")
    assert status == 404 and size.isdigit() and int(size) > 0  # the error page's bytes
    assert got == {"GET /a.txt HTTP/1.1": (200, "5"), "GET /letters.txt HTTP/1.1": (206, "10")}


def test_rejected_request_after_empty_lines_logs_its_request_line(nuri, www, tmp_path):
    """RFC 9112 §2.2 lets empty lines come before the request line. A request that is then
    refused (no Host: 400) is logged with its own request line, not the empty first line."""
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    c = s.connect()
    c.send(b"\r\n\r\nGET /no-host HTTP/1.1\r\n\r\n")
    data, _ = c.read_until_close(3)
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    s.stop()
    e = _parse(_lines(log)[0])
    assert (e["request"], e["status"]) == ("GET /no-host HTTP/1.1", 400), e


def test_quotes_and_control_chars_are_escaped(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    agent = b'evil"agent\tTAB \\back'
    r = s.request(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent
                  + b'\r\nReferer: http://x/"; rm -rf\r\n\r\n')
    assert r.status == 200
    s.request(b"GET /a.txt%0d%0aforged%22line HTTP/1.1\r\nHost: x\r\n\r\n")
    s.request(b"GET /x\x01\x1b[2J\x7f HTTP/1.1\r\nHost: x\r\n\r\n")  # 400; may be logged
    s.stop()
    raw = log.read_bytes()
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), f"raw control byte in log: {raw!r}"
    lines = _lines(log)
    assert len(lines) in (2, 3), lines  # one line per request, none split
    entries = [_parse(line) for line in lines]  # workers may log in any order
    e = next(x for x in entries if x["request"] == "GET /a.txt HTTP/1.1")
    assert e["agent"].startswith('evil\\"agent') and "TAB" in e["agent"], e["agent"]
    assert e["referer"].startswith('http://x/\\"'), e["referer"]
    forged = next(x for x in entries if "forged" in x["request"])
    assert forged["request"] == "GET /a.txt%0d%0aforged%22line HTTP/1.1", forged
    assert forged["status"] in (400, 404)
    for line in lines:
        _parse(line)


def test_pipelined_requests_each_logged_in_order(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    s.exchange(req("/a.txt") + req("/b.txt") + req("/missing"), ["GET"] * 3)
    s.stop()
    entries = [_parse(l) for l in _lines(log)]
    assert [e["request"] for e in entries] == ["GET /a.txt HTTP/1.1", "GET /b.txt HTTP/1.1",
                                               "GET /missing HTTP/1.1"]


def test_log_is_written_while_running(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root)
    s.get("/a.txt")
    lines = _wait_lines(log, 1)
    assert len(lines) == 1 and _parse(lines[0])["status"] == 200


def test_access_log_to_stdout(nuri, www):
    s = nuri("--access-log", "-", root=www.root)
    s.get("/a.txt", headers={"User-Agent": "stdout-agent"})
    assert s.wait_stdout(r'"GET /a\.txt HTTP/1\.1" 200 5 "-" "stdout-agent"'), s.stdout()
    line = next(l for l in s.stdout_lines if "stdout-agent" in l)
    _parse(line.rstrip("\n"))


def test_access_log_off_by_default(nuri, www, tmp_path):
    s = nuri(root=www.root)
    s.get("/a.txt")
    s.get("/missing")
    s.stop()
    assert "GET /a.txt" not in s.stdout() and "/missing" not in s.stdout()
    assert "GET /a.txt" not in s.stderr()


def test_existing_log_is_appended_to(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    old = b'10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /old HTTP/1.1" 200 1 "-" "-"\n'
    log.write_bytes(old)
    s = nuri("--access-log", str(log), root=www.root)
    s.get("/a.txt")
    s.stop()
    data = log.read_bytes()
    assert data.startswith(old), "the existing access log was truncated"
    lines = _lines(log)
    assert len(lines) == 2 and _parse(lines[1])["request"] == "GET /a.txt HTTP/1.1"


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no ::1 on this machine")
def test_ipv6_client_address_logged(nuri, www, tmp_path):
    log = tmp_path / "access.log"
    s = nuri("--access-log", str(log), root=www.root, listen=("[::1]:0",))
    assert s.get("/a.txt").status == 200
    s.stop()
    e = _parse(_lines(log)[0])
    assert e["host"] == "::1", e
