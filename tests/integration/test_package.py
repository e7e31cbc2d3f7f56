"""The Debian package (make deb), and what ships in it.

Without installing anything: `nuri --version` reports the build, and every option of every
subcommand's --help appears in its man page and in the bash and zsh completions.

Marked `package` (scripts/run-tests.sh runs it once, on the Release build, with NURI_DEB set): the
.deb's contents and control data, lintian (reported; only errors fail), then a real `dpkg -i` on
this machine (make test runs as root on a throwaway machine), the packaged configuration served
as the service's user with curl, the man pages, the systemd units and the logrotate file checked
by their own tools, and `dpkg -r` / `dpkg -P` leaving nothing behind. The package is purged
whatever happens.
"""
from __future__ import annotations

import grp
import gzip
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from nuri_helpers import LISTEN_RE, REPO_ROOT, nuri_bin

SUBCOMMANDS = ["serve", "check-config", "explain", "forward", "resolve", "get", "conns", "capture", "doctor"]
MAN_PAGES = ["nuri.1"] + [f"nuri-{c}.1" for c in SUBCOMMANDS] + ["nuri.toml.5"]
DIST = REPO_ROOT / "dist"
MAINTAINER = "nuri maintainers <nuri@example.org>"


def run(*args, check=True, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    p = subprocess.run([str(a) for a in args], **kw)
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def help_options(subcommand: str) -> set[str]:
    """Every option name (--long and -s) that `nuri SUBCOMMAND --help` lists."""
    text = run(nuri_bin(), subcommand, "--help").stdout
    options = set()
    for line in text.splitlines():
        m = re.match(r"\s{2}((?:-\w,)?--[\w-]+)", line)
        if m:
            options.update(m[1].split(","))
    options -= {"-h", "--help"}
    assert options or subcommand == "check-config", text
    return options


# ------------------------------------------------------------------------------------------------
# No installation needed


def test_version_names_the_build_and_its_libraries():
    p = run(nuri_bin(), "--version")
    lines = p.stdout.splitlines()
    assert re.fullmatch(r"nuri \d+\.\d+\.\d+", lines[0]), p.stdout
    text = p.stdout
    assert re.search(r"^build: \S+.*, (g\+\+|clang\+\+) \d+\.\d+\.\d+, C\+\+20$", text, re.M), text
    assert re.search(r"^sanitizers: (none|AddressSanitizer.*)$", text, re.M), text
    assert re.search(r"c-ares \d+\.\d+\.\d+", text) and re.search(r"libpcap \d+\.\d+", text), text
    asan = b"__asan_init" in nuri_bin().read_bytes()
    assert ("AddressSanitizer" in text) == asan, text
    assert run(nuri_bin(), "-V").stdout == p.stdout


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_man_page_documents_every_option(subcommand):
    page = (DIST / "man" / f"nuri-{subcommand}.1").read_text()
    # roff writes a hyphen in an option as \-
    missing = [o for o in sorted(help_options(subcommand)) if o.replace("-", r"\-") not in page]
    assert not missing, f"nuri-{subcommand}.1 does not mention {missing}"


@pytest.mark.parametrize("shell_file", ["nuri.bash", "_nuri"])
def test_completion_offers_every_option(shell_file):
    text = (DIST / "completion" / shell_file).read_text()
    for subcommand in SUBCOMMANDS:
        assert re.search(rf"\b{re.escape(subcommand)}\b", text), f"{shell_file}: no {subcommand}"
        for option in help_options(subcommand):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), \
                f"{shell_file}: {subcommand} {option} is not offered"


def test_bash_completion_completes_subcommands_and_options():
    lib = Path("/usr/share/bash-completion/bash_completion")
    if not lib.exists():
        pytest.skip("bash-completion is not installed")
    script = f"""
source {lib}
source {DIST / 'completion' / 'nuri.bash'}
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
  COMPREPLY=(); _nuri nuri "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; echo "${{COMPREPLY[*]}}"; }}
complete_words nuri s
complete_words nuri serve --max-c
complete_words nuri forward --balance ''
complete_words nuri conns --state time
"""
    out = run("bash", "-c", script).stdout.splitlines()
    assert out == ["serve", "--max-connections", "round-robin first", "time-wait"], out


