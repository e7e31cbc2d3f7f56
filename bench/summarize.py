#!/usr/bin/python3
"""Turn bench/run.sh's raw runs into the markdown report (standard library only).

usage: summarize.py META RECORDS
  META     key=value lines: machine, versions, settings, the servers measured and skipped, the
           idle scenario's records (IDLE), each server's error output (written by run.sh)
  RECORDS  one tab-separated line per wrk run: repeat, scenario, server, order, wrk log path,
           server CPU ticks, machine busy and steal ticks, wrk CPU seconds, wall seconds
  IDLE     one tab-separated line per idle run: repeat, server, connections open, answered
           before the run, answered after it, RSS and PSS (KiB) of the server's processes before
           and after the connections were opened

Ratios are to nginx, paired within a repeat (the runs of a repeat follow each other in time),
then the median and the min-max over the repeats.
"""

import csv
import statistics
import sys

from bench_report import RouteReport, fmt_int, fmt_ratio, fmt_time, header, median_or_none, read_meta

SCENARIOS = {
    "ka": "1 KiB, keep-alive",
    "close": "1 KiB, `Connection: close`",
    "1m": "1 MiB, keep-alive",
    "404": "404, keep-alive",
    "pipe": "1 KiB, {pipeline} pipelined",
    "idle": "1 KiB, keep-alive, {idle} idle connections open",
    "paced": "1 KiB, keep-alive, paced: each connection waits {pace} ms between requests",
}
SERVERS = {"nginx": "nginx", "h2o": "h2o", "lighttpd": "lighttpd", "nuri": "nuri", "ceiling": "*ceiling*"}
# Start-up lines in the peers' error logs, not errors of the run.
# Nor the lines of a stop: the idle scenario restarts each server (bench/run.sh, restart_server).
BENIGN = ("raised RLIMIT_NOFILE", "is ready to serve requests", "server started (lighttpd",
          "received SIGTERM, gracefully shutting down", "server stopped by UID",
          "Terminated: finishing requests in flight", "ceiling: 127.0.0.1:")
BASE = "nginx"


def read_idle(path):
    """{(repeat, server): the idle run's numbers}; bytes per idle connection from RSS and PSS."""
    idle = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            r = {k: int(v) for k, v in row.items() if k != "server"}
            n = max(1, r["open"])
            r["rss_per_conn"] = (r["rss_after_kib"] - r["rss_before_kib"]) * 1024 / n
            r["pss_per_conn"] = (r["pss_after_kib"] - r["pss_before_kib"]) * 1024 / n
            idle[(r["repeat"], row["server"])] = r
    return idle


def fmt_spread(values):
    """The median of VALUES, and their min–max when there are several."""
    med = statistics.median(values)
    return fmt_int(med) if len(values) == 1 else f"{fmt_int(med)} ({fmt_int(min(values))}–{fmt_int(max(values))})"


