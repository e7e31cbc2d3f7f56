#!/usr/bin/python3
"""Turn bench/proxy.sh's raw runs into the markdown report (standard library only).

usage: summarize_proxy.py META RECORDS
  META     key=value lines: machine, versions, settings (written by proxy.sh)
  RECORDS  one tab-separated line per wrk run: repeat, scenario, route, order, wrk log path,
           proxy CPU ticks, back-end CPU ticks, machine busy and steal ticks, wrk CPU seconds,
           wall seconds

Ratios are paired within a repeat (the runs of one repeat are next to each other in time), then
the median and the min-max over the repeats.
"""

import csv
import statistics
import sys

from summarize import fmt_int, fmt_ratio, fmt_time, median_or_none, parse_wrk

SCENARIOS = {"1k": "1 KiB, keep-alive", "100k": "100 KiB, keep-alive"}
ROUTES = {"direct": "direct (back end)", "nuri": "nuri serve proxy", "nginx": "nginx proxy_pass"}
# wrk closes its connections in the middle of responses when a run ends.
BENIGN = ("Broken pipe", "Connection reset by peer")


def read_runs(meta, records):
    clk = float(meta["clk_tck"])
    runs = []
    with open(records, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            run = parse_wrk(row["log"])
            run.update(repeat=int(row["repeat"]), scenario=row["scenario"], route=row["route"],
                       order=int(row["order"]), proxy_cpu=int(row["proxy_ticks"]) / clk,
                       backend_cpu=int(row["backend_ticks"]) / clk,
                       busy=int(row["busy_ticks"]) / clk, steal=int(row["steal_ticks"]) / clk,
                       wrk_cpu=float(row["wrk_cpu_s"]), elapsed=float(row["elapsed_s"]))
            run["mib"] = run["bytes_per_s"] / (1 << 20)
            run["us_per_req"] = (run["proxy_cpu"] / run["requests"] * 1e6
                                 if run["route"] != "direct" and run["requests"] else None)
            run["other"] = max(0.0, run["busy"] - run["proxy_cpu"] - run["backend_cpu"]
                               - run["wrk_cpu"]) / run["elapsed"]
            runs.append(run)
    return runs


def main():
    meta = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        key, _, value = line.rstrip("\n").partition("=")
        meta[key] = value
    runs = read_runs(meta, sys.argv[2])
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    routes = [r for r in ROUTES if any(x["route"] == r for x in runs)]
    repeats = sorted({r["repeat"] for r in runs})
    by = {(r["scenario"], r["route"], r["repeat"]): r for r in runs}

    def paired(s, route, base, key="rps", invert=False):
        out = []
        for k in repeats:
            a, b = by.get((s, route, k)), by.get((s, base, k))
            if a and b and a[key] and b[key]:
                out.append(b[key] / a[key] if invert else a[key] / b[key])
        return out

    out = []
    w = out.append
    w(f"# nuri serve's reverse proxy vs nginx proxy_pass — {meta['date']}")
    w("")
    w(f"- machine: {meta['nproc']} cores ({meta['cpu']}), {meta['kernel']}; "
      f"load average before {meta['load_before']}, after {meta['load_after']}")
    w(f"- versions: {meta['nginx']}, wrk {meta['wrk']}, {meta['nuri']}")
    w(f"- command: `{meta['command']}`")
    w(f"- load: `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}s --latency` "
      f"(keep-alive) through each route to one nginx back end ({meta['workers']} workers); "
      f"{meta['repeats']} repeat(s), the order of the routes rotating by one per repeat")
    w(f"- proxies: nuri `workers = {meta['workers']}`, `proxy_keepalive = {meta['keepalive']}`; "
      f"nginx `worker_processes {meta['workers']}`, `proxy_http_version 1.1`, upstream "
      f"`keepalive {meta['keepalive']}`, `Connection \"\"`, Host/X-Forwarded-*/Forwarded set as "
      "nuri sets them, proxy_buffering on (the default)")
    w("- req/s: median over the repeats. Ratios paired per repeat: median (min–max). nuri / nginx "
      "above 1: nuri faster. proxy CPU: CPU seconds of the proxy's processes during the run "
      "(utime+stime from /proc, children included) and per request; CPU per req nginx / nuri "
      "above 1: nuri needs less CPU per request")
    w("")
    for s in scenarios:
        w(f"### {SCENARIOS[s]}")
        w("")
        w("| route | req/s | MiB/s | ratio to direct | p99 | proxy CPU s | proxy CPU µs/req |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for route in routes:
            rs = [by[(s, route, k)] for k in repeats if (s, route, k) in by]
            if not rs:
                continue
            to_direct = fmt_ratio(paired(s, route, "direct")) \
                if route != "direct" and "direct" in routes else "–"
            us = median_or_none(r["us_per_req"] for r in rs)
            cpu = "–" if route == "direct" else f"{statistics.median(r['proxy_cpu'] for r in rs):.2f}"
            w(f"| {ROUTES[route]} | {fmt_int(statistics.median(r['rps'] for r in rs))} "
              f"| {fmt_int(statistics.median(r['mib'] for r in rs))} | {to_direct} "
              f"| {fmt_time(median_or_none(r['p99'] for r in rs))} | {cpu} "
              f"| {'–' if us is None else f'{us:.1f}'} |")
        w("")
        if "nuri" in routes and "nginx" in routes:
            w(f"nuri / nginx: req/s {fmt_ratio(paired(s, 'nuri', 'nginx'))}; "
              f"CPU per request, nginx / nuri: {fmt_ratio(paired(s, 'nuri', 'nginx', 'us_per_req', True))}")
            w("")

    w("Conditions (cores, median and max over the runs): back end = the nginx behind every route; "
      "other = machine busy time minus proxy, back end and wrk (other sessions' work).")
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
    w("Every run (req/s; p99; other load in cores):")
    w("")
    w("| scenario | repeat | " + " | ".join(ROUTES[r] for r in routes) + " |")
    w("|---|---:|" + "---:|" * len(routes))
    for s in scenarios:
        for k in repeats:
            cells = []
            for route in routes:
                r = by.get((s, route, k))
                cells.append("" if not r else f"{fmt_int(r['rps'])}, {fmt_time(r['p99'])}, {r['other']:.2f}")
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
            lines = [line for line in open(path, encoding="utf-8", errors="replace").read().splitlines()
                     if line and not any(b in line for b in BENIGN)]
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
