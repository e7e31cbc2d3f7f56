"""`nuri capture`: live on lo while curl fetches from `nuri serve`: the handshake, the request,
the response and the teardown of the connection are found, and the pcap written with -w reads
in tshark with the same packets, flags and HTTP request line. Errors: no permission, no such
interface, a file that is not a capture."""
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from nuri_helpers import TIME_SCALE, curl, nuri_bin

FLAG_BITS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20, "ECE": 0x40, "CWR": 0x80}


def flag_bits(text):
    return 0 if text == "none" else sum(FLAG_BITS[f] for f in text.split(","))


def start_capture(*args, banner="capturing on lo, link type EN10MB"):
    # surrogateescape: a raw byte >= 0x80 stays distinguishable from its escaped form.
    p = subprocess.Popen([str(nuri_bin()), "capture", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="surrogateescape")
    line = p.stderr.readline()  # printed once the capture is active
    assert line.startswith("nuri capture: " + banner), line + p.stderr.read()
    return p


def finish(p):
    """Waits for a capture to stop by itself (a limit); kills it if it does not."""
    try:
        return p.communicate(timeout=20 * TIME_SCALE)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise


def run_capture(*args):
    return subprocess.run([str(nuri_bin()), "capture", *args], capture_output=True, text=True,
                          timeout=20 * TIME_SCALE)


@pytest.fixture
def fetched(nuri, www, tmp_path):
    """One curl fetch of /a.txt from nuri serve, captured live on lo into a pcap and as JSON."""
    s = nuri(root=www.root)
    port = s.addrs[0][1]
    pcap = tmp_path / "fetch.pcap"
    p = start_capture("--port", str(port), "-w", str(pcap), "--connections", "1", "--json",
                      "--duration", str(15 * TIME_SCALE))
    r = curl(s.url("/a.txt"))
    assert r.rc == 0 and r.status == 200, r.stderr
    out, err = finish(p)
    assert p.returncode == 0, err
    return port, pcap, json.loads(out), r.body


def test_live_capture_shows_handshake_request_response_teardown(fetched):
    port, pcap, doc, body = fetched
    assert doc["connections_seen"] == 1
    (c,) = doc["connections"]
    assert c["server"] == {"address": "127.0.0.1", "port": port}
    assert c["client"]["address"] == "127.0.0.1" and c["client"]["port"] != port
    assert not c["mid_stream"]
    segs = c["segments"]
    # The 3-way handshake, with the RTT and each side's state after each step.
    assert [(s["from"], s["flags"]) for s in segs[:3]] == [("client", "SYN"), ("server", "SYN,ACK"), ("client", "ACK")]
    assert (segs[0]["client_state"], segs[0]["server_state"]) == ("SYN_SENT", "SYN_RECEIVED")
    assert (segs[1]["client_state"], segs[1]["server_state"]) == ("ESTABLISHED", "SYN_RECEIVED")
    assert (segs[2]["client_state"], segs[2]["server_state"]) == ("ESTABLISHED", "ESTABLISHED")
    assert segs[0]["mss"] > 0 and segs[0]["seq"] == 0 and segs[1]["ack"] == 1
    assert c["handshake"] == {"syn": True, "syn_ack": True, "ack": True, "rtt_ms": c["handshake"]["rtt_ms"]}
    assert 0 <= c["handshake"]["rtt_ms"] < 1000
    # The request and the response, decoded by nuri's parsers.
    (req, resp) = c["http"]
    assert req["from"] == "client" and req["start_line"] == "GET /a.txt HTTP/1.1"
    assert ["Host", f"127.0.0.1:{port}"] in req["headers"]
    assert resp["from"] == "server" and resp["start_line"] == "HTTP/1.1 200 OK"
    assert ["Content-Length", str(len(body))] in resp["headers"]
    # The teardown: curl closes first (active close, TIME_WAIT), the server last (CLOSED).
    fins = [s for s in segs if "FIN" in s["flags"]]
    assert [s["from"] for s in fins] == ["client", "server"]
    assert fins[0]["client_state"] == "FIN_WAIT_1" and fins[0]["server_state"] == "CLOSE_WAIT"
    assert segs[-1]["from"] == "client" and segs[-1]["flags"] == "ACK"
    assert (segs[-1]["client_state"], segs[-1]["server_state"]) == ("TIME_WAIT", "CLOSED")
    summary = c["summary"]
    assert summary["ended"] == "fin"
    assert summary["client_to_server"]["retransmissions"] == summary["server_to_client"]["retransmissions"] == 0
    assert summary["client_to_server"]["bytes"] == sum(s["len"] for s in segs if s["from"] == "client")
    assert summary["server_to_client"]["bytes"] >= len(body) + len("HTTP/1.1 200 OK\r\n\r\n")
    assert summary["client_to_server"]["packets"] + summary["server_to_client"]["packets"] == len(segs) == doc["packets"]
    assert c["duration_ms"] >= 0


def test_pcap_reads_the_same_in_tshark(fetched):
    port, pcap, doc, _ = fetched
    (c,) = doc["connections"]
    r = subprocess.run(["tshark", "-r", str(pcap), "-d", f"tcp.port=={port},http", "-T", "fields",
                        "-e", "tcp.flags", "-e", "tcp.srcport", "-e", "tcp.len",
                        "-e", "http.request.method", "-e", "http.request.uri", "-e", "http.request.version"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) == doc["packets"] == len(c["segments"])
    for row, seg in zip(rows, c["segments"]):
        assert int(row[0], 16) == flag_bits(seg["flags"]), (row, seg)
        assert int(row[1]) == (c["client"]["port"] if seg["from"] == "client" else port)
        assert int(row[2]) == seg["len"]
    requests = [" ".join(row[3:6]) for row in rows if row[3]]
    assert requests == [c["http"][0]["start_line"]] == ["GET /a.txt HTTP/1.1"]
    # nuri reads its own file back to the same story.
    again = run_capture("-r", str(pcap), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["connections"] == doc["connections"]
    text = run_capture("-r", str(pcap))
    assert text.returncode == 0
    lines = [l for l in text.stdout.splitlines() if l]
    assert lines[0] == f"connection 1: 127.0.0.1:{c['client']['port']} (client) -> 127.0.0.1:{port} (server)"
    assert "handshake 1/3" in lines[2] and "[client CLOSED -> SYN_SENT, server LISTEN -> SYN_RECEIVED]" in lines[2]
    assert any(l.strip() == "GET /a.txt HTTP/1.1" for l in lines)
    assert any(l.strip() == "HTTP/1.1 200 OK" for l in lines)
    assert "closed with FIN both ways; client TIME_WAIT, server CLOSED" in lines[-1]
    assert any(l.strip() == f"Host: 127.0.0.1:{port}" for l in lines)
    short = run_capture("-r", str(pcap), "--no-headers").stdout
    assert "GET /a.txt HTTP/1.1" in short and "Host:" not in short


def test_count_limit_and_port_filter(nuri, www):
    s = nuri(root=www.root)
    port = s.addrs[0][1]
    other = nuri(root=www.root)
    # The "any" device: Linux cooked headers (SLL) instead of Ethernet's.
    p = start_capture("-i", "any", "--port", str(port), "-c", "3", "--json", "--duration", str(15 * TIME_SCALE),
                      banner="capturing on any, link type LINUX_SLL")
    assert curl(other.url("/a.txt")).status == 200  # another port: filtered out
    assert curl(s.url("/a.txt")).status == 200
    out, err = finish(p)
    assert p.returncode == 0, err
    doc = json.loads(out)
    assert doc["packets"] == 3
    (c,) = doc["connections"]
    assert c["server"]["port"] == port
    assert [x["flags"] for x in c["segments"]] == ["SYN", "SYN,ACK", "ACK"]
    assert c["summary"]["ended"] == "open"


def test_refused_connection_is_a_reset():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # bound, never listening: a SYN to it is answered with RST
    p = start_capture("--port", str(port), "--connections", "1", "--json", "--duration", str(15 * TIME_SCALE))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    out, err = finish(p)
    s.close()
    assert p.returncode == 0, err
    (c,) = json.loads(out)["connections"]
    assert [x["flags"] for x in c["segments"]] == ["SYN", "RST,ACK"]
    assert "reset by the server" in c["segments"][1]["note"]
    assert c["summary"]["ended"] == "rst"
    assert (c["summary"]["client_state"], c["summary"]["server_state"]) == ("CLOSED", "CLOSED")


def test_head_bytes_from_the_wire_are_escaped():
    """obs-text (bytes >= 0x80) passes the parsers; a raw C1 CSI (0x9b), the same in UTF-8 and
    0xff must not reach the terminal in a request's or a response's head."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    p = start_capture("--port", str(port), "--connections", "1", "--duration", str(15 * TIME_SCALE))
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /highbit HTTP/1.1\r\nHost: x\r\nX-Evil: a\x9b2J\xc2\x9b31m\xff\r\n\r\n")
    a, _ = srv.accept()
    a.recv(65536)
    a.sendall(b"HTTP/1.1 200 O\x9bK\r\nX-Evil: \xc2\x9b31m\xff\r\nContent-Length: 0\r\n\r\n")
    a.close()
    assert c.recv(65536).startswith(b"HTTP/1.1 200")
    c.close()
    out, err = finish(p)
    srv.close()
    assert p.returncode == 0, err
    assert all(ch == "\n" or " " <= ch <= "~" for ch in out), out
    assert "X-Evil: a\\x9b2J\\xc2\\x9b31m\\xff\n" in out, out
    assert "HTTP/1.1 200 O\\x9bK\n" in out and "X-Evil: \\xc2\\x9b31m\\xff\n" in out, out


def test_sigint_stops_a_live_capture(tmp_path):
    p = start_capture("--port", "9")
    time.sleep(0.2)
    p.send_signal(2)
    try:
        out, err = p.communicate(timeout=10 * TIME_SCALE)
    except subprocess.TimeoutExpired:
        p.kill()  # leave no capture running when the test fails
        raise
    assert p.returncode == 0 and out == "", err
    assert "0 packets" in err


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody")
def test_without_cap_net_raw_says_so_and_exits_4():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                        str(nuri_bin()), "capture", "-c", "1"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 4, r.stderr
    assert r.stderr.startswith("nuri capture: capturing on lo needs root or CAP_NET_RAW"), r.stderr
    assert r.stderr.count("\n") == 1


def test_bad_sources(tmp_path):
    r = run_capture("-i", "no-such-if0", "-c", "1")
    assert r.returncode == 3 and r.stderr == "nuri capture: no interface named 'no-such-if0' (see: ip link)\n", r.stderr
    missing = tmp_path / "missing.pcap"
    r = run_capture("-r", str(missing))
    assert r.returncode == 3 and r.stderr == f"nuri capture: {missing}: No such file or directory\n", r.stderr
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"GET / HTTP/1.1\r\n\r\n" * 10)
    r = run_capture("-r", str(junk))
    assert r.returncode == 3 and r.stderr == f"nuri capture: {junk}: unknown file format\n", r.stderr
    cut = tmp_path / "cut.pcap"  # a capture whose last packet was cut off (tcpdump killed)
    cut.write_bytes(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) +
                    struct.pack("<IIII", 0, 0, 74, 74) + b"\0" * 10)
    r = run_capture("-r", str(cut))
    assert r.returncode == 3 and "nuri capture: truncated dump file" in r.stderr, r.stderr
    r = run_capture("-w", "/proc/nuri-test.pcap", "-c", "1")
    assert r.returncode == 5 and r.stderr.startswith("nuri capture: -w /proc/nuri-test.pcap: "), r.stderr
    r = run_capture("-r", str(junk), "-i", "lo")
    assert r.returncode == 2, r.stderr
