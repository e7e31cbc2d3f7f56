"""Faults around `nuri serve` (the reliability issue): clients that reset in the middle of a large
sendfile, a file truncated or replaced while it is being sent, an access log whose disk is full.
Every test ends with the `nuri` fixture's checks: descriptors back to their count at start, no
child process, exit 0 on SIGTERM, no sanitizer report."""
from __future__ import annotations

import hashlib
import os
import random
import re
import socket
import subprocess
import threading
import time

import pytest

from forward_helpers import rst_close
from nuri_helpers import SLACK, TIME_SCALE, cpu_seconds, curl, req, sha256_file

MIB = 1 << 20
HUGE = 256 * MIB


def stamped_file(path, size: int, seed: int) -> str:
    """A sparse file of `size` bytes with a random 4 KiB block, starting with its number, at every
    MiB: quick to make, and a piece sent from the wrong offset changes its sha256 (returned)."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        for number in range(size // MIB):
            f.seek(number * MIB)
            f.write(number.to_bytes(8, "little") + rng.randbytes(4096 - 8))
    return sha256_file(path)


def read_body(conn, limit: int, timeout: float = 30.0):
    """Reads body bytes (what is left in conn.buf first) until `limit`, EOF, a reset or the
    timeout: (sha256 of them, how many, 'eof'|'rst'|'limit'|'timeout')."""
    h = hashlib.sha256()
    got = min(len(conn.buf), limit)
    h.update(conn.buf[:got])
    del conn.buf[:got]
    sock = conn.sock
    sock.settimeout(timeout * TIME_SCALE)
    buf = bytearray(MIB)
    view = memoryview(buf)
    while got < limit:
        try:
            n = sock.recv_into(buf, min(len(buf), limit - got))
        except ConnectionResetError:
            return h.hexdigest(), got, "rst"
        except socket.timeout:
            return h.hexdigest(), got, "timeout"
        if n == 0:
            return h.hexdigest(), got, "eof"
        h.update(view[:n])
        got += n
    return h.hexdigest(), got, "limit"


def sha256_prefix(path, length: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = length
        while left:
            block = f.read(min(MIB, left))
            assert block, f"{path} is shorter than {length}"
            h.update(block)
            left -= len(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Clients that reset in the middle of a sendfile


def test_clients_resetting_mid_sendfile_leave_a_full_download_intact(nuri, www, tmp_path):
    """50 clients ask for a 256 MiB file, read a random amount (nothing, part of the head, up to
    32 MiB) and reset, from 4 threads, while curl downloads the whole file: curl's copy is byte
    exact, the server answers normally afterwards, and the fixture finds no descriptor left."""
    path = www.root / "huge.bin"
    digest = stamped_file(path, HUGE, seed=1)
    s = nuri(root=www.root)
    out = tmp_path / "huge.out"
    full = {}
    downloader = threading.Thread(
        target=lambda: full.update(r=curl(s.url("/huge.bin"), out=str(out), timeout=60)))
    downloader.start()
    errors = []

    def resetter(seed: int, count: int):
        rng = random.Random(seed)
        try:
            for _ in range(count):
                # Small receive buffers keep the server blocked in sendfile when the reset comes.
                c = s.connect(rcvbuf=rng.choice([None, 4096, 65536]))
                c.send(req("/huge.bin"))
                amount = rng.choice([0, rng.randrange(1, 200), rng.randrange(MIB, 32 * MIB)])
                c.buf.clear()
                _, got, how = read_body(c, amount, timeout=20)
                if how not in ("limit",):
                    errors.append(f"read {got} of {amount} bytes, then {how}")
                rst_close(c.sock)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=resetter, args=(seed, n))
               for seed, n in enumerate([13, 13, 12, 12])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * TIME_SCALE)
    downloader.join(60 * TIME_SCALE)
    assert not errors, errors
    r = full["r"]
    assert r.rc == 0 and r.status == 200, str(r)
    assert r.header("Content-Length") == str(HUGE)
    assert os.path.getsize(out) == HUGE and sha256_file(out) == digest
    # Serving normally afterwards: a small file, and a range of the big one.
    assert s.get("/a.txt").body == b"hello"
    r = s.get("/huge.bin", headers={"Range": f"bytes={100 * MIB}-{100 * MIB + 9999}"})
    assert r.status == 206 and r.body[:8] == (100).to_bytes(8, "little") and len(r.body) == 10000
    s.assert_alive()


# ----------------------------------------------------------------------------------------------
# A file that changes while it is being sent


def start_download(s, path: str, size: int, first: int = MIB):
    """A connection (small receive buffer) that asked for `path` and read its head and `first`
    body bytes: (conn, head, sha256 object of what was read)."""
    c = s.connect(rcvbuf=65536)
    c.send(req(path))
    head = c.read_head()
    assert head.status == 200 and head.header("Content-Length") == str(size), str(head)
    return c, head


def test_file_truncated_while_sent_is_cut_short_and_then_served_at_its_new_size(nuri, www, tmp_path):
    """Truncated to half in the middle of a download: the client gets the first half and the
    connection closes before Content-Length bytes (never a response that looks complete); the
    worker neither spins nor hangs; the very next request gets the new size (the worker's file
    cache must not keep promising the old one)."""
    path = www.root / "shrinks.bin"
    stamped_file(path, HUGE, seed=2)
    # One worker: the next request meets the cache entry of the download that was cut.
    s = nuri("--workers", "1", root=www.root)
    c, _ = start_download(s, "/shrinks.bin", HUGE)
    _, got, how = read_body(c, MIB)
    assert how == "limit"
    os.truncate(path, HUGE // 2)
    _, rest, how = read_body(c, HUGE, timeout=10)
    assert how in ("eof", "rst"), f"connection not closed after {got + rest} bytes ({how})"
    got += rest
    assert got < HUGE, "a truncated file was sent as if it were complete"
    assert got <= HUGE // 2, f"{got} bytes sent from a file of {HUGE // 2}"
    c.close()

    r = curl(s.url("/shrinks.bin"), out=str(tmp_path / "after.bin"), timeout=30)
    assert r.rc == 0 and r.status == 200, f"next request after the truncation: {r}"
    assert r.header("Content-Length") == str(HUGE // 2)
    assert sha256_file(tmp_path / "after.bin") == sha256_file(path)

    # Nothing left running: the process uses next to no CPU for 2 s.
    before = cpu_seconds(s.pid)
    time.sleep(2)
    used = cpu_seconds(s.pid) - before
    assert used < 0.2 * TIME_SCALE, f"nuri used {used:.2f} s of CPU in 2 s after the truncation"
    assert s.get("/a.txt").body == b"hello"


def test_truncated_file_with_curl_is_a_partial_transfer(nuri, www, tmp_path):
    """The same fault as curl sees it: exit 18 (partial file), not success, and what did arrive
    is the file as it was."""
    path = www.root / "shrinks.bin"
    stamped_file(path, HUGE, seed=3)
    reference = tmp_path / "reference.bin"
    stamped_file(reference, HUGE, seed=3)  # the same bytes, kept whole
    s = nuri(root=www.root)
    out = tmp_path / "out.bin"
    result = {}
    # Slow enough to be mid-body when the file shrinks, fast enough to be done in seconds.
    t = threading.Thread(target=lambda: result.update(
        r=curl(s.url("/shrinks.bin"), "--limit-rate", "64M", out=str(out), timeout=30)))
    t.start()
    deadline = time.monotonic() + 10 * TIME_SCALE
    while (not out.exists() or out.stat().st_size < 4 * MIB) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.truncate(path, 8 * MIB)
    t.join(40 * TIME_SCALE)
    r = result["r"]
    assert r.rc == 18, f"curl exit {r.rc} (18: partial file): {r}"
    # What was sent before the truncation (socket buffers hold megabytes) plus the 8 MiB left.
    size = out.stat().st_size
    assert 4 * MIB <= size < HUGE // 2, size
    assert sha256_file(out) == sha256_prefix(reference, size)


def test_file_replaced_while_sent_finishes_with_the_old_bytes(nuri, www, big, tmp_path):
    """Replaced by rename in the middle of a download: the download ends byte exact with the old
    content (it holds the old file open). Later requests get either the old file whole or the new
    one whole, never a mix; the new one within the cache's 1 s revalidation."""
    s = nuri("--workers", "1", root=www.root)
    c, head = start_download(s, big.url_path, big.size)
    old_etag = head.header("ETag")
    old_start = big.slice(0, 65535)
    new_bytes = os.urandom(3 * MIB)
    tmp = www.root / "big.bin.new"
    tmp.write_bytes(new_bytes)
    os.rename(tmp, big.path)
    renamed = time.monotonic()
    digest, got, how = read_body(c, big.size)
    assert (got, how) == (big.size, "limit"), f"in-flight download ended after {got} bytes ({how})"
    assert digest == big.digest, "the in-flight download mixed old and new content"

    new_seen = None
    deadline = renamed + 1.0 + SLACK
    while time.monotonic() < deadline:
        r = s.get(big.url_path, headers={"Range": "bytes=0-65535"})
        assert r.status == 206
        if r.header("ETag") == old_etag:
            assert r.body == old_start, "old ETag with other bytes"
            assert r.header("Content-Range") == f"bytes 0-65535/{big.size}"
        else:
            assert r.body == new_bytes[:65536], "new ETag with other bytes"
            assert r.header("Content-Range") == f"bytes 0-65535/{len(new_bytes)}"
            new_seen = time.monotonic()
            break
        time.sleep(0.05)
    assert new_seen, f"still the old file {1.0 + SLACK:.1f} s after it was replaced"
    for _ in range(5):  # and never the old one again
        r = s.get(big.url_path)
        assert r.body == new_bytes and r.header("ETag") != old_etag
    # The keep-alive connection of the first download goes on with the new file too.
    c.send(req(big.url_path, headers={"Range": "bytes=-10"}))
    assert c.read_response().body == new_bytes[-10:]


