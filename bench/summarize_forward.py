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

import statistics
import sys

from bench_report import RouteReport, fmt_int, fmt_ratio, fmt_time, header, median_or_none

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
    "ceiling": "*relay ceiling*",
}
# Lines on the forwarders' stderr that are not errors of the run: rinetd's start message, and
# socat's complaint when wrk closes its connections in the middle of a response at the end of a run.
BENIGN = ("rinetd: starting redirections", "Broken pipe", "Connection reset by peer")


def main():
    rep = RouteReport(sys.argv[1], sys.argv[2], SCENARIOS, ROUTES, "fwd_cpu", "fwd_ticks")
    meta, routes, repeats, by = rep.meta, rep.routes, rep.repeats, rep.by
    for run in rep.runs:
        # The measured metric: MiB/s for 1 MiB responses, requests/s otherwise.
        run["value"] = run["mib"] if run["scenario"] == "1m" else run["rps"]

    def paired(s, route, base):
        return [by[(s, route, k)]["value"] / by[(s, base, k)]["value"] for k in repeats
                if (s, route, k) in by and (s, base, k) in by and by[(s, base, k)]["value"] > 0]

    w = rep.w
    header(w, "nuri forward vs socat, rinetd, nginx stream", meta,
           f" through each route to one nginx back end ({meta['workers']} workers); {meta['repeats']} "
           f"repeat(s), the order of the routes rotating by one per repeat", ("socat", "rinetd"))
    w(f"- forwarders: `nuri forward --workers {meta['workers']} --log ''`; "
      f"`socat TCP-LISTEN:P,fork,reuseaddr TCP:127.0.0.1:Q`; `rinetd -f -c FILE`; nginx stream "
      f"`worker_processes {meta['workers']}`, `listen ... reuseport`, `proxy_pass`, defaults otherwise")
    w(f"- *relay ceiling*: not a forwarder: `bench/relay_ceiling.cpp`, {meta['workers']} epoll threads, "
      "one back-end connection per client, recv and send through a stack buffer, nothing else. The "
      "least work a relay does here for small messages (no ceiling for 1 MiB: splice avoids its copy)")
    w("- value: requests/s, or MiB/s for 1 MiB; median over the repeats. Ratios paired per repeat: "
      "median (min–max). fwd CPU: CPU seconds of the forwarder's processes during the run "
      "(utime+stime from /proc, children included), and per request; CPU per req ratio: nginx stream's "
      "µs/req / the route's, paired per repeat (above 1: the route needs less CPU than nginx stream)")
    w("")
    for s in rep.scenarios:
        unit = "MiB/s" if s == "1m" else "req/s"
        w(f"### {SCENARIOS[s]}")
        w("")
        w(f"| route | {unit} | ratio to direct | ratio to nginx stream | p99 | fwd CPU s | fwd CPU µs/req "
          "| CPU per req, nginx stream / route |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        for route, rs in rep.route_runs(s):
            value = statistics.median(r["value"] for r in rs)
            cell = fmt_int(value) if s != "1m" else f"{fmt_int(value)} ({fmt_int(statistics.median(r['rps'] for r in rs))} req/s)"
            to_direct = fmt_ratio(paired(s, route, "direct")) if route != "direct" and "direct" in routes else "–"
            to_stream = fmt_ratio(paired(s, route, "stream")) if route != "stream" and "stream" in routes else "–"
            p99 = fmt_time(median_or_none(r["p99"] for r in rs))
            cpu, us = rep.cpu_cells(route, rs)
            cpu_ratios = [by[(s, "stream", k)]["us_per_req"] / by[(s, route, k)]["us_per_req"] for k in repeats
                          if (s, route, k) in by and (s, "stream", k) in by and by[(s, route, k)]["us_per_req"]
                          and by[(s, "stream", k)]["us_per_req"]]
            cpu_ratio = fmt_ratio(cpu_ratios) if route not in ("direct", "stream") and cpu_ratios else "–"
            w(f"| {ROUTES[route]} | {cell} | {to_direct} | {to_stream} | {p99} | {cpu} "
              f"| {us} | {cpu_ratio} |")
        w("")

    rep.end("forwarder", "Every run (value: req/s, MiB/s for 1 MiB; p99; other load in cores):", "value", BENIGN)


if __name__ == "__main__":
    main()
