"""`nuri check-config FILE`: a valid file exits 0 with a summary of listeners and hosts; a broken
one exits 2 with every problem on stderr as FILE:LINE:COL: message, and nothing listens."""
import re
import shutil
import subprocess

import pytest

from nuri_helpers import REPO_ROOT, SANITIZER_MARKERS, nuri_bin, run_nuri

SHA512 = "$6$nurisalt$vgdm7vepHQBMAnK08vd9usFurXU26OZQEnYRdm7FLfXgm60P8FnxcOoY/zm2EJFIeyLsWu/lS1ARc4/kHLZKr."


def check(path):
    p = run_nuri("check-config", path)
    out, err = p.stdout.decode(), p.stderr.decode()
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    return p.returncode, out, err


# name -> (config text, line, column, message regex). Roots "@WWW@" become a real folder.
BROKEN = {
    "unknown_key_top": ("workers = 2\nwrokers = 3\n", 2, 1,
                        r'unknown key "wrokers" at the top level \(did you mean "workers"\?\)'),
    "unknown_key_location": ('[[host]]\nroot = "@WWW@"\n  [[host.location]]\n  prefix = "/a/"\n  idnex = ["a.html"]\n',
                             5, 3, r'unknown key "idnex" in \[\[host.location\]\] \(did you mean "index"\?\)'),
    "wrong_type": ('[limits]\nidle_timeout = "60s"\n', 2, 16, r'"idle_timeout" must be a number, not a string'),
    "bad_address": ('[[listen]]\naddress = "localhost:8080"\n', 2, 11, r'bad listen address "localhost:8080"'),
    "ipv6_without_brackets": ('[[listen]]\naddress = "::1:8080"\n', 2, 11, r'bad listen address "::1:8080"'),
    "duplicate_listener": ('[[listen]]\naddress = "127.0.0.1:8080"\n\n[[listen]]\naddress = "127.0.0.1:8080"\n',
                           5, 11, r"listener 127\.0\.0\.1:8080 is already defined at line 2"),
    "missing_root": ('[[host]]\nnames = ["a.test"]\nroot = "does-not-exist"\n', 3, 8,
                     r'root ".*/does-not-exist" cannot be used: No such file or directory'),
    "root_is_a_file": ('[[host]]\nroot = "@FILE@"\n', 2, 8, r'root ".*/plain.txt" is not a directory'),
    "bad_cidr": ('[[listen]]\naddress = "127.0.0.1:8080"\nallow = ["10.0.0.0/8", "192.168.1.1/24"]\n', 3, 24,
                 r'bad address range "192\.168\.1\.1/24": host bits set beyond /24'),
    "access_and_allow": ('[status]\nallow = ["::1"]\naccess = ["allow ::1"]\n', 3, 10,
                         r'use either "access" \(ordered rules\) or "allow"/"deny", not both'),
    "prefix_without_slash": ('[[host]]\n  [[host.location]]\n  prefix = "docs/"\n', 3, 12,
                             r"location prefix \"docs/\" must start with '/'"),
    "duplicate_prefix": ('[[host]]\n  [[host.location]]\n  prefix = "/a/"\n  [[host.location]]\n  prefix = "/a/"\n',
                         5, 12, r'location "/a/" is already defined in this host at line 3'),
    "bad_redirect_status": ('[[host]]\n  [[host.location]]\n  prefix = "/old/"\n  return = [303, "/new/"]\n', 4, 13,
                            r"redirect status 303 is not one of 301, 302, 307, 308"),
    "empty_redirect_target": ('[[host]]\n  [[host.location]]\n  return = { status = 301, target = "" }\n', 3, 37,
                              r"redirect target is empty"),
    "error_page_not_error": ('[[host]]\n  [[host.location]]\n  error_pages = { 200 = "/ok.html" }\n', 3, 19,
                             r'error_pages key "200" is not a 4xx or 5xx status'),
    "duplicate_host_name": ('[[host]]\nnames = ["a.test"]\n[[host]]\nnames = ["b.test", "A.test"]\n', 4, 20,
                            r'host name "a\.test" is already used at line 2'),
    "two_default_hosts": ('[[host]]\nnames = ["a.test"]\ndefault = true\n[[host]]\nnames = ["b.test"]\ndefault = true\n',
                          6, 11, r"a second default host \(the first is at line 3\)"),
    "default_host_unknown": ('[[listen]]\naddress = "127.0.0.1:8080"\ndefault_host = "c.test"\n'
                             '[[host]]\nnames = ["a.test"]\n', 3, 16, r'default_host "c\.test" names no \[\[host\]\]'),
    "bad_size": ('[limits]\nmax_body_size = "12Q"\n', 2, 17, r'"max_body_size": "12Q" is not a size'),
    "zero_timeout": ('[limits]\nheader_timeout = 0\n', 2, 18, r'"header_timeout" must be greater than 0'),
    "too_many_workers": ("workers = 5000\n", 1, 11, r'"workers" must be between 0 and 1024, not 5000'),
    "log_format": ('[access_log]\npath = "-"\nformat = "xml"\n', 3, 10,
                   r'unknown log format "xml" \(combined, common or json\)'),
    "unknown_host_value": ("unknown_host = 403\n", 1, 16, r'"unknown_host" must be "default", 421 or 404'),
    "weak_hash": ('[[host]]\n  [[host.location]]\n  [host.location.auth]\n  users = { bob = "$1$abc$xyz" }\n',
                  4, 19, r'user "bob": MD5-based hashes .* are too weak'),
    "unreadable_user_file": ('[[host]]\n  [[host.location]]\n  [host.location.auth]\n  user_file = "nope.htpasswd"\n',
                             4, 15, r'cannot read auth user_file ".*/nope\.htpasswd": No such file or directory'),
    "syntax_error": ('workers = 2\n[limits\nidle_timeout = 3\n', 2, 8, r".+"),
}


