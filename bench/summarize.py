#!/usr/bin/python3
"""Turn bench/run.sh's raw runs into the markdown report (standard library only).

usage: summarize.py META RECORDS
  META     key=value lines: machine, versions, settings (written by run.sh)
  RECORDS  one tab-separated line per wrk run: repeat, scenario, server, order, wrk log path,
           server CPU ticks, machine busy and steal ticks, wrk CPU seconds, wall seconds

Ratios are nuri / nginx, paired within a repeat (the two runs next to each other in time),
then the median and the min-max over the repeats.
"""

import statistics
import sys

from bench_report import errors, fmt_int, fmt_ratio, fmt_time, header, median_or_none, read_meta, \
    read_runs, stderr_problem

SCENARIOS = {
    "ka": "1 KiB, keep-alive",
    "close": "1 KiB, `Connection: close`",
    "1m": "1 MiB, keep-alive",
    "404": "404, keep-alive",
    "pipe": "1 KiB, {pipeline} pipelined",
}


def main():
    meta = read_meta(sys.argv[1])
    runs = read_runs(sys.argv[2], meta, "server", {"server_cpu": "server_ticks"})
    for run in runs:
        run["per_cpu"] = run["requests"] / run["server_cpu"] if run["server_cpu"] > 0 else None
        # Everything else the machine did meanwhile, in cores: other engineers' compilers,
        # the idle peer server, the kernel's work not charged to either process.
        run["other"] = max(0.0, run["busy"] - run["server_cpu"] - run["wrk_cpu"]) / run["elapsed"]

    scenarios = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
    by = {(r["scenario"], r["server"], r["repeat"]): r for r in runs}
    repeats = sorted({r["repeat"] for r in runs})

    def title(s):
        return SCENARIOS[s].format(pipeline=meta["pipeline"])

    out = []
    w = out.append
    header(w, "nuri vs nginx", meta,
           f", {meta['repeats']} repeat(s), nginx and nuri interleaved (odd repeats nginx first, "
           f"even repeats nuri first)")
    w(f"- nginx: `worker_processes {meta['workers']}`, `access_log off`, `sendfile on`, "
      f"`tcp_nopush off`, `tcp_nodelay on`, `keepalive_requests 1000000`, "
      f"`keepalive_timeout 300`, `log_not_found off`, `open_file_cache` off (the default)")
    w(f"- nuri: `serve --workers {meta['workers']}`, access log off (the default)")
    w("- ratio = nuri / nginx, paired per repeat: median (min–max). Above 1: nuri is faster, "
      "or needs less CPU per request. req per CPU-s = requests / server CPU seconds "
      "(utime+stime from /proc: nginx master and workers, nuri's one process)")
    w("")
    w("| scenario | nginx req/s | nuri req/s | ratio | p99 nginx | p99 nuri "
      "| req per CPU-s nginx | nuri | ratio |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scenarios:
        rows = {srv: [by[(s, srv, k)] for k in repeats if (s, srv, k) in by] for srv in ("nginx", "nuri")}
        pairs = [(by[(s, "nginx", k)], by[(s, "nuri", k)]) for k in repeats
                 if (s, "nginx", k) in by and (s, "nuri", k) in by]
        rps = {srv: statistics.median(r["rps"] for r in rows[srv]) for srv in rows}
        if s == "1m":
            mib = {srv: statistics.median(r["bytes_per_s"] for r in rows[srv]) / (1 << 20) for srv in rows}
            cell = {srv: f"{fmt_int(rps[srv])} ({fmt_int(mib[srv])} MiB/s)" for srv in rows}
            ratios = [b["bytes_per_s"] / a["bytes_per_s"] for a, b in pairs]
        else:
            cell = {srv: fmt_int(rps[srv]) for srv in rows}
            ratios = [b["rps"] / a["rps"] for a, b in pairs]
        p99 = {srv: median_or_none(r["p99"] for r in rows[srv]) for srv in rows}
        per_cpu = {srv: median_or_none(r["per_cpu"] for r in rows[srv]) for srv in rows}
        cpu_ratios = [b["per_cpu"] / a["per_cpu"] for a, b in pairs if a["per_cpu"] and b["per_cpu"]]
        w(f"| {title(s)} | {cell['nginx']} | {cell['nuri']} | {fmt_ratio(ratios)} "
          f"| {fmt_time(p99['nginx'])} | {fmt_time(p99['nuri'])} "
          f"| {fmt_int(per_cpu['nginx']) if per_cpu['nginx'] else 'n/a'} "
          f"| {fmt_int(per_cpu['nuri']) if per_cpu['nuri'] else 'n/a'} | {fmt_ratio(cpu_ratios)} |")
    w("")
    w("Conditions during the runs (cores busy with anything but the measured server and wrk: "
      "median, max over the runs; steal is time taken by the hypervisor):")
    w("")
    w("| scenario | server CPU, cores (nginx / nuri) | wrk CPU, cores | other load, cores | steal, cores |")
    w("|---|---:|---:|---:|---:|")
    for s in scenarios:
        rs = [r for r in runs if r["scenario"] == s]
        srv_cpu = {srv: statistics.median(r["server_cpu"] / r["elapsed"] for r in rs if r["server"] == srv)
                   for srv in ("nginx", "nuri")}
        wrk = statistics.median(r["wrk_cpu"] / r["elapsed"] for r in rs)
        other = [r["other"] for r in rs]
        steal = [r["steal"] / r["elapsed"] for r in rs]
        w(f"| {title(s)} | {srv_cpu['nginx']:.2f} / {srv_cpu['nuri']:.2f} | {wrk:.2f} "
          f"| {statistics.median(other):.2f}, max {max(other):.2f} "
          f"| {statistics.median(steal):.2f}, max {max(steal):.2f} |")
    w("")
    w("Every repeat (MiB/s instead of req/s for 1 MiB; other load in cores during each of the two runs):")
    w("")
    w("| scenario | repeat | first | nginx | nuri | ratio | req per CPU-s nginx | nuri | ratio "
      "| other load nginx / nuri |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in scenarios:
        for k in repeats:
            a, b = by.get((s, "nginx", k)), by.get((s, "nuri", k))
            if not a or not b:
                continue
            key = "bytes_per_s" if s == "1m" else "rps"
            scale = 1 << 20 if s == "1m" else 1
            first = "nginx" if a["order"] == 1 else "nuri"
            cpu_ratio = f"{b['per_cpu'] / a['per_cpu']:.2f}" if a["per_cpu"] and b["per_cpu"] else "n/a"
            w(f"| {title(s)} | {k} | {first} | {fmt_int(a[key] / scale)} | {fmt_int(b[key] / scale)} "
              f"| {b[key] / a[key]:.2f} "
              f"| {fmt_int(a['per_cpu']) if a['per_cpu'] else 'n/a'} "
              f"| {fmt_int(b['per_cpu']) if b['per_cpu'] else 'n/a'} | {cpu_ratio} "
              f"| {a['other']:.2f} / {b['other']:.2f} |")
    w("")

    # Anything that is not a clean run: socket errors, unexpected statuses, server stderr.
    problems = []
    for r in runs:
        where = f"repeat {r['repeat']}, {title(r['scenario'])}, {r['server']}"
        if r["socket_errors"]:
            problems.append(f"{where}: wrk `{r['socket_errors']}`")
        expected_non2xx = r["requests"] if r["scenario"] == "404" else 0
        if r["non2xx"] != expected_non2xx:
            problems.append(f"{where}: wrk `Non-2xx or 3xx responses: {r['non2xx']}` "
                            f"of {r['requests']} (expected {expected_non2xx})")
    for name, key in (("nuri stderr", "nuri_stderr_file"), ("nginx error.log", "nginx_error_log")):
        p = stderr_problem(f"{name} during the runs", meta[key])
        if p:
            problems.append(p)
    errors(w, problems, "none (no socket errors, no unexpected statuses, nothing on the servers' stderr).")
    print("\n".join(out))


if __name__ == "__main__":
    main()