def test_zsh_completion_completes_subcommands_and_options(tmp_path):
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed")
    run("zsh", "-n", DIST / "completion" / "_nuri")
    # A real completion: zpty runs an interactive zsh, types a line and a Tab, and reads what the
    # completion system inserted.
    script = f"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PS1=; fpath=({DIST / 'completion'} $fpath); autoload -U compinit; compinit -u -d {tmp_path}/zcompdump'
zpty -w z 'zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" menu no'
zpty -w -n z $'nuri serve --max-c\t'
sleep 1
zpty -r z out '*max-connections*' && print -r -- FOUND
zpty -d z
"""
    p = run("zsh", "-f", "-c", script, check=False, timeout=15)
    assert "FOUND" in p.stdout, p.stdout + p.stderr


def test_man_pages_are_clean_roff():
    if not shutil.which("mandoc"):
        pytest.skip("mandoc is not installed (Debian package mandoc)")
    for page in MAN_PAGES:
        # Warnings and worse fail; STYLE notes (long source lines) do not.
        p = run("mandoc", "-T", "lint", "-W", "warning", DIST / "man" / page, check=False)
        assert p.returncode == 0 and not p.stdout.strip(), f"{page}:\n{p.stdout}{p.stderr}"


# ------------------------------------------------------------------------------------------------
# The package, installed on this machine


def dpkg_status(package="nuri") -> str:
    p = run("dpkg-query", "-W", "-f", "${Status}", package, check=False)
    return p.stdout if p.returncode == 0 else ""


def purge_nuri():
    if dpkg_status():
        run("dpkg", "-P", "nuri", env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), check=False)


@pytest.fixture
def deb() -> Path:
    if not shutil.which("dpkg"):
        pytest.skip("!!! dpkg is missing: the Debian package is NOT tested (needs a Debian machine) !!!")
    if os.geteuid() != 0:
        pytest.fail("the package test installs the .deb with dpkg -i: run it as root (make test does)")
    path = os.environ.get("NURI_DEB")
    if path:
        deb = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    else:
        out = run("make", "-C", REPO_ROOT, "--no-print-directory", "deb", timeout=3600).stdout
        deb = Path(out.strip().splitlines()[-1])
        deb = deb if deb.is_absolute() else REPO_ROOT / deb
    assert deb.is_file(), f"no package at {deb}"
    status = dpkg_status()
    if status:
        # A leftover of an interrupted run of this test may go; anybody else's nuri may not.
        maintainer = run("dpkg-query", "-W", "-f", "${Maintainer}", "nuri").stdout
        if maintainer != MAINTAINER:
            pytest.fail(f"a package nuri from {maintainer!r} is already installed ({status}); not touching it")
        purge_nuri()
    yield deb
    purge_nuri()


def deb_contents(deb: Path) -> dict[str, tuple[str, str]]:
    """path -> (mode string, owner/group) of every entry of the package."""
    entries = {}
    for line in run("dpkg-deb", "-c", deb).stdout.splitlines():
        mode, owner, _size, _date, _time, name = line.split(None, 5)
        name = name.split(" -> ")[0]
        entries["/" + name.lstrip("./").rstrip("/")] = (mode, owner)
    return entries


EXPECTED_FILES = [
    "/usr/bin/nuri",
    "/etc/nuri/nuri.toml",
    "/etc/logrotate.d/nuri",
    "/usr/share/nuri/www/index.html",
    "/usr/share/lintian/overrides/nuri",
    "/lib/systemd/system/nuri.service",
    "/lib/systemd/system/nuri.socket",
    "/usr/share/bash-completion/completions/nuri",
    "/usr/share/zsh/vendor-completions/_nuri",
    "/usr/share/doc/nuri/copyright",
    "/usr/share/doc/nuri/changelog.Debian.gz",
] + [f"/usr/share/man/man{p[-1]}/{p}.gz" for p in MAN_PAGES]


def check_contents(deb: Path) -> dict:
    entries = deb_contents(deb)
    for path in EXPECTED_FILES:
        assert path in entries, f"{path} is not in the package:\n" + "\n".join(sorted(entries))
    for path, (mode, owner) in entries.items():
        assert owner == "root/root", f"{path} belongs to {owner}"
        assert "w" not in mode[5] + mode[8], f"{path} is writable by group or others: {mode}"
    assert entries["/usr/bin/nuri"][0] == "-rwxr-xr-x"
    assert entries["/etc/nuri/nuri.toml"][0] == "-rw-r--r--"
    info = run("dpkg-deb", "-I", deb).stdout
    depends = re.search(r"^ Depends: (.*)$", info, re.M)
    assert depends and all(lib in depends[1] for lib in ("adduser", "libc-ares2", "libpcap0.8")), info
    for script in ("postinst", "prerm", "postrm"):  # "*": executable
        assert re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*\s+{script}\s", info, re.M), info
    listed = run("dpkg-deb", "--info", deb, "conffiles").stdout.split()
    assert sorted(listed) == ["/etc/logrotate.d/nuri", "/etc/nuri/nuri.toml"], listed
    return entries


def lintian_report(deb: Path):
    if not shutil.which("lintian"):
        print("lintian is not installed: skipped")
        return
    p = run("lintian", "--tag-display-limit", "0", deb, check=False, timeout=300)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[EWIPX]: ", line)]
    errors = [line for line in tags if line.startswith("E:")]
    assert not errors, "lintian errors:\n" + "\n".join(errors)
    if tags:  # reported in pytest's summary, not a failure
        warnings.warn("lintian:\n" + "\n".join(tags))


def start_packaged_server(tmp_path: Path):
    """/usr/bin/nuri on /etc/nuri/nuri.toml as the service runs it (user nuri, no capability), on
    a free port instead of 80. Returns (process, port)."""
    out = open(tmp_path / "serve.out", "w+")
    proc = subprocess.Popen(
        ["setpriv", "--reuid=nuri", "--regid=nuri", "--init-groups", "--inh-caps=-all",
         "/usr/bin/nuri", "serve", "--config", "/etc/nuri/nuri.toml", "--listen", "127.0.0.1:0",
         "--workers", "1"],
        stdout=out, stderr=subprocess.STDOUT, cwd="/")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out.seek(0)
        text = out.read()
        m = LISTEN_RE.search(text)
        if m:
            return proc, int(m[2])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    out.seek(0)
    pytest.fail(f"the packaged nuri serve did not start:\n{out.read()}")


def curl(port: int, path="/") -> str:
    return run("curl", "-fsS", "--max-time", "5", f"http://127.0.0.1:{port}{path}").stdout


def wait_for(predicate, what: str, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def check_installed(tmp_path: Path):
    # The default page, copied by postinst (lintian: no package files in /var/www).
    assert Path("/var/www/nuri/index.html").read_bytes() == Path("/usr/share/nuri/www/index.html").read_bytes()
    # The system user of postinst: no login, no home, in group nuri.
    user = pwd.getpwnam("nuri")
    assert user.pw_uid < 1000 and user.pw_shell == "/usr/sbin/nologin" and user.pw_dir == "/nonexistent", user
    assert user.pw_gecos.split(",")[0] == "nuri web server", user
    assert grp.getgrgid(user.pw_gid).gr_name == "nuri"
    logs = os.stat("/var/log/nuri")
    assert (pwd.getpwuid(logs.st_uid).pw_name, grp.getgrgid(logs.st_gid).gr_name) == ("nuri", "adm")
    assert stat.S_IMODE(logs.st_mode) == 0o2750, oct(logs.st_mode)

    assert run("/usr/bin/nuri", "--version").stdout.startswith("nuri ")
    assert "127.0.0.1:80" in run("/usr/bin/nuri", "check-config", "/etc/nuri/nuri.toml").stdout

    # Served as the service would be; the access log rotated the way logrotate does it.
    proc, port = start_packaged_server(tmp_path)
    try:
        page = curl(port)
        assert "nuri works" in page, page
        log = Path("/var/log/nuri/access.log")
        wait_for(lambda: log.exists() and '"GET / HTTP/1.1" 200' in log.read_text(), "the access log line")
        assert pwd.getpwuid(log.stat().st_uid).pw_name == "nuri"
        log.rename("/var/log/nuri/access.log.1")
        proc.send_signal(signal.SIGUSR1)
        wait_for(log.exists, "SIGUSR1 to reopen the access log")
        curl(port, "/index.html")
        wait_for(lambda: "/index.html" in log.read_text(), "a line in the reopened access log")
        assert "/index.html" not in Path("/var/log/nuri/access.log.1").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=15) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            raise

    # Man pages: found by man, rendered without a warning.
    for page in MAN_PAGES:
        gz = Path(f"/usr/share/man/man{page[-1]}/{page}.gz")
        name, section = page.rsplit(".", 1)
        assert run("man", "-w", section, name).stdout.strip() == str(gz)
        p = run("man", "--warnings", "-l", gz, env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
        assert "NAME" in p.stdout and not p.stderr.strip(), f"{page}:\n{p.stderr}"
        if shutil.which("mandoc"):
            p = run("mandoc", "-T", "lint", "-W", "warning", gz, check=False)
            assert p.returncode == 0, f"{page}:\n{p.stdout}"
        assert gzip.decompress(gz.read_bytes()) == (DIST / "man" / page).read_bytes()

    # The units as systemd would load them (offline: no running systemd needed).
    if shutil.which("systemd-analyze"):
        p = run("systemd-analyze", "verify", "/lib/systemd/system/nuri.service",
                "/lib/systemd/system/nuri.socket", check=False)
        complaints = [line for line in (p.stdout + p.stderr).splitlines() if "nuri." in line]
        assert p.returncode == 0 and not complaints, p.stdout + p.stderr
        props = run("systemd-analyze", "security", "--offline=yes", "--no-pager",
                    "/lib/systemd/system/nuri.service", check=False)
        print(props.stdout[-400:])

    if shutil.which("logrotate"):
        p = run("logrotate", "-d", "/etc/logrotate.d/nuri", check=False)
        assert p.returncode == 0 and "error" not in p.stderr.lower(), p.stderr

    completion = Path("/usr/share/bash-completion/completions/nuri")
    assert run("bash", "-n", completion).returncode == 0


def installed_paths(entries: dict) -> list[str]:
    """The package's own files and folders (not the shared ones like /usr/bin or /etc)."""
    shared = {"/", "/etc", "/lib", "/lib/systemd", "/lib/systemd/system", "/usr", "/usr/bin",
              "/usr/share", "/usr/share/doc", "/usr/share/man", "/usr/share/bash-completion",
              "/usr/share/bash-completion/completions", "/usr/share/zsh",
              "/usr/share/zsh/vendor-completions", "/etc/logrotate.d", "/usr/share/lintian",
              "/usr/share/lintian/overrides"}
    shared |= {f"/usr/share/man/man{n}" for n in range(1, 9)}
    return sorted(p for p in entries if p not in shared)