def write(tmp_path, name, text):
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder\n")
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace("@WWW@", str(www)).replace("@FILE@", str(plain)))
    return path


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config(tmp_path, name):
    text, line, col, message = BROKEN[name]
    path = write(tmp_path, name, text)
    code, out, err = check(path)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    m = re.fullmatch(r"(.+):(\d+):(\d+): (.+)", lines[0])
    assert m, lines[0]
    assert m.group(1) == str(path)
    assert (int(m.group(2)), int(m.group(3))) == (line, col), lines[0]
    assert re.search(message, m.group(4)), lines[0]


def test_every_error_is_reported(tmp_path):
    path = write(tmp_path, "many", 'wrokers = 1\n[limits]\nburst = -1\n[[listen]]\naddress = "x"\n'
                                    '[[host]]\nroot = "gone"\n  [[host.location]]\n  prefix = "a"\n')
    code, out, err = check(path)
    assert code == 2
    positions = [tuple(map(int, re.match(r".+?:(\d+):(\d+): ", e).groups())) for e in err.splitlines()]
    assert positions == [(1, 1), (3, 9), (5, 11), (7, 8), (9, 12)], err


def test_user_file_line_is_named(tmp_path):
    (tmp_path / "users").write_text(f"# staff\nalice:{SHA512}\nbob\n")
    path = write(tmp_path, "auth", '[[host]]\n  [[host.location]]\n  [host.location.auth]\n  user_file = "users"\n')
    code, _, err = check(path)
    assert code == 2
    assert err.strip() == f'{tmp_path}/users:3:1: expected "user:hash" (user_file named at {path}:4:15)'


def test_missing_file_is_one_line(tmp_path):
    code, out, err = check(tmp_path / "nope.toml")
    assert code == 2
    assert err == f"{tmp_path}/nope.toml: cannot read the configuration: No such file or directory\n"


def test_missing_argument_is_usage_error():
    p = run_nuri("check-config")
    assert p.returncode == 2 and b"FILE" in p.stderr


def test_valid_minimal_config(tmp_path):
    path = write(tmp_path, "min", "")
    code, out, err = check(path)
    assert code == 0, err
    assert "http://127.0.0.1:8080/ (this machine only)" in out
    assert "the built-in welcome site" in out


def test_shipped_example_is_valid(tmp_path):
    # From a copy elsewhere too: relative roots follow the file, not the working directory.
    for folder in (REPO_ROOT / "examples", tmp_path / "copy"):
        if folder != REPO_ROOT / "examples":
            shutil.copytree(REPO_ROOT / "examples", folder)
        p = subprocess.run([str(nuri_bin()), "check-config", str(folder / "nuri.toml")],
                           capture_output=True, cwd="/")
        out, err = p.stdout.decode(), p.stderr.decode()
        assert p.returncode == 0, err
        assert "configuration OK" in out
        assert "http://127.0.0.1:8080/ (this machine only), default host example.com" in out
        assert "http://[::1]:8080/ (this machine only)" in out
        assert "example.com, www.example.com, *.example.org [default]" in out
        assert f"root {folder / 'htdocs'}" in out
        assert "location /old/: return 301 /docs/" in out
        assert 'auth "staff" (2 users)' in out


