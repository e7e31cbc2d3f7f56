"""[[listen]] unsent_limit: TCP_NOTSENT_LOWAT on the listener, inherited by accepted sockets.

A client that stops reading a large file leaves the rest in the server's socket. Without the
limit the kernel takes megabytes of it (`ss` shows them as notsent); with it, nuri hands over no
more than about the limit beyond what is in flight, and sends the rest as the client reads.
"""
from __future__ import annotations

import hashlib
import re
import socket
import subprocess
import time

from config_helpers import hup, serve, tree
from nuri_helpers import TIME_SCALE, req, run_nuri

BIG = 32 << 20


def _config(root, limit=None):
    text = 'workers = 1\n[[listen]]\naddress = "127.0.0.1:0"\n'
    if limit is not None:
        text += f'unsent_limit = "{limit}"\n'
    return text + f'[[host]]\nroot = "{root}"\n'


def _site(tmp_path):
    return tree(tmp_path / "site", {"big.bin": bytes(range(256)) * (BIG // 256)})


def _stalled_notsent(port: int) -> int:
    """Opens a connection that asks for big.bin and reads nothing; the server side's `notsent`
    bytes (from `ss -i`) once they stop changing."""
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the window fills at once
    c.connect(("127.0.0.1", port))
    c.sendall(req("/big.bin"))
    last, deadline = None, time.monotonic() + 5 * TIME_SCALE
    while time.monotonic() < deadline:
        time.sleep(0.2)
        out = subprocess.run(["ss", "-tinH", f"sport = :{port}"], capture_output=True, text=True,
                             check=True).stdout
        values = [int(v) for v in re.findall(r"notsent:(\d+)", out)]
        now = values[0] if len(values) == 1 else 0  # no notsent field: nothing waits
        if now == last:
            break
        last = now
    c.close()
    return last


def test_a_stalled_client_holds_no_more_than_the_limit_unsent(nuri, tmp_path):
    root = _site(tmp_path)
    s = serve(nuri, tmp_path / "n.toml", _config(root, "64k"), root=tmp_path)
    notsent = _stalled_notsent(s.port)
    # One sendfile call may overshoot the limit by the last packet it built (64 KiB on loopback).
    assert 0 < notsent <= 2 * 65536, notsent


def test_without_the_limit_the_kernel_takes_megabytes(nuri, tmp_path):
    # The reference for the test above: the same client, the system's default.
    root = _site(tmp_path)
    s = serve(nuri, tmp_path / "n.toml", _config(root), root=tmp_path)
    assert _stalled_notsent(s.port) > 1 << 20


def test_the_file_arrives_whole_with_a_small_limit_and_a_reload_lifts_it(nuri, tmp_path):
    root = _site(tmp_path)
    conf = tmp_path / "n.toml"
    s = serve(nuri, conf, _config(root, 16384), root=tmp_path)
    want = hashlib.sha256((root / "big.bin").read_bytes()).hexdigest()
    for _ in range(2):
        c = s.connect()
        c.send(req("/big.bin"))
        r = c.read_response(timeout=20 * TIME_SCALE)
        assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == want
        c.close()
    conf.write_text(_config(root))
    hup(s)
    assert _stalled_notsent(s.port) > 1 << 20


def test_check_config_names_the_limit_and_rejects_nonsense(tmp_path):
    root = tree(tmp_path / "site", {"index.html": "x"})
    conf = tmp_path / "n.toml"
    conf.write_text(_config(root, "128k"))
    p = run_nuri("check-config", str(conf))
    assert p.returncode == 0, p.stderr
    assert b"at most 131072 bytes unsent per connection" in p.stdout
    for bad in ("-1", "2g", "lots"):
        conf.write_text(_config(root).replace("[[host]]", f"unsent_limit = {bad if bad == '-1' else repr(bad)}\n[[host]]"))
        p = run_nuri("check-config", str(conf))
        assert p.returncode != 0 and b"unsent_limit" in p.stderr, (bad, p.stderr)
