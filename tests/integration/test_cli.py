"""The command line: help texts list every option with its default; bad usage fails with one
clear line on stderr and a non-zero status, without ever listening."""
import re
import subprocess

import pytest

from nuri_helpers import LISTEN_RE, free_port_holder, run_nuri

# option -> regex its help entry must match to show the default (None: no default to show)
SERVE_OPTIONS = {
    "--root": None,
    "--listen": None,
    "--workers": r"(?i)core|cpu",
    "--access-log": r"(?i)\boff\b|\bnone\b|disabled",
    "--server-tokens": None,
    "--max-connections": r"\d",
    "--header-timeout": r"\b10(\.0+)?\b",
    "--idle-timeout": r"\b60(\.0+)?\b",
    "--body-timeout": r"\b30(\.0+)?\b",
    "--max-body-size": r"\b1048576\b|\b1 ?MiB\b",
    "--max-header-size": r"\b16384\b|\b16 ?KiB\b",
    "--dotfiles": None,
    "--grace-period": r"\b10(\.0+)?\b",
}


def _help_entry(text, option):
    """The lines of `text` that document `option`: its line and the indented lines after it
    up to the next option."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"(^|[\s,])" + re.escape(option) + r"\b(?!-)", line):
            block = [line]
            for nxt in lines[i + 1:]:
                if re.match(r"\s*-", nxt) or not nxt.strip():
                    break
                block.append(nxt)
            return "\n".join(block)
    return None


def test_top_level_help():
    p = run_nuri("--help")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "serve" in out


def test_serve_help_lists_every_option():
    p = run_nuri("serve", "--help")
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    missing = [o for o in SERVE_OPTIONS if _help_entry(out, o) is None]
    assert not missing, f"options missing from `nuri serve --help`: {missing}\n{out}"


@pytest.mark.parametrize("option", [o for o, d in SERVE_OPTIONS.items() if d])
def test_serve_help_shows_default(option):
    out = run_nuri("serve", "--help").stdout.decode()
    entry = _help_entry(out, option)
    assert entry is not None, out
    assert re.search(SERVE_OPTIONS[option], entry), f"no default shown for {option}: {entry!r}"


def _bad_usage(*args, mention=None, cwd=None):
    try:
        p = run_nuri("serve", *args, timeout=5, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"`nuri serve {' '.join(args)}` kept running instead of failing; "
                             f"stdout: {e.stdout!r}") from None
    err = p.stderr.decode("utf-8", "replace")
    out = p.stdout.decode("utf-8", "replace")
    assert p.returncode > 0, f"exit status {p.returncode} for {args}; stderr: {err!r}"
    assert not LISTEN_RE.search(out), f"listened despite bad usage: {out!r}"
    lines = [l for l in err.splitlines() if l.strip()]
    assert 1 <= len(lines) <= 2, f"expected one clear line on stderr, got {err!r}"
    assert "terminate called" not in err and "Sanitizer" not in err, err
    if mention:
        assert re.search(mention, err, re.I), f"stderr does not name {mention!r}: {err!r}"
    return err


@pytest.mark.parametrize("addr", ["300.1.1.1:0", "127.0.0.1:99999", "[::1:0", "nonsense",
                                  "127.0.0.1:port"])
def test_bad_listen_address(nuri, addr):
    _bad_usage("--listen", addr, mention=re.escape(addr))


def test_missing_root_directory(nuri, tmp_path):
    missing = tmp_path / "no-such-dir"
    _bad_usage("--listen", "127.0.0.1:0", "--root", str(missing), mention=re.escape(str(missing)))


def test_root_is_a_file(nuri, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    _bad_usage("--listen", "127.0.0.1:0", "--root", str(f), mention=re.escape(str(f)))


def test_port_in_use(nuri):
    holder, port = free_port_holder()
    try:
        _bad_usage("--listen", f"127.0.0.1:{port}", mention=rf"{port}|in use")
    finally:
        holder.close()


def test_port_held_by_another_nuri_is_in_use(nuri):
    """SO_REUSEPORT would let a second server of the same user share the port and take half its
    connections; the second one must refuse to start instead."""
    first = nuri("--workers", "2")
    _bad_usage("--listen", f"127.0.0.1:{first.port}", mention=rf"{first.port}: the port is already in use")
    assert first.get("/").status == 200


@pytest.mark.parametrize("args", [
    ["--bogus-option"],
    ["--workers", "abc"],
    ["--max-body-size", "-5"],
    ["--header-timeout", "soon"],
    ["--max-connections", "many"],
])
def test_invalid_options(nuri, args):
    _bad_usage("--listen", "127.0.0.1:0", *args)


# NaN passes a range check made of < and >, and 1e20 seconds overflowed when turned into
# milliseconds: both became a zero timeout (every connection closed at once, every head 408).
@pytest.mark.parametrize("args", [
    ["--header-timeout", "nan"],
    ["--idle-timeout", "1e20"],
    ["--body-timeout", "inf"],
    ["--send-timeout", "0"],
    ["--grace-period", "-1"],
    ["--grace-period", "1e300"],
    ["--max-connections", "0"],
])
def test_timeouts_and_counts_must_be_finite_and_in_range(nuri, args):
    _bad_usage("--listen", "127.0.0.1:0", *args, mention=re.escape(args[0]) + r": " + re.escape(args[1]) + " is not")


@pytest.mark.parametrize("command", [
    ["forward", "--connect-timeout", "nan", "127.0.0.1:1", "127.0.0.1:2"],
    ["forward", "--idle-timeout", "1e300", "127.0.0.1:1", "127.0.0.1:2"],
    ["forward", "--grace-period", "inf", "127.0.0.1:1", "127.0.0.1:2"],
    ["get", "--max-time", "nan", "http://127.0.0.1:1/"],
    ["resolve", "--timeout", "nan", "example.test"],
    ["doctor", "--timeout", "nan", "127.0.0.1:1"],
    ["conns", "--watch", "--duration", "nan"],
    ["conns", "--pid", "0"],
    ["capture", "--port", "1", "--duration", "nan"],
    ["capture", "--port", "1", "--count", "-1"],
])
def test_other_commands_reject_numbers_out_of_range(command):
    p = run_nuri(*command, timeout=5)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2, f"{command}: exit {p.returncode}; {err!r}"
    assert len(err.strip().splitlines()) == 1 and " is not a " in err, err
    assert "runtime error" not in err and "179769313486231570" not in err, err


def test_the_same_listen_address_twice_is_a_usage_error(nuri):
    """A configuration file that lists one address twice is an error; so is the command line
    (it started and said 'listening on' twice)."""
    holder, port = free_port_holder()
    holder.close()
    _bad_usage("--listen", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{port}", mention="given twice")


def test_unknown_subcommand():
    p = run_nuri("no-such-subcommand")
    assert p.returncode == 2
    # Not "A subcommand is required": one was given, and it is not known.
    assert p.stderr.decode() == "nuri: unknown subcommand 'no-such-subcommand' (see 'nuri --help')\n"
    p = run_nuri("--color", "never", "servee")
    assert p.returncode == 2 and "unknown subcommand 'servee'" in p.stderr.decode(), p.stderr


def test_all_options_with_fractional_timeouts_start(nuri, www, tmp_path):
    s = nuri("--workers", "2", "--access-log", str(tmp_path / "log"), "--server-tokens",
             "--max-connections", "50", "--header-timeout", "0.25", "--idle-timeout", "0.5",
             "--body-timeout", "0.5", "--max-body-size", "2048", "--max-header-size", "4096",
             "--dotfiles", "--grace-period", "0.5", root=www.root)
    r = s.get("/.env")
    assert r.status == 200 and r.body == www.files["/.env"]
    assert r.header("Server").startswith("nuri/")


def test_relative_root(nuri, www):
    # The server runs with the test's tmp dir as its working directory; the root is tmp/www.
    s = nuri(root="www")
    assert s.get("/a.txt").body == b"hello"
    r = s.get("/../secret.txt")
    assert r.status == 400 and www.secret_bytes not in r.body


def test_unwritable_access_log(nuri, tmp_path):
    bad = tmp_path / "no-such-dir" / "access.log"
    _bad_usage("--listen", "127.0.0.1:0", "--access-log", str(bad), mention=re.escape(str(bad)))


def test_own_listeners_may_overlap_on_one_port(tmp_path):
    """127.0.0.1:8080 beside 0.0.0.0:8080 (say, with different default hosts) is one server's
    choice, not a port taken by another program. Inside a network namespace, so that 0.0.0.0 is
    the namespace's own."""
    import os
    import shutil
    import signal as sig
    import uuid
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.fail("needs root and iproute2 (CI has both)")
    ns = f"nuri-overlap-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        conf = tmp_path / "n.toml"
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "index.html").write_text("A")
        conf.write_text(f'[[listen]]\naddress = "127.0.0.1:8080"\n[[listen]]\naddress = "0.0.0.0:8080"\n'
                        f'[[host]]\nroot = "{tmp_path / "a"}"\n')
        from nuri_helpers import nuri_bin
        p = subprocess.Popen(["ip", "netns", "exec", ns, str(nuri_bin()), "serve", "--config", str(conf)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            banner = p.stdout.readline() + p.stdout.readline()
            assert "127.0.0.1:8080" in banner and "0.0.0.0:8080" in banner, banner + p.stderr.read()
            r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-s", "http://127.0.0.1:8080/"],
                               capture_output=True, text=True, timeout=10)
            assert r.stdout == "A"
        finally:
            p.send_signal(sig.SIGTERM)
            assert p.wait(15) == 0
    finally:
        subprocess.run(["ip", "netns", "delete", ns])