def test_full_config_summary(tmp_path):
    www = tmp_path / "www"
    (www / "docs").mkdir(parents=True)
    (tmp_path / "logs").mkdir()  # serve does not create it: check-config says so (below)
    (tmp_path / "users").write_text(f"alice:{SHA512}\n")
    path = tmp_path / "full.toml"
    path.write_text(f"""workers = 4
server_tokens = true
unknown_host = 421
[access_log]
path = "logs/access.log"
format = "json"
[limits]
max_connections = 500
[status]
access = ["allow 10.0.0.0/8", "deny all"]
[[listen]]
address = "0.0.0.0:8081"
default_host = "a.test"
[[listen]]
address = "[::]:8081"
[[host]]
names = ["a.test", "*.a.test"]
root = "www"
  [[host.location]]
  prefix = "/docs/"
  root = "www/docs"
  directory_listing = true
  [host.location.auth]
  user_file = "users"
[[host]]
names = ["B.test"]
default = true
""")
    code, out, err = check(path)
    assert code == 0, err
    assert "http://0.0.0.0:8081/ (every interface of this machine), default host a.test" in out
    assert "http://[::]:8081/ (every interface of this machine)" in out
    assert "a.test, *.a.test\n" in out
    assert "b.test [default]" in out
    assert f"root {www}\n" in out
    assert f"location /docs/: root {www}/docs; directory listing; auth \"restricted\" (1 user)" in out
    assert "unknown Host: 421 Misdirected Request" in out
    assert "status: /server-status, /metrics, /healthz (allow 10.0.0.0/8, deny all)" in out
    assert f"access log: {tmp_path}/logs/access.log (json)" in out
    assert "workers: 4" in out


@pytest.mark.parametrize("settings,shown", [
    ("max_connections_per_client = 16", "10000 connections per worker, 16 per client, no rate limit;"),
    ("requests_per_second = 5", "unlimited per client, 5 requests/s (burst 5);"),
    ("requests_per_second = 2.5\nburst = 10", "unlimited per client, 2.5 requests/s (burst 10);"),
    ("max_connections_per_client = 4\nrequests_per_second = 20\nburst = 40", "4 per client, 20 requests/s (burst 40);"),
    ("burst = 5", "unlimited per client, no rate limit;"),  # a bucket size alone limits nothing
])
def test_per_client_limits_are_accepted_and_summarized(tmp_path, settings, shown):
    """The per-client limits are enforced (issue 3): check-config calls them valid, as serve
    starts with them, and the summary says what they will do."""
    path = tmp_path / "limits.toml"
    path.write_text(f"[limits]\n{settings}\n")
    code, out, err = check(path)
    assert code == 0, err
    assert "not enforced" not in out + err
    limits = [line for line in out.splitlines() if line.startswith("limits: ")]
    assert len(limits) == 1, out
    assert shown in limits[0], limits[0]


@pytest.mark.parametrize("special", ["/dev/full", "/dev/zero"])
def test_user_file_that_is_not_a_regular_file(tmp_path, special):
    """Found by the fuzzer: reading /dev/full as an htpasswd file ate all memory."""
    path = tmp_path / "special.toml"
    path.write_text(f'[[host]]\n  [[host.location]]\n  prefix = "/s/"\n  [host.location.auth]\n  user_file = "{special}"\n')
    code, out, err = check(path)
    assert code == 2
    assert f'{path}:5:15: cannot read auth user_file "{special}": not a regular file' in err


@pytest.mark.parametrize("path,message", [("/nonexistent/x.log", "its directory does not exist"),
                                          ("/tmp", "is a directory")])
def test_access_log_that_serve_could_not_open_is_an_error(tmp_path, path, message):
    """check-config is systemd's gate before a reload: it passed a log path serve then refused."""
    conf = tmp_path / "n.toml"
    conf.write_text(f'[access_log]\npath = "{path}"\n')
    code, out, err = check(str(conf))
    assert code == 2, out
    assert f'{conf}:2:8: access log "{path}"' in err and message in err, err


def test_config_that_fails_to_read_is_an_error_not_an_empty_file():
    """/proc/self/mem is a regular file whose read fails (EIO): the error, not the defaults. A
    stream read took the error for an early end of file, and the empty text was a valid
    configuration."""
    code, out, err = check("/proc/self/mem")
    assert code == 2, out
    assert "/proc/self/mem: cannot read the configuration: Input/output error" in err, err


def test_config_that_is_not_a_regular_file():
    code, out, err = check("/dev/zero")
    assert code == 2
    assert "/dev/zero: cannot read the configuration: not a regular file" in err
