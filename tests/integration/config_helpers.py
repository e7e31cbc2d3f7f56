"""Helpers for tests that start `nuri serve --config FILE`: write the file and start the
server, build a document tree, wait for access-log lines, reload with SIGHUP, hash a password."""
from __future__ import annotations

import re
import signal
import subprocess
import time
import warnings
from pathlib import Path

from nuri_helpers import TIME_SCALE


def serve(nuri, conf: Path, text: str, *args, listeners: int = 1, root=None, tokens=False):
    """Writes `text` to `conf` and starts `nuri serve --config conf ARGS` without the fixture's
    own --listen/--root, waiting for `listeners` banner URLs."""
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    s = nuri("--config", str(conf), *args, listen=(), run=False)
    s.n_listeners = listeners
    # The leak check allows one cached fd per worker and file under `root`: every root of these
    # configurations lives in the test's tmp_path.
    s.root = Path(root if root is not None else s.workdir).resolve()
    s.server_tokens = s.server_tokens or tokens
    s.start()
    return s


def tree(base: Path, files: dict) -> Path:
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return base


def hash_password(password: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    except ImportError:
        return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True,
                              text=True, check=True).stdout.strip()


def read_log_lines(log, n):
    """The lines of file `log` once it has at least `n` (waits up to 5 s)."""
    deadline = time.monotonic() + 5 * TIME_SCALE
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"expected {n} log lines, got {log.read_text() if log.exists() else None!r}")


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def hup(s, expect: str = r"reloaded ", timeout: float = 5.0) -> str:
    """Sends SIGHUP and waits for one more line matching `expect` on stderr; returns stderr."""
    before = count(expect, s.stderr())
    s.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout * TIME_SCALE
    while time.monotonic() < deadline:
        err = s.stderr()
        if count(expect, err) > before:
            return err
        s.assert_alive()
        time.sleep(0.02)
    raise AssertionError(f"no {expect!r} on stderr after SIGHUP:\n{s.stderr()[-3000:]}")