def main():
    meta = read_meta(sys.argv[1])
    titles = {s: t.format(pipeline=meta["pipeline"], idle=f"{int(meta['idle']):,}", pace=meta.get("pace", "?"))
              for s, t in SCENARIOS.items()}
    rep = RouteReport(sys.argv[1], sys.argv[2], titles, SERVERS, "server_cpu", "server_ticks",
                      who="server", backend=False)
    servers, repeats = rep.routes, rep.repeats
    for run in rep.runs:
        run["per_cpu"] = run["requests"] / run["server_cpu"] if run["server_cpu"] > 0 else None
        # The measured metric: MiB/s for 1 MiB responses, requests/s otherwise.
        run["value"] = run["mib"] if run["scenario"] == "1m" else run["rps"]
    idle = read_idle(meta["idle_records"])

    def paired(values):
        """Ratios SERVER / nginx within each repeat; VALUES: (repeat, server) -> number."""
        def ratios(server):
            return [values[(k, server)] / values[(k, BASE)] for k in repeats
                    if values.get((k, server)) and values.get((k, BASE))]
        return ratios

    w = rep.w
    header(w, "nuri vs nginx, h2o and lighttpd", meta,
           f", {meta['repeats']} repeat(s), the servers in turn, who goes first rotating by one "
           "per repeat", ("h2o", "lighttpd"))
    if meta.get("skipped"):
        w(f"- **skipped** (not installed): {meta['skipped']}")
    workers = meta["workers"]
    w(f"- fd limit (soft, inherited by every server): {meta['fd_limit']}")
    config = {
        "nginx": f"`worker_processes {workers}`, `worker_connections 12000`, `access_log off`, "
                 "`sendfile on`, `tcp_nopush off`, `tcp_nodelay on`, `keepalive_requests 1000000`, "
                 "`keepalive_timeout 300`, `log_not_found off`, `open_file_cache` off (the default)"
                 + (f", `listen ... {meta['nginx_listen']}`" if meta.get("nginx_listen")
                    else ", `listen` without `deferred` (the default; h2o and nuri defer accept)"),
        "h2o": f"`num-threads: {workers}`, `max-connections: 12000`, `http1-request-timeout: 300`, "
               "no access-log; no limit on requests per connection, no sendfile (h2o 2.2 has neither); "
               "its listener has TCP_DEFER_ACCEPT (always)",
        "lighttpd": f"`server.max-worker = {workers}`, `server.max-fds = {meta['fd_limit']}`, "
                    f"`server.max-connections = {meta.get('lighttpd_max_connections')}` (per process), "
                    "`server.max-keep-alive-requests = 65535` (its maximum), "
                    "`server.max-keep-alive-idle = 300`, `server.max-read-idle = 300`, "
                    "`server.max-write-idle = 300`, `server.network-backend = \"sendfile\"`, "
                    "no mod_accesslog",
        "nuri": f"`serve --workers {workers} --max-connections 12000 --idle-timeout 300`, "
                "access log off and `defer_accept` on (the defaults)",
        "ceiling": f"not a server: `bench/ceiling.cpp`, {workers} epoll threads, TCP_DEFER_ACCEPT and "
                   "TCP_NODELAY, answers from memory (1m.bin by `sendfile`) without parsing, no limits, "
                   "no timeouts, no Date per second. The least work any server on epoll does here: "
                   "its ratio to nginx is the most a real server can reach in the same run",
    }
    for server in servers:
        w(f"- {SERVERS[server]}: {config[server]}")
    w("- value: req/s, MiB/s for 1 MiB; median over the repeats (min–max). to nginx: the "
      "server / nginx within each repeat, median (min–max); above 1: faster, or less CPU per "
      "request. CPU s: the server's CPU seconds during the run (utime+stime from /proc: all "
      "processes and threads); req per CPU-s = requests / CPU s; wrk CPU s: the load generator's, "
      "in the same run (on 2 cores it competes with the server for the CPU)")
    w("")
    value = {(r["scenario"], r["repeat"], r["server"]): r["value"] for r in rep.runs}
    per_cpu = {(r["scenario"], r["repeat"], r["server"]): r["per_cpu"] for r in rep.runs}
    for s in rep.scenarios:
        unit = "MiB/s" if s == "1m" else "req/s"
        w(f"### {titles[s]}")
        w("")
        w(f"| server | {unit} | to nginx | p99 | CPU s | req per CPU-s | to nginx | wrk CPU s |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|")
        v = paired({(k, srv): x for (sc, k, srv), x in value.items() if sc == s})
        c = paired({(k, srv): x for (sc, k, srv), x in per_cpu.items() if sc == s})
        for server, rs in rep.route_runs(s):
            cell = fmt_spread([r["value"] for r in rs])
            if s == "1m":
                cell += f", {fmt_int(statistics.median(r['rps'] for r in rs))} req/s"
            pc = median_or_none(r["per_cpu"] for r in rs)
            w(f"| {SERVERS[server]} | {cell} "
              f"| {fmt_ratio(v(server)) if server != BASE and BASE in servers else '–'} "
              f"| {fmt_time(median_or_none(r['p99'] for r in rs))} "
              f"| {statistics.median(r['server_cpu'] for r in rs):.2f} "
              f"| {fmt_int(pc) if pc else 'n/a'} "
              f"| {fmt_ratio(c(server)) if server != BASE and BASE in servers else '–'} "
              f"| {statistics.median(r['wrk_cpu'] for r in rs):.2f} |")
        w("")
        if s == "idle":
            idle_table(w, idle, servers, repeats, paired, meta)
    lost = [f"idle, repeat {k}, {SERVERS[server]}: {r['open']} of {meta['idle']} connections opened, "
            f"{r['answered']} answered before the run, {r['still']} after it"
            for (k, server), r in sorted(idle.items())
            if not r["open"] == r["answered"] == r["still"] == int(meta["idle"])]
    rep.end("the measured server", "Every run (value: req/s, MiB/s for 1 MiB; p99; the server's CPU "
            "seconds; other load in cores):",
            "value", BENIGN,
            [(f"{server} {path.rsplit('/', 1)[-1]}", path) for server in servers
             for path in meta[f"errlog_{server}"].split()],
            ("404",), lost, run_cpu=True)


def idle_table(w, idle, servers, repeats, paired, meta):
    """What the idle connections cost each server in memory, and whether they all stayed open."""
    w(f"Memory of {int(meta['idle']):,} idle keep-alive connections (each sent one GET /1k.bin "
      "and read the answer): RSS and PSS summed over the server's processes, before the "
      "connections were opened and after they all answered; bytes per connection = the "
      "difference / connections open (median, min–max). Kernel socket buffers are not in it. "
      "to nginx: server / nginx, paired per repeat (below 1: less memory). still open: "
      "connections that answered one more request after the wrk run")
    w("")
    w("| server | open | answered | still open | RSS before → after, MiB | bytes per connection (RSS) "
      "| to nginx | bytes per connection (PSS) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    rss = paired({key: r["rss_per_conn"] for key, r in idle.items()})
    for server in servers:
        rs = [idle[(k, server)] for k in repeats if (k, server) in idle]
        if not rs:
            continue

        def lowest(key):
            return fmt_int(min(r[key] for r in rs))

        def spread(key):
            return fmt_spread([r[key] for r in rs])
        before = statistics.median(r["rss_before_kib"] for r in rs) / 1024
        after = statistics.median(r["rss_after_kib"] for r in rs) / 1024
        w(f"| {SERVERS[server]} | {lowest('open')} | {lowest('answered')} | {lowest('still')} "
          f"| {before:.1f} → {after:.1f} | {spread('rss_per_conn')} "
          f"| {fmt_ratio(rss(server)) if server != BASE and BASE in servers else '–'} "
          f"| {spread('pss_per_conn')} |")
    w("")


if __name__ == "__main__":
    main()
