"""Fixtures for the black-box tests of `nuri serve` (and `forward`/`targets` for `nuri forward`).

`nuri(*args, root=..., listen=[...])` starts the real binary (path from $NURI_BIN, default
build/release/nuri) and returns a NuriServer; at the end of the test every client socket is
closed and the server must be back to its baseline fds, have no child processes, exit 0 on
SIGTERM and have printed no sanitizer report.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forward_helpers import Forwarder, Target  # noqa: E402
from nuri_helpers import LETTERS, TIME_SCALE, NuriServer  # noqa: E402

PER_TEST_TIMEOUT = 60


@pytest.fixture(autouse=True)
def _per_test_timeout():
    """Fails a hung test instead of hanging the suite (no pytest-timeout on Debian by default)."""
    def on_alarm(signum, frame):
        pytest.fail(f"test exceeded {PER_TEST_TIMEOUT * TIME_SCALE:.0f}s", pytrace=True)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(PER_TEST_TIMEOUT * TIME_SCALE))
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def nuri(tmp_path):
    servers = []

    def start(*args, root=None, listen=("127.0.0.1:0",), env=None, run=True,
              preexec_fn=None) -> NuriServer:
        s = NuriServer(args, tmp_path, root=root, listen=listen, env=env, preexec_fn=preexec_fn)
        servers.append(s)
        if run:
            s.start()
        return s

    yield start
    errors = []
    for s in servers:
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("server check at teardown failed:\n" + "\n---\n".join(errors), pytrace=False)


# `nuri forward` (test_forward*.py): a Forwarder and scriptable Targets, checked like `nuri`.


@pytest.fixture
def forward(tmp_path):
    """forward(TARGET, *args, listen=..., netns=...) -> a started Forwarder, stopped and checked
    at the end of the test."""
    started = []

    def start(target, *args, listen="127.0.0.1:0", netns=None, check=True, preexec_fn=None):
        f = Forwarder(tmp_path, listen, target, *args, netns=netns, preexec_fn=preexec_fn)
        started.append((f, check))
        return f.start()

    yield start
    errors = []
    for f, check in started:
        try:
            f.stop(check_leaks=check)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("forwarder check at teardown failed:\n" + "\n---\n".join(errors), pytrace=False)


@pytest.fixture
def targets():
    made = []

    def make(handler, **kw):
        t = Target(handler, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


# ----------------------------------------------------------------------------------------------
# Document roots

PNG_BYTES = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00"
             b"\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05"
             b"\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@dataclass
class Site:
    root: Path
    secret: Path
    secret_bytes: bytes
    outside_marker: bytes
    files: dict = field(default_factory=dict)  # url path -> bytes


@pytest.fixture
def www(tmp_path) -> Site:
    """tmp/www (the root) with a known set of files; tmp/secret.txt and tmp/outside/ beside it."""
    root = tmp_path / "www"
    secret_bytes = b"TOPSECRET-" + os.urandom(8).hex().encode() + b"\n"
    secret = tmp_path / "secret.txt"
    secret.write_bytes(secret_bytes)
    outside = tmp_path / "outside"
    outside.mkdir()
    outside_marker = b"OUTSIDE-" + os.urandom(8).hex().encode()
    (outside / "file.txt").write_bytes(outside_marker)
    (outside / "index.html").write_bytes(outside_marker)

    files = {
        "/a.txt": b"hello",
        "/b.txt": b"second file\n",
        "/index.html": b"<!doctype html><title>root</title>ROOT-INDEX\n",
        "/style.css": b"body { color: red }\n",
        "/image.png": PNG_BYTES,
        "/data.xyz": bytes(range(256)),
        "/noext": b"no extension here",
        "/UPPER.HTML": b"<p>upper</p>",
        "/letters.txt": LETTERS,
        "/empty.txt": b"",
        "/file name.txt": b"spaced name",
        "/caf\u00e9.txt": b"unicode name",
        "/dir/index.html": b"DIR-INDEX\n",
        "/dir/page.html": b"<p>page</p>",
        "/dir/sub/deep.txt": b"deep file",
        "/dir/.hidden": b"hidden in dir",
        "/noindex/file.txt": b"listed nowhere",
        "/.env": b"SECRET_ENV=1\n",
        "/.git/config": b"[core]\n\tbare = false\n",
    }
    for path, data in files.items():
        p = root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # Symlinks: inside -> inside (served), and every way out (never served).
    os.symlink("a.txt", root / "link_inside.txt")
    os.symlink("../a.txt", root / "dir" / "uplink.txt")
    os.symlink("../secret.txt", root / "link_secret.txt")
    os.symlink(str(secret), root / "link_abs_secret.txt")
    os.symlink("../outside", root / "link_outdir")
    os.symlink("/etc/passwd", root / "link_passwd")
    os.symlink("chain2", root / "chain1")
    os.symlink("../secret.txt", root / "chain2")
    os.symlink("../../secret.txt", root / "dir" / "sub_secret.txt")
    return Site(root, secret, secret_bytes, outside_marker, files)


BIG_SIZE = 64 * 1024 * 1024


@pytest.fixture(scope="session")
def _big_source(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    p = d / "big.bin"
    h = __import__("hashlib").sha256()
    with open(p, "wb") as f:
        for _ in range(BIG_SIZE // (1 << 20)):
            block = os.urandom(1 << 20)
            h.update(block)
            f.write(block)
    return p, h.hexdigest()


@dataclass
class BigFile:
    path: Path
    url_path: str
    size: int
    digest: str

    def slice(self, start: int, end_inclusive: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            return f.read(end_inclusive - start + 1)


@pytest.fixture
def big(www, _big_source) -> BigFile:
    """A 64 MiB random file at /big.bin in the `www` root (a hard link to a session copy)."""
    src, digest = _big_source
    dst = www.root / "big.bin"
    try:
        os.link(src, dst)
    except OSError:
        import shutil
        shutil.copyfile(src, dst)
    return BigFile(dst, "/big.bin", BIG_SIZE, digest)