@pytest.mark.package
def test_package_installs_serves_and_goes_away(deb, tmp_path):
    entries = check_contents(deb)
    lintian_report(deb)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("dpkg", "-i", deb, env=env)
    assert dpkg_status() == "install ok installed"
    uid = pwd.getpwnam("nuri").pw_uid
    # Installing again (dpkg runs postinst as an upgrade) keeps the user and folder as they are.
    run("dpkg", "-i", deb, env=env)
    assert pwd.getpwnam("nuri").pw_uid == uid

    check_installed(tmp_path)

    # remove: everything but the conffiles (and the page, the logs, the user) goes.
    config = Path("/etc/nuri/nuri.toml")
    config.write_text(config.read_text() + "\n# edited by the admin\n")
    run("dpkg", "-r", "nuri", env=env)
    left = [p for p in installed_paths(entries) if os.path.lexists(p)]
    assert sorted(left) == ["/etc/logrotate.d/nuri", "/etc/nuri", "/etc/nuri/nuri.toml"], left
    assert "edited by the admin" in config.read_text()
    assert Path("/var/www/nuri/index.html").is_file()
    assert Path("/var/log/nuri").is_dir() and pwd.getpwnam("nuri").pw_uid == uid

    # purge: nothing at all, the user and group included.
    run("dpkg", "-P", "nuri", env=env)
    assert dpkg_status() == ""
    left = [p for p in installed_paths(entries) + ["/var/log/nuri", "/var/www/nuri"] if os.path.lexists(p)]
    assert not left, f"left after purge: {left}"
    with pytest.raises(KeyError):
        pwd.getpwnam("nuri")
    with pytest.raises(KeyError):
        grp.getgrnam("nuri")
