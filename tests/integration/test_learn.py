"""docs/learn.md, executed: every command of the guide is run, so the guide never goes stale.

The convention of docs/learn.md (also summed up at its top, for its readers):

* Each `## ` heading is a section: one lab or idea of the lecture, run as one test, its blocks in
  order. `# ` and `### ` headings do not start sections.
* A ```sh block is run, as one `bash -e -o pipefail -c` script (a failing command fails it), with
  the directory of $NURI_BIN first on PATH, so `nuri ...` and `nuri-example-hello ...` are the
  built binaries. Its stdout and stderr together are its output.
* A ```text block is the output the reader should see: real output, trimmed. It is not compared
  line by line (ports, times and PIDs change); the directives below are. Every `expect-contains`
  string and `expect-regex` pattern of a section must also be found in one of the section's
  ```text blocks, so what the guide shows and what the test checks cannot drift apart.
* Other fences (```toml, ```console...) are for reading only.
* Directives are HTML comments, one per line, `<!-- learn: NAME [ARG] -->`; ARG is a JSON string
  or number. They apply to the next ```sh block, except `host` and `stop`:

  | directive | meaning |
  |---|---|
  | `expect-contains "TEXT"` | the block's output contains TEXT |
  | `expect-regex "RE"` | Python `re.search(RE, output, re.M)` finds a match |
  | `exit N` | the block exits with status N (default 0) |
  | `background` | the block keeps running (a server, a capture): started, not waited for. Its expectations are checked when it is stopped (waiting up to 10 s for them), and it must then exit with `exit N` (default 0; nuri exits 0 on SIGTERM) |
  | `ready "TEXT"` | background: wait (up to 10 s) until its output contains TEXT before going on |
  | `stop` | (not tied to a block) stop every background block started so far in this section, as the reader's Ctrl-C does: SIGTERM to its process group |
  | `cleanup` | the block runs at the end of the section even when an earlier block failed (what the reader runs to undo the lab) |
  | `skip "WHY"` | the block is not run (it needs the internet, say); WHY is reported |
  | `host` | (right after the heading) the section runs on this machine; see below |

* Each section runs in a fresh network namespace of its own (root needed, like the other netns
  tests): loopback up, and an `eth0` (one end of a veth pair, the other end in the namespace too) with 192.168.17.17/24 (the lecture's server address),
  so that port 8080 is free, `0.0.0.0` reaches nothing outside, and `nuri conns` shows only the
  section's sockets. A `host` section runs on this machine instead (the port-forwarding lab,
  which makes namespaces of its own); it must leave no new namespace behind.
* The working directory is a temporary one with `examples` linked to the repository's, which
  plays the reader's checkout; it is removed afterwards. Background blocks are stopped and every
  process left in the namespace killed at the end of each section.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nuri_helpers import REPO_ROOT, TIME_SCALE, nuri_bin

GUIDE = REPO_ROOT / "docs" / "learn.md"
DIRECTIVE_RE = re.compile(r"<!--\s*learn:\s*([a-z-]+)(?:\s+(.*?))?\s*-->")
FENCE_RE = re.compile(r"^```(\S*)\s*$")
BLOCK_TIMEOUT = 30.0
WAIT = 10.0 * TIME_SCALE
SHOW = bool(os.environ.get("NURI_LEARN_SHOW"))  # print every block's output (pytest -s)


@dataclass
class Step:
    kind: str                  # "sh" or "stop"
    code: str = ""
    line: int = 0
    expect_contains: list = field(default_factory=list)
    expect_regex: list = field(default_factory=list)
    exit: int = 0
    background: bool = False
    ready: list = field(default_factory=list)
    cleanup: bool = False
    skip: str = ""


@dataclass
class Section:
    title: str
    line: int
    host: bool = False
    steps: list = field(default_factory=list)
    texts: list = field(default_factory=list)  # the ```text blocks


def parse_guide(text: str) -> list:
    sections = []
    pending = {}
    section = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE_RE.match(line)
        if m:
            lang = m[1]
            start = i + 1
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                i += 1
            assert i < len(lines), f"learn.md:{start}: unclosed fence"
            body = "\n".join(lines[start:i]) + "\n"
            if section is not None and lang == "sh":
                section.steps.append(Step("sh", body, start, **pending))
                pending = {}
            elif section is not None and lang == "text":
                section.texts.append(body)
            elif pending:
                raise AssertionError(f"learn.md:{start}: directives {pending} before a ```{lang} block")
            i += 1
            continue
        if line.startswith("## "):
            assert not pending, f"learn.md:{i + 1}: directives {pending} left before a heading"
            section = Section(line[3:].strip(), i + 1)
            sections.append(section)
        elif line.startswith("# ") or line.startswith("### "):
            pass
        for d in DIRECTIVE_RE.finditer(line):
            name, raw = d[1], d[2]
            arg = json.loads(raw) if raw else None
            where = f"learn.md:{i + 1}"
            assert section is not None, f"{where}: directive before the first section"
            if name == "host":
                assert not section.steps, f"{where}: `host` goes right after the heading"
                section.host = True
            elif name == "stop":
                assert not pending, f"{where}: `stop` between a block's directives and the block"
                section.steps.append(Step("stop", line=i + 1))
            elif name in ("expect-contains", "expect-regex", "ready"):
                assert isinstance(arg, str), f"{where}: {name} takes a JSON string"
                key = {"expect-contains": "expect_contains", "expect-regex": "expect_regex"}.get(name, name)
                pending.setdefault(key, []).append(arg)
            elif name == "exit":
                assert isinstance(arg, int), f"{where}: exit takes a number"
                pending["exit"] = arg
            elif name in ("background", "cleanup"):
                pending[name] = True
            elif name == "skip":
                assert isinstance(arg, str) and arg, f"{where}: skip takes a reason"
                pending["skip"] = arg
            else:
                raise AssertionError(f"{where}: unknown directive {name!r}")
        i += 1
    assert not pending, f"directives {pending} at the end of learn.md with no block"
    return sections


SECTIONS = parse_guide(GUIDE.read_text("utf-8"))


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]


# ----------------------------------------------------------------------------------------------
# The guide itself (no root needed)


def test_guide_has_a_runnable_block_in_every_section():
    assert len(SECTIONS) >= 10
    for s in SECTIONS:
        assert any(st.kind == "sh" and not st.skip for st in s.steps), f"'{s.title}' runs nothing"


@pytest.mark.parametrize("section", SECTIONS, ids=[_slug(s.title) for s in SECTIONS])
def test_guide_shows_what_it_checks(section):
    """Each expectation is also visible in a ```text block of the section: the output shown to
    the reader is the output the test sees, trimmed."""
    shown = "\n".join(section.texts)
    for st in section.steps:
        for text in st.expect_contains:
            assert text in shown, f"learn.md:{st.line}: {text!r} is checked but not shown"
        for pattern in st.expect_regex:
            assert re.search(pattern, shown, re.M), f"learn.md:{st.line}: /{pattern}/ is checked but not shown"
        if st.kind == "sh" and st.background and not st.cleanup:
            assert st.ready or st.expect_contains or st.expect_regex, \
                f"learn.md:{st.line}: a background block needs `ready` or an expectation"


# ----------------------------------------------------------------------------------------------
# Running a section


class Job:
    """One background block."""

    def __init__(self, step: Step, argv, cwd: Path, env: dict, out: Path):
        self.step = step
        self.out = out
        self.file = open(out, "wb")
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.file, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.out.read_text("utf-8", "replace")

    def wait_for(self, check, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if check(self.output()):
                return True
            if self.proc.poll() is not None:
                return check(self.output())
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def terminate(self) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15 * TIME_SCALE)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        else:  # gone by itself: its children (if any) still go
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.file.close()
        return self.proc.returncode


def _failures(step: Step, output: str) -> list:
    out = []
    for text in step.expect_contains:
        if text not in output:
            out.append(f"expected to contain {text!r}")
    for pattern in step.expect_regex:
        if not re.search(pattern, output, re.M):
            out.append(f"expected to match /{pattern}/")
    return out


def _describe(step: Step, output: str, problems) -> str:
    return (f"learn.md:{step.line}: " + "; ".join(problems) + "\n--- block ---\n" + step.code +
            "--- output ---\n" + output[-6000:])


def _netns_list() -> set:
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def _kill_netns(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _make_netns(ns: str) -> None:
    for cmd in (["ip", "netns", "add", ns],
                ["ip", "-n", ns, "link", "set", "lo", "up"],
                ["ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"],
                ["ip", "-n", ns, "addr", "add", "192.168.17.17/24", "dev", "eth0"],
                ["ip", "-n", ns, "link", "set", "peer0", "up"],
                ["ip", "-n", ns, "link", "set", "eth0", "up"]):
        subprocess.run(cmd, check=True, capture_output=True)


RUNNABLE = [s for s in SECTIONS if any(st.kind == "sh" and not st.skip for st in s.steps)]


@pytest.mark.parametrize("section", RUNNABLE, ids=[_slug(s.title) for s in RUNNABLE])
def test_guide_section_runs(section, tmp_path):
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.fail("needs root and iproute2 (network namespaces, packet capture)")
    binary = nuri_bin()
    assert binary.exists(), f"{binary} is not built"
    env = dict(os.environ)
    env["PATH"] = f"{binary.parent}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("http_proxy", None)
    env.pop("HTTP_PROXY", None)
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(REPO_ROOT / "examples")

    before = _netns_list()
    ns = None if section.host else f"learn{os.getpid()}-{RUNNABLE.index(section)}"
    def argv(code: str):
        script = ["bash", "-e", "-o", "pipefail", "-c", code]
        return ["ip", "netns", "exec", ns, *script] if ns else script

    jobs = []
    failures = []
    skipped = []

    def stop_jobs(check: bool):
        for job in jobs:
            want = lambda text: not _failures(job.step, text)  # noqa: E731
            if check:
                job.wait_for(want, WAIT)
            code = job.terminate()
            output = job.output()
            if SHOW:
                print(f"\n$ learn.md:{job.step.line} background (exit {code})\n{output}")
            problems = _failures(job.step, output) if check else []
            if check and code != job.step.exit:
                problems.append(f"exit status {code}, expected {job.step.exit}")
            if problems:
                failures.append(_describe(job.step, output, problems))
        jobs.clear()

    try:
        if ns:
            _make_netns(ns)
        for n, step in enumerate(section.steps):
            if failures:
                break
            if step.kind == "stop":
                stop_jobs(check=True)
                continue
            if step.skip:
                skipped.append(f"learn.md:{step.line}: {step.skip}")
                continue
            if step.cleanup:
                continue
            if step.background:
                job = Job(step, argv(step.code), work, env, tmp_path / f"job{n}.out")
                jobs.append(job)
                for text in step.ready:
                    if not job.wait_for(lambda out, t=text: t in out, WAIT):
                        failures.append(_describe(step, job.output(), [f"not ready: no {text!r}"]))
                        break
                continue
            try:
                r = subprocess.run(argv(step.code), cwd=work, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=BLOCK_TIMEOUT * TIME_SCALE, start_new_session=True)
                output, code = r.stdout.decode("utf-8", "replace"), r.returncode
            except subprocess.TimeoutExpired as e:
                output, code = (e.stdout or b"").decode("utf-8", "replace"), None
            if SHOW:
                print(f"\n$ learn.md:{step.line} (exit {code})\n{output}")
            problems = _failures(step, output)
            if code != step.exit:
                problems.append(f"exit status {code}, expected {step.exit}")
            if problems:
                failures.append(_describe(step, output, problems))
        if not failures:
            stop_jobs(check=True)
    finally:
        stop_jobs(check=False)
        for step in section.steps:
            if step.kind == "sh" and step.cleanup:
                r = subprocess.run(argv(step.code), cwd=work, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                if r.returncode != step.exit and not failures:
                    failures.append(_describe(step, r.stdout.decode("utf-8", "replace"),
                                              [f"cleanup exit status {r.returncode}"]))
        if ns:
            _kill_netns(ns)
        left = _netns_list() - before
        for other in left:
            _kill_netns(other)
    assert not left, f"the section left network namespaces behind: {sorted(left)}"
    assert not failures, "\n\n".join(failures)
    if skipped:
        print("not run:", *skipped, sep="\n  ")
