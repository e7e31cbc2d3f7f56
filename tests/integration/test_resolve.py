"""`nuri resolve` against a real DNS server started here: dnsmasq on 127.0.0.1 on a free port,
with records of every type; each answer is compared with dig's for the same question. Error
codes: NXDOMAIN, no data, REFUSED (dnsmasq), SERVFAIL and a malformed reply (a Python UDP
server), timeout (a UDP socket that never answers), unreachable (a closed port)."""
from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import time

import pytest

from fake_dns import FakeDns
from nuri_helpers import SLACK, TIME_SCALE, nuri_bin

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
DIG = shutil.which("dig")
pytestmark = pytest.mark.skipif(not DIG or not shutil.which(DNSMASQ), reason="needs dnsmasq and dig")

V6 = "2001:db8::7"
V6_REVERSE = "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
RECORDS = [
    "--host-record=h.nuri.test,192.0.2.7," + V6,
    "--address=/a.nuri.test/192.0.2.1",
    "--cname=www.nuri.test,alias.nuri.test",
    "--cname=alias.nuri.test,h.nuri.test",
    "--mx-host=nuri.test,mail.nuri.test,10",
    "--mx-host=nuri.test,backup.nuri.test,20",
    '--txt-record=t.nuri.test,"hello world","quote \\" and \\\\ backslash"',
    "--srv-host=_http._tcp.nuri.test,h.nuri.test,80,1,2",
    "--ptr-record=7.2.0.192.in-addr.arpa,h.nuri.test",
    f"--ptr-record={V6_REVERSE},h.nuri.test",
    "--local=/nuri.test/",  # unknown names under nuri.test are NXDOMAIN, not REFUSED
    "--local-ttl=300",
]
# dnsmasq answers NS and SOA only as an authoritative server, and then it neither follows
# chained CNAMEs nor serves --address: a second instance does that part.
AUTH_RECORDS = [
    "--host-record=ns.nuri.test,192.0.2.53",
    "--auth-zone=nuri.test",
    "--auth-server=ns.nuri.test,127.0.0.1",
    "--auth-soa=2024010101,hostmaster.nuri.test,1200,300,86400",
]


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def start_dnsmasq(records, probe, expect):
    p = None
    for _ in range(5):
        port = free_udp_tcp_port()
        p = subprocess.Popen([DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", f"--port={port}",
                              "--listen-address=127.0.0.1", "--bind-interfaces", "--log-facility=-",
                              "--pid-file=", *records], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 5
        while time.time() < deadline and p.poll() is None:
            r = subprocess.run([DIG, "@127.0.0.1", "-p", str(port), "+tries=1", "+time=1", "+short",
                                probe], capture_output=True, text=True)
            if r.stdout.strip() == expect:
                return p, port
            time.sleep(0.05)
        p.kill()
        p.wait()
    pytest.fail(f"dnsmasq did not start: {p.stderr.read()!r}")


@pytest.fixture(scope="module")
def servers():
    rec, rec_port = start_dnsmasq(RECORDS, "h.nuri.test", "192.0.2.7")
    auth, auth_port = start_dnsmasq(AUTH_RECORDS, "ns.nuri.test", "192.0.2.53")
    yield {"rec": rec_port, "auth": auth_port}
    for p in (rec, auth):
        p.terminate()
        p.wait(5)


@pytest.fixture
def dnsmasq(servers):
    return servers["rec"]


def resolve(*args, timeout=20.0):
    return subprocess.run([str(nuri_bin()), "resolve", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout * TIME_SCALE, stdin=subprocess.DEVNULL)


def dig_answers(port, *question):
    r = subprocess.run([DIG, "@127.0.0.1", "-p", str(port), "+noall", "+answer", *question],
                       capture_output=True, text=True, check=True)
    out = set()
    for line in r.stdout.splitlines():
        name, ttl, klass, rtype, data = line.split(None, 4)
        assert klass == "IN"
        out.add((name.lower(), int(ttl), rtype, data))
    return out


def nuri_answers(port, *question):
    r = resolve(*question, "--server", f"127.0.0.1:{port}", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["source"] == "dns" and j["server"] == f"127.0.0.1:{port}" and j["rcode"] == "NOERROR"
    return j, {(a["name"].lower(), a["ttl"], a["type"], a["data"]) for a in j["answers"]}


@pytest.mark.parametrize("server,name,rtype", [
    ("rec", "h.nuri.test", "A"), ("rec", "a.nuri.test", "A"), ("rec", "h.nuri.test", "AAAA"),
    ("rec", "www.nuri.test", "A"), ("rec", "www.nuri.test", "CNAME"), ("rec", "nuri.test", "MX"),
    ("rec", "t.nuri.test", "TXT"), ("auth", "nuri.test", "NS"), ("auth", "nuri.test", "SOA"), ("rec", "_http._tcp.nuri.test", "SRV"),
])
def test_answers_equal_digs(servers, server, name, rtype):
    port = servers[server]
    j, mine = nuri_answers(port, name, "--type", rtype)
    theirs = dig_answers(port, name, rtype)
    assert theirs, f"dig found no {rtype} for {name}: the fixture is wrong"
    assert mine == theirs
    assert j["question"] == {"name": name + ".", "type": rtype, "class": "IN"}
    assert j["ms"] > 0


@pytest.mark.parametrize("address,reverse", [("192.0.2.7", "7.2.0.192.in-addr.arpa"), (V6, V6_REVERSE)])
def test_reverse_lookup_equals_digs(dnsmasq, address, reverse):
    j, mine = nuri_answers(dnsmasq, address)
    assert j["question"]["name"] == reverse + "." and j["question"]["type"] == "PTR"
    assert mine == dig_answers(dnsmasq, "-x", address)
    assert {a["data"] for a in j["answers"]} == {"h.nuri.test."}


def test_text_output_shows_question_server_ttl_and_chain(dnsmasq):
    r = resolve("www.nuri.test", "--server", f"127.0.0.1:{dnsmasq}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "question:  www.nuri.test. IN A"
    assert lines[1].startswith(f"server:    127.0.0.1:{dnsmasq} answered in ") and lines[1].endswith(" ms")
    assert "answers:   3" in lines
    ttl = dig_answers(dnsmasq, "www.nuri.test", "A")
    for name, t, rtype, data in ttl:
        assert any(l.split() == [name, str(t), rtype, data] for l in lines), (name, lines)
    chain = [l for l in lines if l.startswith("chain:")]
    assert chain and "www.nuri.test. -> alias.nuri.test. -> h.nuri.test." in chain[0]


def test_nxdomain_nodata_refused(dnsmasq):
    server = f"127.0.0.1:{dnsmasq}"
    r = resolve("nope.nuri.test", "--server", server)
    assert r.returncode == 3 and "NXDOMAIN" in r.stderr and r.stderr.count("\n") == 1
    r = resolve("h.nuri.test", "--type", "MX", "--server", server)
    assert r.returncode == 1 and "no MX record" in r.stderr
    # Outside its zone, with no upstream, dnsmasq refuses.
    r = resolve("example.com", "--server", server)
    assert r.returncode == 5 and "REFUSED" in r.stderr


def test_servfail_and_malformed_reply():
    with FakeDns(rcode=2) as fake:
        r = resolve("x.test", "--server", f"127.0.0.1:{fake.port}")
        assert r.returncode == 4 and "SERVFAIL" in r.stderr and r.stderr.count("\n") == 1
    with FakeDns(garbage=True) as fake:
        r = resolve("x.test", "--server", f"127.0.0.1:{fake.port}", "--tries", "1")
        assert r.returncode == 8 and "malformed reply" in r.stderr, r.stderr


def test_timeout_and_unreachable():
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never reads: no reply
    mute.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        r = resolve("x.test", "--server", f"127.0.0.1:{mute.getsockname()[1]}", "--timeout", "0.3", "--tries", "1")
        elapsed = time.monotonic() - t0
    finally:
        mute.close()
    assert r.returncode == 6 and "timeout" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert elapsed < 0.3 + SLACK
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # the port answers ICMP port unreachable
    r = resolve("x.test", "--server", f"127.0.0.1:{port}", "--timeout", "0.3")
    assert r.returncode == 7 and "refused" in r.stderr, r.stderr


def test_hosts_file_answers_before_dns(dnsmasq):
    hosts = open("/etc/hosts").read()
    if "localhost" not in hosts:
        pytest.skip("/etc/hosts has no localhost")
    r = resolve("localhost")
    assert r.returncode == 0
    assert "/etc/hosts answered, not DNS" in r.stdout and "127.0.0.1" in r.stdout
    r = resolve("localhost", "--json")
    assert json.loads(r.stdout)["source"] == "/etc/hosts"
    # With --server, DNS only (like dig): dnsmasq knows no localhost outside its zone.
    r = resolve("localhost", "--server", f"127.0.0.1:{dnsmasq}")
    assert "/etc/hosts" not in r.stdout and r.returncode == 5


def test_usage_errors():
    for args in (["x.test", "--type", "BOGUS"], ["a..b", "--server", "127.0.0.1:9"],
                 ["x.test", "--server", "not-an-ip"], ["192.0.2.1", "--type", "MX"]):
        r = resolve(*args)
        assert r.returncode == 2 and r.stderr.startswith("nuri resolve: ") and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run([str(nuri_bin()), "resolve", "--help"], capture_output=True, text=True)
    for text in ["3 NXDOMAIN", "4 SERVFAIL", "5 REFUSED", "6 timeout", "7 unreachable"]:
        assert text in r.stdout, text


def reply_head(query, flags=0x8180, qd=1, an=0):
    """A reply's header for `query`: its ID, then `flags` (QR RD RA by default) and the counts."""
    return query[:2] + struct.pack(">HHHHH", flags, qd, an, 0, 0)


def a_answer(query):
    """The query's question, answered by one A record (192.0.2.1, TTL 300) whatever its type."""
    return (reply_head(query, an=1) + query[12:]
            + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton("192.0.2.1"))


def test_each_try_waits_the_timeout():
    # c-ares 1.18 doubles its timeout on each retry: 0.3, 0.6, 1.2 s. Each try waits --timeout.
    with FakeDns(reply=lambda query: None) as fake:
        t0 = time.monotonic()
        r = resolve("x.test", "--server", fake.address, "--timeout", "0.3", "--tries", "3")
        elapsed = time.monotonic() - t0
    assert r.returncode == 6 and "timeout: no reply" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert fake.queries == 3
    gaps = [b - a for a, b in zip(fake.times, fake.times[1:])]
    assert all(0.25 < g < 0.45 for g in gaps), gaps
    assert 0.9 <= elapsed < 0.9 + SLACK


def test_any_question_is_answered_by_records_of_any_type():
    with FakeDns(reply=a_answer) as fake:
        r = resolve("ok.test", "-t", "ANY", "--server", fake.address)
    assert r.returncode == 0, r.stderr
    assert "question:  ok.test. IN ANY" in r.stdout and "answers:   1" in r.stdout
    assert any(line.split() == ["ok.test.", "300", "A", "192.0.2.1"] for line in r.stdout.splitlines()), r.stdout


def test_bad_names_are_usage_errors_but_the_root_is_a_name():
    for name in ["..", ".a", "a..", "a..b", "a\\999.test", "a\\12x.test", "a\\"]:
        r = resolve(name, "--server", "127.0.0.1:9", "--timeout", "0.1", "--tries", "1")
        assert r.returncode == 2 and r.stderr.startswith(f"nuri resolve: '{name}': ") and r.stderr.count("\n") == 1, (name, r.stderr)
    with FakeDns(reply=a_answer) as fake:
        r = resolve(".", "--server", fake.address)  # as `dig .`: the root
    assert r.returncode == 0 and r.stdout.startswith("question:  . IN A\n"), r.stdout
    assert fake.received[0][12:] == b"\x00\x00\x01\x00\x01"


@pytest.mark.parametrize("typed,wire,shown", [
    ("a\x1bb.test", b"\x03a\x1bb\x04test\x00", "a\\027b.test."),   # a raw ESC byte, shown as dig shows it
    ("a\\.b.test", b"\x03a.b\x04test\x00", "a\\.b.test."),         # an escaped dot is in the label
    ("a\\\\b.test", b"\x03a\\b\x04test\x00", "a\\\\b.test."),  # an escaped backslash
    ("\\065bc.test", b"\x03Abc\x04test\x00", "Abc.test."),           # \DDD: the byte DDD
])
def test_question_shows_the_labels_sent(typed, wire, shown):
    with FakeDns(reply=a_answer) as fake:
        r = resolve(typed, "--server", fake.address)
    assert r.returncode == 0, r.stderr
    assert fake.received[0][12:-4] == wire
    lines = r.stdout.splitlines()
    assert lines[0] == f"question:  {shown} IN A"
    # The server's copy of the name (a pointer to the question) is escaped the same way.
    assert any(line.split() == [shown, "300", "A", "192.0.2.1"] for line in lines), lines


@pytest.mark.parametrize("reply,why", [
    (lambda q: q[:3], "shorter than a DNS header"),
    (lambda q: reply_head(q, qd=0, an=1), "0 questions in the reply, 1 asked"),
    (lambda q: reply_head(q, qd=0), "0 questions in the reply, 1 asked"),
    (lambda q: reply_head(q, qd=2) + q[12:] * 2, "2 questions in the reply, 1 asked"),
    (lambda q: reply_head(q) + b"\x05other\x04test\x00\x00\x01\x00\x01",
     "the reply's question (other.test. A) is not the one asked (x.test. A)"),
], ids=["3 bytes", "header only, an answer", "no question", "two questions", "another question"])
def test_replies_c_ares_drops_are_malformed_not_a_timeout(reply, why):
    with FakeDns(reply=reply) as fake:
        t0 = time.monotonic()
        r = resolve("x.test", "--server", fake.address, "--timeout", "5", "--tries", "1")
        elapsed = time.monotonic() - t0
    assert r.returncode == 8 and f"malformed reply: {why}" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert elapsed < 5


def test_tcp_reply_cut_short_is_malformed_not_refused():
    # Truncated over UDP, so asked again over TCP, where the server sends 1 byte and closes.
    with FakeDns(reply=lambda q: reply_head(q, flags=0x8380) + q[12:], tcp_reply=b"\x00") as fake:
        r = resolve("x.test", "--server", fake.address, "--timeout", "2", "--tries", "1")
    assert r.returncode == 8 and "the server closed the TCP connection" in r.stderr, r.stderr
    assert "refused" not in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("server", ["127.0.0.1:0", ""])
def test_bad_server_is_a_usage_error(server):
    r = resolve("x.test", "--server", server, "--timeout", "0.1", "--tries", "1")
    assert r.returncode == 2 and r.stderr.startswith(f"nuri resolve: bad --server '{server}': "), r.stderr
    assert r.stderr.count("\n") == 1
