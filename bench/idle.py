#!/usr/bin/python3
"""bench/run.sh's idle scenario: hold N idle keep-alive connections open on a server while the
script loads it with wrk, and measure what they cost in memory (standard library only).

usage: idle.py PORT N PID

Opens N connections to 127.0.0.1:PORT, sends one GET /1k.bin on each and reads the whole
response (scripts/soak.py's helpers), then prints one line

    open N_OPEN answered N_ANSWERED rss_before KIB rss_after KIB pss_before KIB pss_after KIB

(RSS and PSS summed over PID and all its descendants, before the connections were opened and
after they all answered) and waits for a line on stdin. On that line it sends one more request
on every connection, prints `still N_STILL` (how many answered again) and exits, closing them.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from soak import exchange_all, open_idle  # noqa: E402  (scripts/ is not a package)


def tree(pid):
    """PID and its descendants (nginx and lighttpd workers, h2o's crash-handler helper)."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(c for c, parent in parent_of.items() if parent == p)
    return pids


def memory_kib(pid):
    """(RSS, PSS) in KiB, summed over PID's tree. PSS divides each shared page among the
    processes that map it, so forked workers' shared pages are not counted once per worker."""
    rss = pss = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass  # a process that just exited
    return rss, pss


def main():
    port, count, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rss0, pss0 = memory_kib(pid)
    socks, _refused = open_idle(port, count)
    answered = exchange_all(socks, timeout=120)
    rss1, pss1 = memory_kib(pid)
    print(f"open {len(socks)} answered {answered} rss_before {rss0} rss_after {rss1} "
          f"pss_before {pss0} pss_after {pss1}", flush=True)
    sys.stdin.readline()
    still = exchange_all(socks, timeout=120)
    print(f"still {still}", flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
