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

import statistics
import sys

from bench_report import RouteReport, fmt_int, fmt_ratio, fmt_time, header, median_or_none

SCENARIOS = {"1k": "1 KiB, keep-alive", "100k": "100 KiB, keep-alive"}
ROUTES = {"direct": "direct (back end)", "nuri": "nuri serve proxy", "nginx": "nginx proxy_pass",
          "ceiling": "*relay ceiling*"}
# wrk closes its connections in the middle of responses when a run ends.
BENIGN = ("Broken pipe", "Connection reset by peer")


def main():
    rep = RouteReport(sys.argv[1], sys.argv[2], SCENARIOS, ROUTES, "proxy_cpu", "proxy_ticks")
    meta, routes, repeats, by = rep.meta, rep.routes, rep.repeats, rep.by

    def paired(s, route, base, key="rps", invert=False):
        out = []
        for k in repeats:
            a, b = by.get((s, route, k)), by.get((s, base, k))
            if a and b and a[key] and b[key]:
                out.append(b[key] / a[key] if invert else a[key] / b[key])
        return out

    w = rep.w
    header(w, "nuri serve's reverse proxy vs nginx proxy_pass", meta,
           f" (keep-alive) through each route to one nginx back end ({meta['workers']} workers); "
           f"{meta['repeats']} repeat(s), the order of the routes rotating by one per repeat")
    w(f"- proxies: nuri `workers = {meta['workers']}`, `proxy_keepalive = {meta['keepalive']}`; "
      f"nginx `worker_processes {meta['workers']}`, `proxy_http_version 1.1`, upstream "
      f"`keepalive {meta['keepalive']}`, `Connection \"\"`, Host/X-Forwarded-*/Forwarded set as "
      "nuri sets them, proxy_buffering on (the default)")
    w(f"- *relay ceiling*: not a proxy: `bench/relay_ceiling.cpp`, {meta['workers']} epoll threads, one "
      "back-end connection per client, bytes passed on unread. No proxy can do less per request: its "
      "ratio to nginx is the most a real one reaches here")
    w("- req/s: median over the repeats. Ratios paired per repeat: median (min–max). nuri / nginx "
      "above 1: nuri faster. proxy CPU: CPU seconds of the proxy's processes during the run "
      "(utime+stime from /proc, children included) and per request; CPU per req nginx / nuri "
      "above 1: nuri needs less CPU per request")
    w("")
    for s in rep.scenarios:
        w(f"### {SCENARIOS[s]}")
        w("")
        w("| route | req/s | MiB/s | ratio to direct | p99 | proxy CPU s | proxy CPU µs/req |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for route, rs in rep.route_runs(s):
            to_direct = fmt_ratio(paired(s, route, "direct")) \
                if route != "direct" and "direct" in routes else "–"
            cpu, us = rep.cpu_cells(route, rs)
            w(f"| {ROUTES[route]} | {fmt_int(statistics.median(r['rps'] for r in rs))} "
              f"| {fmt_int(statistics.median(r['mib'] for r in rs))} | {to_direct} "
              f"| {fmt_time(median_or_none(r['p99'] for r in rs))} | {cpu} "
              f"| {us} |")
        w("")
        if "nuri" in routes and "nginx" in routes:
            w(f"nuri / nginx: req/s {fmt_ratio(paired(s, 'nuri', 'nginx'))}; "
              f"CPU per request, nginx / nuri: {fmt_ratio(paired(s, 'nuri', 'nginx', 'us_per_req', True))}")
            w("")
        if "ceiling" in routes and "nginx" in routes:
            w(f"relay ceiling / nginx: req/s {fmt_ratio(paired(s, 'ceiling', 'nginx'))}")
            w("")

    rep.end("proxy", "Every run (req/s; p99; other load in cores):", "rps", BENIGN)


if __name__ == "__main__":
    main()
