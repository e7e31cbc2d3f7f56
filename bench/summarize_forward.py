#!/usr/bin/python3
"""Turn bench/forward.sh's raw runs into the markdown report (standard library only).

usage: summarize_forward.py META RECORDS
  META     key=value lines: machine, versions, settings (written by forward.sh)
  RECORDS  one tab-separated line per wrk run: repeat, scenario, route, order, wrk log path,
           forwarder CPU ticks, back-end CPU ticks, machine busy and steal ticks, wrk CPU
           seconds, wall seconds

Ratios are paired within a repeat (the runs of one repeat are next to each other in time), then
the median and the min-max over the repeats.
"""

import csv
import statistics
import sys

from summarize import fmt_int, fmt_ratio, fmt_time, median_or_none, parse_wrk

SCENARIOS = {
    "ka": "1 KiB, keep-alive",
    "close": "1 KiB, `Connection: close`",
    "1m": "1 MiB, keep-alive",
}
ROUTES = {
    "direct": "direct",
    "nuri": "nuri forward",
    "socat": "socat",
    "rinetd": "rinetd",
    "stream": "nginx stream",
}
# Lines on the forwarders' stderr that are not errors of the run: rinetd's start message, and
# socat's complaint when wrk closes its connections in the middle of a response at the end of a run.
BENIGN = ("rinetd: starting redirections", "Broken pipe", "Connection reset by peer")


