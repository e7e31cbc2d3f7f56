"""The command line on a terminal and off it: progress (get's bar, capture's live count) only
when stderr is a real terminal (a pty), colour only on a terminal and as NO_COLOR, TERM and
--color say, --json that parses with the documented fields, and exit codes: every subcommand's
usage error is 2 with one line, and docs/exit-codes.md lists every subcommand `nuri --help` does
with the codes its --help states."""
import fcntl
import http.server
import json
import os
import re
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import urllib.request

import pytest

from nuri_helpers import REPO_ROOT, SANITIZER_MARKERS, TIME_SCALE, curl, nuri_bin
from fake_dns import FakeDns

ESC = b"\x1b["
MIB = 1 << 20


# ------------------------------------------------------------------------------------------------
# Running nuri with a real terminal on some of its streams


class TtyRun:
    def __init__(self, rc, tty, out, err):
        self.rc = rc
        self.tty = tty  # what nuri wrote to the terminal (the pty turns \n into \r\n)
        self.out = out  # stdout when it was a pipe, else b""
        self.err = err  # stderr when it was a pipe, else b""


def _env(**changes):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class TtyProcess:
    """nuri started with a pty on the streams named in `tty` ("stdout", "stderr") and pipes on
    the others; a thread collects what reaches the terminal."""

    def __init__(self, args, tty=("stdout", "stderr"), env=None):
        self.master, slave = os.openpty()
        # 24 rows, 120 columns: a width the progress bar can be measured against.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        self.proc = subprocess.Popen(
            [str(nuri_bin()), *map(str, args)], stdin=subprocess.DEVNULL,
            stdout=slave if "stdout" in tty else subprocess.PIPE,
            stderr=slave if "stderr" in tty else subprocess.PIPE,
            env=env if env is not None else _env())
        os.close(slave)
        self.buf = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            with self.lock:
                self.buf += data

    def terminal(self):
        with self.lock:
            return bytes(self.buf)

    def wait_for(self, needle, timeout=15):
        deadline = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < deadline:
            if needle in self.terminal():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{needle!r} never reached the terminal: {self.terminal()!r}")

    def finish(self, timeout=30):
        try:
            out, err = self.proc.communicate(timeout=timeout * TIME_SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        self.reader.join(5)
        os.close(self.master)
        run = TtyRun(self.proc.returncode, self.terminal(), out or b"", err or b"")
        for marker in SANITIZER_MARKERS:
            assert marker.encode() not in run.tty + run.err, run.tty + run.err
        return run


def run_tty(*args, tty=("stdout", "stderr"), env=None, timeout=30):
    return TtyProcess(args, tty=tty, env=env).finish(timeout)


# ------------------------------------------------------------------------------------------------
# HTTP servers on 127.0.0.1


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    files = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/small")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/slow":
            # 2 MiB in 20 pieces over about a second: long enough for the bar to be redrawn,
            # short enough to show that the redraws are limited to about ten a second.
            piece = b"s" * (2 * MIB // 20)
            self.send_response(200)
            self.send_header("Content-Length", str(len(piece) * 20))
            self.end_headers()
            for _ in range(20):
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(0.05)
            return
        if self.path == "/unsized":
            # No Content-Length: the body ends when the connection does.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"u" * (3 * MIB))
            self.close_connection = True
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def web():
    _Handler.files = {"/big": os.urandom(8 * MIB), "/small": b"hello\n"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.files
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------------------
# get -o: the progress bar


BAR_RE = re.compile(rb"\r *(\d+\.\d)% \[[# ]+\] ")


def test_get_progress_bar_on_a_terminal(web, tmp_path):
    base, files = web
    out = tmp_path / "big"
    r = run_tty("get", "-o", out, f"{base}/big")
    assert r.rc == 0, r.tty
    assert out.read_bytes() == files["/big"]
    assert b"100.0% [" in r.tty and b"8.00 MiB / 8.00 MiB" in r.tty, r.tty
    # The final state stays on screen, ended by a newline (the pty shows it as \r\n).
    assert re.search(rb"100\.0% \[#+\] 8\.00 MiB / 8\.00 MiB  [\d.]+ [KMGT]?i?B/s  \d+:\d\d\x1b\[K\r\n$", r.tty), r.tty
    # Never as wide as the 120-column terminal: a full line would wrap and break \r.
    for line in re.split(rb"[\r\n]+", r.tty.replace(b"\x1b[K", b"")):
        assert len(line) <= 119, line


def test_get_progress_is_redrawn_at_most_ten_times_a_second(web, tmp_path):
    base, _ = web
    start = time.monotonic()
    r = run_tty("get", "-o", tmp_path / "slow", f"{base}/slow")
    took = time.monotonic() - start
    assert r.rc == 0, r.tty
    draws = BAR_RE.findall(r.tty)
    assert len(draws) >= 3, r.tty  # it moved while the body came
    assert len(draws) <= took * 10 + 3, (len(draws), took, r.tty)
    percents = [float(p) for p in draws]
    assert percents == sorted(percents) and percents[-1] == 100.0, percents


def test_get_progress_without_a_size_shows_bytes_and_speed(web, tmp_path):
    base, _ = web
    r = run_tty("get", "-o", tmp_path / "u", f"{base}/unsized")
    assert r.rc == 0, r.tty
    assert re.search(rb"3\.00 MiB  [\d.]+ [KMGT]?i?B/s  \d+:\d\d\x1b\[K\r\n$", r.tty), r.tty
    assert b"%" not in r.tty, r.tty


def test_get_no_progress_when_stderr_is_not_a_terminal(web, tmp_path):
    base, files = web
    out = tmp_path / "big"
    r = run_tty("get", "-o", out, f"{base}/big", tty=("stdout",))
    assert r.rc == 0, r.err
    assert r.err == b"" and r.tty == b"", (r.err[:200], r.tty[:200])
    assert out.read_bytes() == files["/big"]


@pytest.mark.parametrize("option", ["-s", "--silent", "--trace"])
def test_get_no_progress_with_silent_or_trace(web, tmp_path, option):
    base, _ = web
    r = run_tty("get", option, "-o", tmp_path / "big", f"{base}/big")
    assert r.rc == 0, r.tty
    assert b"%" not in r.tty and b"MiB" not in r.tty, r.tty[-400:]


def test_get_no_progress_for_a_body_on_stdout(web):
    base, _ = web
    r = run_tty("get", f"{base}/small", tty=("stderr",))
    assert r.rc == 0 and r.out == b"hello\n"
    assert r.tty == b"", r.tty


def test_get_failure_erases_the_bar_and_prints_one_line(tmp_path):
    r = run_tty("get", "-o", tmp_path / "x", "http://127.0.0.1:1/")
    assert r.rc == 7, r.tty
    assert r.tty.startswith(b"nuri get: http://127.0.0.1:1/: could not connect"), r.tty


# ------------------------------------------------------------------------------------------------
# capture: the live count (root, loopback)


def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("live capture needs root")


LIVE_RE = re.compile(rb"\rnuri capture: (\d+) packets, (\d+) connections \((\d+) open\), [\d.]+ s\x1b\[K")


def test_capture_live_count_on_a_terminal(nuri, www):
    _needs_root()
    s = nuri(root=www.root)
    port = s.addrs[0][1]
    p = TtyProcess(["capture", "--port", port, "--connections", "1", "--duration", 15 * TIME_SCALE],
                   tty=("stderr",))
    p.wait_for(b"capturing on lo")
    p.wait_for(b"0 packets, 0 connections")  # drawn while nothing has come yet
    assert curl(s.url("/a.txt")).status == 200
    r = p.finish()
    assert r.rc == 0, r.tty
    counts = [(int(a), int(b)) for a, b, _ in LIVE_RE.findall(r.tty)]
    assert counts and max(counts) >= (1, 1), r.tty
    # Erased before the closing summary, which starts on a clean line.
    assert re.search(rb"\r\x1b\[Knuri capture: \d+ packets, \d+ TCP segments, 1 connections\r\n$", r.tty), r.tty
    # The report on stdout (a pipe) has neither the count nor colour.
    assert b"connection 1:" in r.out and ESC not in r.out and b"\r" not in r.out, r.out


def test_capture_no_live_count_through_a_pipe(nuri, www):
    _needs_root()
    s = nuri(root=www.root)
    port = s.addrs[0][1]
    p = subprocess.Popen([str(nuri_bin()), "capture", "--port", str(port), "--connections", "1",
                          "--duration", str(15 * TIME_SCALE)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert p.stderr.readline().startswith(b"nuri capture: capturing on lo")
    time.sleep(0.3)  # long enough for several redraws, were there any
    assert curl(s.url("/a.txt")).status == 200
    out, err = p.communicate(timeout=20 * TIME_SCALE)
    assert p.returncode == 0, err
    assert b"\r" not in err and ESC not in err and ESC not in out, err
    assert err.splitlines()[-1].startswith(b"nuri capture: ") and b"TCP segments" in err


def test_capture_colours_flags_on_a_terminal(nuri, www):
    _needs_root()
    s = nuri(root=www.root)
    port = s.addrs[0][1]
    p = TtyProcess(["capture", "--port", port, "--connections", "1", "--duration", 15 * TIME_SCALE])
    p.wait_for(b"capturing on lo")
    assert curl(s.url("/a.txt")).status == 200
    r = p.finish()
    assert r.rc == 0, r.tty
    assert b"\x1b[32mSYN\x1b[0m" in r.tty and b"\x1b[33mFIN\x1b[0m" in r.tty, r.tty
    # Coloured flags keep the columns: the SYN's seq (0) ends where the header's "seq" does.
    lines = r.tty.decode().splitlines()
    header = next(l for l in lines if "flags" in l and "seq" in l)
    syn = re.sub(r"\x1b\[[0-9;]*m", "", next(l for l in lines if "handshake 1/3" in l))
    end = header.index("seq") + 3
    assert syn[end - 1] == "0" and syn[end] == " " and syn[end - 2] == " ", (header, syn)


# ------------------------------------------------------------------------------------------------
# Colour: only on a terminal, NO_COLOR, TERM=dumb, --color


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


LISTEN_PAINTED = b"\x1b[32mLISTEN\x1b[0m"


@pytest.mark.parametrize("env_changes, args, tty, coloured", [
    ({}, [], ("stdout", "stderr"), True),
    ({"NO_COLOR": "1"}, [], ("stdout", "stderr"), False),
    ({"NO_COLOR": "0"}, [], ("stdout", "stderr"), False),   # any non-empty value (no-color.org)
    ({"NO_COLOR": ""}, [], ("stdout", "stderr"), True),     # empty: as if unset
    ({"TERM": "dumb"}, [], ("stdout", "stderr"), False),
    ({}, [], ("stderr",), False),                             # stdout piped
    ({}, ["--color=always"], ("stderr",), True),
    ({"NO_COLOR": "1"}, ["--color=always"], ("stderr",), True),
    ({}, ["--color=never"], ("stdout", "stderr"), False),
], ids=["tty", "NO_COLOR=1", "NO_COLOR=0", "NO_COLOR-empty", "TERM=dumb", "piped", "always-piped",
        "always-beats-NO_COLOR", "never-on-tty"])
def test_conns_colour_rules(listener, env_changes, args, tty, coloured):
    r = run_tty("conns", "-l", "-t", "--port", listener, *args, tty=tty, env=_env(**env_changes))
    assert r.rc == 0, r.tty + r.err
    text = r.tty + r.out
    assert f"127.0.0.1:{listener}".encode() in text, text
    assert (LISTEN_PAINTED in text) == coloured, text
    if not coloured:
        assert ESC not in text, text


def test_color_option_before_the_subcommand(listener):
    r = run_tty("--color=always", "conns", "-l", "-t", "--port", listener, tty=("stderr",))
    assert r.rc == 0 and LISTEN_PAINTED in r.out, r.out


def test_conns_json_is_never_coloured(listener):
    r = run_tty("conns", "--json", "-l", "--port", listener, "--color=always")
    assert r.rc == 0
    assert ESC not in r.tty
    rows = json.loads(r.tty.replace(b"\r\n", b"\n"))
    assert rows[0]["state"] == "LISTEN"


def test_get_trace_colours_on_a_terminal_only(web):
    base, _ = web
    r = run_tty("get", "--trace", f"{base}/small", tty=("stderr",))
    assert r.rc == 0 and r.out == b"hello\n"
    assert b"\x1b[36m> GET /small HTTP/1.1\x1b[0m" in r.tty, r.tty
    assert b"< HTTP/1.1 \x1b[32m200 OK\x1b[0m" in r.tty, r.tty
    assert b"\x1b[2m* [" in r.tty, r.tty
    piped = subprocess.run([str(nuri_bin()), "get", "--trace", f"{base}/small"], capture_output=True, env=_env())
    assert piped.returncode == 0 and ESC not in piped.stderr and b"< HTTP/1.1 200 OK" in piped.stderr


def test_get_trace_colours_a_404_as_a_warning(web):
    base, _ = web
    r = run_tty("get", "--trace", f"{base}/missing", tty=("stderr",))
    assert b"\x1b[33m404 " in r.tty, r.tty


def test_check_config_errors_in_red_on_a_terminal(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("workers = 2\nwrokers = 3\n")
    r = run_tty("check-config", f, tty=("stderr",))
    assert r.rc == 2
    assert f"\x1b[1m{f}:2:1:\x1b[0m \x1b[31munknown key".encode() in r.tty, r.tty
    piped = subprocess.run([str(nuri_bin()), "check-config", str(f)], capture_output=True, env=_env())
    assert piped.returncode == 2 and piped.stderr.startswith(f"{f}:2:1: unknown key".encode())
    assert ESC not in piped.stderr


def test_resolve_status_coloured_on_a_terminal():
    fake = FakeDns(rcode=3)  # NXDOMAIN
    try:
        r = run_tty("resolve", "x.test", "--server", f"127.0.0.1:{fake.port}", tty=("stdout",))
        assert r.rc == 3, r.tty + r.err
        assert b"status:    \x1b[31mNXDOMAIN\x1b[0m" in r.tty, r.tty
        assert ESC not in r.err and r.err.count(b"\n") == 1, r.err
        piped = subprocess.run([str(nuri_bin()), "resolve", "x.test", "--server", f"127.0.0.1:{fake.port}"],
                               capture_output=True, env=_env())
        assert piped.returncode == 3 and b"status:    NXDOMAIN" in piped.stdout and ESC not in piped.stdout
    finally:
        fake.close()


def test_resolve_json_without_a_reply_still_prints_an_object():
    p = subprocess.run([str(nuri_bin()), "resolve", "x.test", "--json", "--server", "127.0.0.1:1",
                        "--timeout", "0.2"], capture_output=True, timeout=20 * TIME_SCALE)
    assert p.returncode == 7, p.stderr
    doc = json.loads(p.stdout)
    assert doc["rcode"] is None and doc["answers"] == [] and "refused" in doc["error"], doc


# ------------------------------------------------------------------------------------------------
# --json


def test_get_json_describes_the_transfer_and_keeps_the_body_out_of_stdout(web, tmp_path):
    base, files = web
    out = tmp_path / "small"
    p = subprocess.run([str(nuri_bin()), "get", "--json", "-L", "-o", str(out), f"{base}/redirect"],
                       capture_output=True, timeout=20 * TIME_SCALE)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["exit_code"] == 0
    (t,) = doc["transfers"]
    assert t["url"] == f"{base}/redirect" and t["effective_url"] == f"{base}/small"
    assert t["method"] == "GET" and t["status"] == 200 and t["reason"] == "OK" and t["http_version"] == "1.1"
    assert ["Content-Length", "6"] in t["headers"]
    assert t["body_bytes"] == 6 and t["output"] == str(out) and out.read_bytes() == b"hello\n"
    assert set(t["timings_ms"]) == {"name_lookup", "connect", "first_byte", "total"}
    assert 0 <= t["timings_ms"]["first_byte"] <= t["timings_ms"]["total"] <= t["total_ms"]
    (hop,) = t["redirects"]
    assert hop["status"] == 302 and hop["location"] == "/small" and hop["url"] == f"{base}/redirect"
    assert t["connection"]["reused"] is True and t["connection"]["number"] == 1
    assert t["exit_code"] == 0 and t["error"] is None
    assert b"hello" not in p.stdout


def test_get_json_without_output_drops_the_body(web):
    base, _ = web
    p = subprocess.run([str(nuri_bin()), "get", "--json", f"{base}/small", f"{base}/missing"],
                       capture_output=True, timeout=20 * TIME_SCALE)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # the whole of stdout is the JSON
    assert [t["status"] for t in doc["transfers"]] == [200, 404]
    assert [t["output"] for t in doc["transfers"]] == [None, None]


def test_get_json_on_failure_still_prints_and_keeps_the_exit_code():
    p = subprocess.run([str(nuri_bin()), "get", "--json", "http://127.0.0.1:1/"], capture_output=True,
                       timeout=20 * TIME_SCALE)
    assert p.returncode == 7
    doc = json.loads(p.stdout)
    assert doc["exit_code"] == 7
    (t,) = doc["transfers"]
    assert t["exit_code"] == 7 and "could not connect" in t["error"] and "status" not in t
    assert len(p.stderr.decode().splitlines()) == 1


def test_get_json_refuses_output_to_stdout():
    p = subprocess.run([str(nuri_bin()), "get", "--json", "-o", "-", "http://127.0.0.1:1/"], capture_output=True)
    assert p.returncode == 2 and p.stdout == b""
    assert len(p.stderr.decode().splitlines()) == 1 and "--json" in p.stderr.decode()


def test_check_config_json_summary():
    p = subprocess.run([str(nuri_bin()), "check-config", "--json", str(REPO_ROOT / "examples" / "nuri.toml")],
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["valid"] is True and doc["errors"] == []
    assert doc["listeners"] and {"address", "url", "loopback_only", "default_host", "access",
                                 "proxy_protocol"} <= set(doc["listeners"][0])
    assert doc["hosts"] and doc["hosts"][0]["locations"][0]["prefix"].startswith("/")


def test_check_config_json_errors_exit_2(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('workers = 2\nwrokers = 3\n[limits]\nidle_timeout = "60s"\n')
    p = subprocess.run([str(nuri_bin()), "check-config", "--json", str(f)], capture_output=True)
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["valid"] is False
    assert [(e["file"], e["line"], e["column"]) for e in doc["errors"]] == [(str(f), 2, 1), (str(f), 4, 16)]
    assert doc["errors"][0]["message"].startswith('unknown key "wrokers"')
    missing = subprocess.run([str(nuri_bin()), "check-config", "--json", str(tmp_path / "none.toml")],
                             capture_output=True)
    assert missing.returncode == 2
    (e,) = json.loads(missing.stdout)["errors"]
    assert e["line"] is None and e["message"].startswith("cannot read the configuration")


def test_version_json():
    p = subprocess.run([str(nuri_bin()), "version", "--json"], capture_output=True)
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["version"]) and doc["cplusplus"] == 20
    assert {"c-ares", "libpcap", "glibc"} <= set(doc["libraries"])
    text = subprocess.run([str(nuri_bin()), "version"], capture_output=True).stdout
    assert text == subprocess.run([str(nuri_bin()), "--version"], capture_output=True).stdout


def test_forward_json_log_lines(web):
    base, _ = web
    target = base.removeprefix("http://")
    p = subprocess.Popen([str(nuri_bin()), "forward", "127.0.0.1:0", target, "--json", "--workers", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        banner = p.stderr.readline().decode()  # on stderr with --json: stdout is JSON only
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", banner)
        assert m, banner
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{m[1]}/small", timeout=10) as r:
                assert r.status == 200 and r.read() == b"hello\n"
        time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20 * TIME_SCALE)
    assert p.returncode == 0, err
    lines = [json.loads(l) for l in out.decode().splitlines()]
    assert len(lines) == 2, out
    for line in lines:
        assert list(line) == ["time", "client", "listen", "target", "up", "down", "ms", "end"]
        assert line["listen"] == f"127.0.0.1:{m[1]}" and line["target"] == target and line["end"] == "fin"
        assert line["up"] > 0 and line["down"] > 6 and isinstance(line["ms"], int)


# ------------------------------------------------------------------------------------------------
# Exit codes


def _subcommands():
    text = subprocess.run([str(nuri_bin()), "--help"], capture_output=True, text=True).stdout
    section = text.split("Subcommands:", 1)[1]
    return re.findall(r"^  ([a-z][a-z-]*)\s", section, re.M)


# A usage error the subcommand itself detects (not the option parser), per subcommand.
OWN_USAGE_ERRORS = {
    "serve": ["--listen", "nonsense"],
    "check-config": [],
    "forward": ["127.0.0.1:0"],
    "resolve": ["example.com", "--type", "BOGUS"],
    "get": ["-X", "BAD METHOD", "http://127.0.0.1:1/"],
    "conns": ["--state", "bogus"],
    "capture": ["-r", "x.pcap", "-i", "lo"],
    "version": ["extra"],
    "doctor": ["nonsense"],
    "explain": ["GET", "not a url"],
}


def _assert_usage_error(args):
    p = subprocess.run([str(nuri_bin()), *args], capture_output=True, text=True, timeout=10 * TIME_SCALE,
                       stdin=subprocess.DEVNULL)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    assert len(lines) == 1, (args, p.stderr)
    assert lines[0].startswith("nuri"), (args, p.stderr)
    assert p.stdout == "", (args, p.stdout)
    return lines[0]


def test_every_subcommand_is_known_here():
    assert set(_subcommands()) <= set(OWN_USAGE_ERRORS), _subcommands()


@pytest.mark.parametrize("subcommand", sorted(OWN_USAGE_ERRORS))
def test_usage_error_exits_2_with_one_line(subcommand):
    if subcommand not in _subcommands():
        pytest.skip(f"no {subcommand} in this build")
    line = _assert_usage_error([subcommand, *OWN_USAGE_ERRORS[subcommand]])
    assert line.startswith(f"nuri {subcommand}: "), line
    # An option nobody has: the option parser's error, which names the subcommand's --help.
    line = _assert_usage_error([subcommand, "--no-such-option"])
    assert line.startswith(f"nuri {subcommand}: ") and f"(see 'nuri {subcommand} --help')" in line, line


@pytest.mark.parametrize("args", [["conns"], ["conns", "--json"], ["version"], ["version", "--json"],
                                  ["check-config", "--json", "CONFIG"],
                                  ["explain", "GET", "http://127.0.0.1:8080/"]])
def test_output_that_cannot_be_written_is_exit_23_with_one_line(args, tmp_path):
    """stdout on a full disk: the job was not done. These exited 0 with nothing said."""
    config = tmp_path / "nuri.toml"
    config.write_text("workers = 1\n")
    args = [str(config) if a == "CONFIG" else a for a in args]
    with open("/dev/full", "w") as full:
        p = subprocess.run([str(nuri_bin()), *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=20)
    assert p.returncode == 23, (args, p.returncode, p.stderr)
    # The reason is known when the last flush failed, not when an earlier one did.
    assert re.fullmatch(rf"nuri {args[0]}: could not write the output(: No space left on device)?\n", p.stderr), \
        p.stderr


def test_missing_subcommand_exits_2():
    assert "--help" in _assert_usage_error([])


def _doc_sections():
    text = (REPO_ROOT / "docs" / "exit-codes.md").read_text()
    sections = {}
    for m in re.finditer(r"^## `nuri ([a-z-]+)`\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        sections[m[1]] = {int(c) for c in re.findall(r"^\| (\d+) \|", m[2], re.M)}
    return sections


def _codes_in_help(subcommand):
    text = subprocess.run([str(nuri_bin()), subcommand, "--help"], capture_output=True, text=True).stdout
    # The footer's sentence, not an option's help ("-f,--fail  Exit 22 ...").
    m = re.search(r"(?:^|\. )Exit", text, re.M)
    if not m:
        return set()
    tail = text[m.start():]
    return {int(c) for c in re.findall(r"(?:Exit status |(?:^|[;:,])\s*)(\d+)\b(?= |:)", tail, re.M)}


@pytest.mark.parametrize("subcommand", _subcommands() if nuri_bin().exists() else [])
def test_exit_code_doc_lists_every_subcommand(subcommand):
    sections = _doc_sections()
    assert subcommand in sections, f"docs/exit-codes.md has no section for nuri {subcommand}"
    assert 2 in sections[subcommand] and 0 in sections[subcommand], sections[subcommand]
    # What --help says and what the table says are the same codes.
    in_help = _codes_in_help(subcommand)
    if in_help:
        assert in_help == sections[subcommand], (subcommand, in_help, sections[subcommand])


def test_exit_code_doc_keeps_room_for_doctor_and_explain():
    sections = _doc_sections()
    assert sections.get("doctor") == {0, 1, 2} and sections.get("explain") == {0, 2}, sections


def test_man_page_exit_status_names_every_subcommand():
    page = (REPO_ROOT / "dist" / "man" / "nuri.1").read_text()
    status = page.split(".SH EXIT STATUS", 1)[1].split("\n.SH ", 1)[0]
    for subcommand in _subcommands():
        assert subcommand.replace("-", r"\-") in status, f"nuri.1 EXIT STATUS does not name {subcommand}"


def test_doctor_colours_severities_on_a_terminal_only():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    holder.close()  # nothing listens there now: refused, a problem
    r = run_tty("doctor", f"127.0.0.1:{port}", "--no-http", tty=("stdout",))
    assert r.rc == 1, r.tty + r.err
    assert b"\x1b[31mproblem \x1b[0m local" in r.tty, r.tty
    piped = subprocess.run([str(nuri_bin()), "doctor", f"127.0.0.1:{port}", "--no-http"],
                           capture_output=True, env=_env())
    assert piped.returncode == 1 and b"problem  local" in piped.stdout and ESC not in piped.stdout
    no_color = run_tty("doctor", f"127.0.0.1:{port}", "--no-http", tty=("stdout",), env=_env(NO_COLOR="1"))
    assert ESC not in no_color.tty and b"problem  local" in no_color.tty, no_color.tty