# ----------------------------------------------------------------------------------------------
# A full log disk


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs mounted on tmp_path/disk (root only), unmounted at the end."""
    d = tmp_path / "disk"
    d.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(d)],
                       capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.decode(errors='replace').strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


LOG_LINE_RE = re.compile(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /a\.txt\?n=(\d+) HTTP/1\.1" 200 5 "-" "(x+)"')


def test_full_log_disk_keeps_serving_and_says_so_once(tiny_disk, nuri, www):
    """The access log on a 64 KiB tmpfs that a filler file mostly takes: once it is full every
    request is still answered right, the error log says so once (two workers writing), and when
    space is freed logging resumes, which is said once too; every line in the file is whole."""
    filler = tiny_disk / "filler"
    filler.write_bytes(b"f" * 40 * 1024)
    log = tiny_disk / "access.log"
    s = nuri("--workers", "2", "--access-log", str(log), root=www.root)
    agent = "x" * 300  # ~370-byte lines: the disk is full after ~60 requests

    def burst(first: int, count: int):
        # Several connections, so that both workers log (and fail).
        conns = [s.connect() for _ in range(4)]
        for n in range(first, first + count):
            c = conns[n % len(conns)]
            c.send(req(f"/a.txt?n={n}", headers={"User-Agent": agent}))
            r = c.read_response()
            assert (r.status, r.body) == (200, b"hello"), f"request {n}: {r}"
        for c in conns:
            c.close()

    burst(0, 400)
    deadline = time.monotonic() + 3 * TIME_SCALE
    while "access log: cannot write" not in s.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    burst(400, 100)  # still full: answered, not reported again
    time.sleep(0.3)
    err = s.stderr()
    assert err.count("access log: cannot write") == 1, err
    assert "No space left on device" in err
    assert "writing again" not in err

    filler.unlink()
    burst(500, 20)
    deadline = time.monotonic() + 3 * TIME_SCALE
    while "writing again" not in s.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    burst(520, 20)
    s.stop()
    err = s.stderr()
    assert err.count("access log: cannot write") == 1, err
    assert err.count("access log: writing again") == 1, err
    dropped = int(re.search(r"writing again; (\d+) line\(s\) were dropped", err)[1])

    text = log.read_text("latin-1")
    assert text.endswith("\n")
    numbers, torn = [], []
    for line in text.splitlines():
        m = LOG_LINE_RE.fullmatch(line)
        if m:
            numbers.append(int(m[1]))
        else:
            torn.append(line)
    # At most the one line the full disk cut short, ended when writing resumed.
    assert len(torn) <= 1 and all(t.startswith("127.0.0.1 - - [") for t in torn), torn
    assert set(range(520, 540)) <= set(numbers), "requests after the space was freed not logged"
    # Every request was either logged whole or counted as dropped (the torn line among them).
    assert len(numbers) + dropped == 540, (len(numbers), dropped)
    assert dropped >= 400