def main():
    meta = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        key, _, value = line.rstrip("\n").partition("=")
        meta[key] = value
    clk = float(meta["clk_tck"])

    runs = []
    with open(sys.argv[2], encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            run = parse_wrk(row["log"])
            run.update(
                repeat=int(row["repeat"]),
                scenario=row["scenario"],
                route=row["route"],
                order=int(row["order"]),
                fwd_cpu=int(row["fwd_ticks"]) / clk,
                backend_cpu=int(row["backend_ticks"]) / clk,
                busy=int(row["busy_ticks"]) / clk,
                steal=int(row["steal_ticks"]) / clk,
                wrk_cpu=float(row["wrk_cpu_s"]),
                elapsed=float(row["elapsed_s"]),
            )
            # The measured metric: MiB/s for 1 MiB responses, requests/s otherwise.
            run["value"] = run["bytes_per_s"] / (1 << 20) if run["scenario"] == "1m" else run["rps"]
            run["mib"] = run["bytes_per_s"] / (1 << 20)
            # Forwarder CPU per request in µs (none for direct).
            run["us_per_req"] = (run["fwd_cpu"] / run["requests"] * 1e6
                                 if run["route"] != "direct" and run["requests"] else None)
            run["other"] = max(0.0, run["busy"] - run["fwd_cpu"] - run["backend_cpu"]
                               - run["wrk_cpu"]) / run["elapsed"]
            runs.append(run)

    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    routes = [r for r in ROUTES if any(x["route"] == r for x in runs)]
    repeats = sorted({r["repeat"] for r in runs})
    by = {(r["scenario"], r["route"], r["repeat"]): r for r in runs}

    def paired(s, route, base):
        return [by[(s, route, k)]["value"] / by[(s, base, k)]["value"] for k in repeats
                if (s, route, k) in by and (s, base, k) in by and by[(s, base, k)]["value"] > 0]

    out = []
    w = out.append
    w(f"# nuri forward vs socat, rinetd, nginx stream — {meta['date']}")
    w("")
    w(f"- machine: {meta['nproc']} cores ({meta['cpu']}), {meta['kernel']}; "
      f"load average before {meta['load_before']}, after {meta['load_after']}")
    w(f"- versions: {meta['nginx']}, socat {meta['socat']}, rinetd {meta['rinetd']}, "
      f"wrk {meta['wrk']}, {meta['nuri']}")
    w(f"- command: `{meta['command']}`")
    w(f"- load: `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}s --latency` "
      f"through each route to one nginx back end ({meta['workers']} workers); {meta['repeats']} "
      f"repeat(s), the order of the routes rotating by one per repeat")
    w(f"- forwarders: `nuri forward --workers {meta['workers']} --log ''`; "
      f"`socat TCP-LISTEN:P,fork,reuseaddr TCP:127.0.0.1:Q`; `rinetd -f -c FILE`; nginx stream "
      f"`worker_processes {meta['workers']}`, `listen ... reuseport`, `proxy_pass`, defaults otherwise")
    w("- value: requests/s, or MiB/s for 1 MiB; median over the repeats. Ratios paired per repeat: "
      "median (min–max). fwd CPU: CPU seconds of the forwarder's processes during the run "
      "(utime+stime from /proc, children included), and per request; CPU per req ratio: nginx stream's "
      "µs/req / the route's, paired per repeat (above 1: the route needs less CPU than nginx stream)")
    w("")
    for s in scenarios:
        unit = "MiB/s" if s == "1m" else "req/s"
        w(f"### {SCENARIOS[s]}")
        w("")
        w(f"| route | {unit} | ratio to direct | ratio to nginx stream | p99 | fwd CPU s | fwd CPU µs/req "
          "| CPU per req, nginx stream / route |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for route in routes:
            rs = [by[(s, route, k)] for k in repeats if (s, route, k) in by]
            if not rs:
                continue
            value = statistics.median(r["value"] for r in rs)
            cell = fmt_int(value) if s != "1m" else f"{fmt_int(value)} ({fmt_int(statistics.median(r['rps'] for r in rs))} req/s)"
            to_direct = fmt_ratio(paired(s, route, "direct")) if route != "direct" and "direct" in routes else "–"
            to_stream = fmt_ratio(paired(s, route, "stream")) if route != "stream" and "stream" in routes else "–"
            p99 = fmt_time(median_or_none(r["p99"] for r in rs))
            cpu = "–" if route == "direct" else f"{statistics.median(r['fwd_cpu'] for r in rs):.2f}"
            us = median_or_none(r["us_per_req"] for r in rs)
            cpu_ratios = [by[(s, "stream", k)]["us_per_req"] / by[(s, route, k)]["us_per_req"] for k in repeats
                          if (s, route, k) in by and (s, "stream", k) in by and by[(s, route, k)]["us_per_req"]
                          and by[(s, "stream", k)]["us_per_req"]]
            cpu_ratio = fmt_ratio(cpu_ratios) if route not in ("direct", "stream") and cpu_ratios else "–"
            w(f"| {ROUTES[route]} | {cell} | {to_direct} | {to_stream} | {p99} | {cpu} "
              f"| {'–' if us is None else f'{us:.1f}'} | {cpu_ratio} |")
        w("")

    w("Conditions (cores, median and max over the runs): back end = the nginx behind every route; "
      "other = machine busy time minus forwarder, back end and wrk (other sessions' work).")
    w("")
    w("| scenario | back end | wrk | other | steal |")
    w("|---|---:|---:|---:|---:|")
    for s in scenarios:
        rs = [r for r in runs if r["scenario"] == s]

        def mm(values):
            return f"{statistics.median(values):.2f}, max {max(values):.2f}"
        w(f"| {SCENARIOS[s]} | {mm([r['backend_cpu'] / r['elapsed'] for r in rs])} "
          f"| {mm([r['wrk_cpu'] / r['elapsed'] for r in rs])} | {mm([r['other'] for r in rs])} "
          f"| {mm([r['steal'] / r['elapsed'] for r in rs])} |")
    w("")
    w("Every run (value: req/s, MiB/s for 1 MiB; p99; other load in cores):")
    w("")
    w("| scenario | repeat | " + " | ".join(ROUTES[r] for r in routes) + " |")
    w("|---|---:|" + "---:|" * len(routes))
    for s in scenarios:
        for k in repeats:
            cells = []
            for route in routes:
                r = by.get((s, route, k))
                cells.append("" if not r else f"{fmt_int(r['value'])}, {fmt_time(r['p99'])}, {r['other']:.2f}")
            w(f"| {SCENARIOS[s]} | {k} | " + " | ".join(cells) + " |")
    w("")

    problems = []
    for r in runs:
        where = f"repeat {r['repeat']}, {SCENARIOS[r['scenario']]}, {ROUTES[r['route']]}"
        if r["socket_errors"]:
            problems.append(f"{where}: wrk `{r['socket_errors']}`")
        if r["non2xx"]:
            problems.append(f"{where}: wrk `Non-2xx or 3xx responses: {r['non2xx']}` of {r['requests']}")
    for path in meta["stderr_files"].split():
        try:
            lines = [l for l in open(path, encoding="utf-8", errors="replace").read().splitlines()
                     if l and not any(b in l for b in BENIGN)]
        except OSError:
            lines = []
        if lines:
            shown = lines[:20] + ([f"... {len(lines) - 20} more lines"] if len(lines) > 20 else [])
            problems.append(f"{path.rsplit('/', 1)[-1]} of {path.rsplit('/', 2)[-2]}:\n\n```\n"
                            + "\n".join(shown) + "\n```")
    w("Errors: " + ("none (no socket errors, no non-2xx responses, nothing on any stderr or error log)."
                    if not problems else "see below."))
    if problems:
        w("")
    for p in problems:
        w(f"- {p}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
