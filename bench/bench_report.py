"""Shared by bench/summarize.py, summarize_forward.py and summarize_proxy.py (standard library
only): reading META, RECORDS and wrk's output, number formats, and the pieces of the markdown
report they have in common. All three are route reports (RouteReport): the same load on each of
several routes, the runs of a repeat rotating over them; for forward and proxy the routes lead
to one nginx back end, for summarize.py each route is a server of its own."""

import csv
import re
import statistics

TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def parse_wrk(path):
    """The numbers of one wrk --latency run, and the lines that report errors."""
    text = open(path, encoding="utf-8", errors="replace").read()
    run = {"text": text, "socket_errors": None, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if not m:
        raise SystemExit(f"summarize: no request count in {path}:\n{text}")
    run["requests"] = int(m.group(1))
    run["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", text)
    run["bytes_per_s"] = float(m.group(1)) * SIZE_UNITS[m.group(2)]
    m = re.search(r"^\s+99%\s+([\d.]+)(\w+)", text, re.M)
    run["p99"] = float(m.group(1)) * TIME_UNITS[m.group(2)] if m else None
    if run["p99"] == 0:
        # wrk 4.1 prints 0.00us for the 99th percentile of some runs (seen with pipelining)
        # whose 90th is in milliseconds: not a measurement.
        run["p99"] = None
    m = re.search(r"^\s*(Socket errors:.*)$", text, re.M)
    if m:
        run["socket_errors"] = m.group(1).strip()
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        run["non2xx"] = int(m.group(1))
    return run


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_time(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratios):
    if not ratios:
        return "n/a"
    med = statistics.median(ratios)
    if len(ratios) == 1:
        return f"**{med:.2f}**"
    return f"**{med:.2f}** ({min(ratios):.2f}–{max(ratios):.2f})"


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def read_meta(path):
    """META: the key=value lines the bench script wrote."""
    meta = {}
    for line in open(path, encoding="utf-8"):
        key, _, value = line.rstrip("\n").partition("=")
        meta[key] = value
    return meta


def read_runs(path, meta, who, ticks):
    """RECORDS: one dict a wrk run, its wrk numbers (parse_wrk) and repeat, scenario, WHO (the
    column naming the server or route), order, busy and steal (the machine's CPU seconds), wrk_cpu,
    elapsed, and for each KEY: COLUMN of TICKS, KEY = the CPU seconds of COLUMN's ticks."""
    clk = float(meta["clk_tck"])
    runs = []
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            run = parse_wrk(row["log"])
            run.update(repeat=int(row["repeat"]), scenario=row["scenario"], order=int(row["order"]))
            run[who] = row[who]
            for key, column in ticks.items():
                run[key] = int(row[column]) / clk
            run.update(busy=int(row["busy_ticks"]) / clk, steal=int(row["steal_ticks"]) / clk,
                       wrk_cpu=float(row["wrk_cpu_s"]), elapsed=float(row["elapsed_s"]))
            runs.append(run)
    return runs


def header(w, title, meta, load, tools=()):
    """The report's title and its first lines: machine, versions (TOOLS: more META keys, each a
    program name), command, load (wrk's command, then LOAD)."""
    w(f"# {title} — {meta['date']}")
    w("")
    w(f"- machine: {meta['nproc']} cores ({meta['cpu']}), {meta['kernel']}, "
      f"TCP congestion control {meta.get('tcp_cc', 'not recorded')}, qdisc {meta.get('qdisc', 'not recorded')}; "
      f"load average before {meta['load_before']}, after {meta['load_after']}")
    w(f"- versions: {meta['nginx']}, " + "".join(f"{t} {meta[t]}, " for t in tools)
      + f"wrk {meta['wrk']}, {meta['nuri']}")
    w(f"- command: `{meta['command']}`")
    w(f"- load: `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}s --latency`{load}")


def stderr_problem(name, path, benign=()):
    """The lines of the file PATH (a server's stderr or error log) but empty and BENIGN ones, as
    an item of the report's error list headed NAME; None if there are none."""
    try:
        lines = [line for line in open(path, encoding="utf-8", errors="replace").read().splitlines()
                 if line and not any(b in line for b in benign)]
    except OSError:
        lines = []
    if not lines:
        return None
    shown = lines[:20] + ([f"... {len(lines) - 20} more lines"] if len(lines) > 20 else [])
    return f"{name}:\n\n```\n" + "\n".join(shown) + "\n```"


def errors(w, problems, clean):
    """The report's last lines: Errors: CLEAN (what was checked), or the list of PROBLEMS."""
    w("Errors: " + (clean if not problems else "see below."))
    if problems:
        w("")
    for p in problems:
        w(f"- {p}")


class RouteReport:
    """The runs of bench/forward.sh or bench/proxy.sh: the same load through each of ROUTES
    (key: title) to one nginx back end; SCENARIOS (key: title). CPU is the key of the CPU
    seconds of a route's own processes (fwd_cpu, proxy_cpu), CPU_COLUMN the RECORDS column of
    their ticks. For bench/run.sh: WHO="server" (the RECORDS column naming the route), and
    BACKEND=False: each server is a route of its own, with no back end behind it."""

    def __init__(self, meta_path, records_path, scenarios, routes, cpu, cpu_column, who="route",
                 backend=True):
        self.meta = read_meta(meta_path)
        ticks = {cpu: cpu_column}
        if backend:
            ticks["backend_cpu"] = "backend_ticks"
        self.runs = read_runs(records_path, self.meta, who, ticks)
        for run in self.runs:
            run["route"] = run[who]
            run.setdefault("backend_cpu", 0.0)
            run["mib"] = run["bytes_per_s"] / (1 << 20)
            # The route's CPU per request in µs (none for direct).
            run["us_per_req"] = (run[cpu] / run["requests"] * 1e6
                                 if run["route"] != "direct" and run["requests"] else None)
            run["other"] = max(0.0, run["busy"] - run[cpu] - run["backend_cpu"]
                               - run["wrk_cpu"]) / run["elapsed"]
        self.cpu, self.backend = cpu, backend
        self.scenario_titles, self.route_titles = scenarios, routes
        self.scenarios = [s for s in scenarios if any(r["scenario"] == s for r in self.runs)]
        self.routes = [r for r in routes if any(x["route"] == r for x in self.runs)]
        self.repeats = sorted({r["repeat"] for r in self.runs})
        self.by = {(r["scenario"], r["route"], r["repeat"]): r for r in self.runs}
        self.out = []

    def w(self, line):
        self.out.append(line)

    def route_runs(self, s):
        """(route, its runs) in scenario S, for every route that has runs in it."""
        for route in self.routes:
            rs = [self.by[(s, route, k)] for k in self.repeats if (s, route, k) in self.by]
            if rs:
                yield route, rs

    def cpu_cells(self, route, rs):
        """The cells of a route's own CPU, medians over its runs RS: seconds a run, µs a request
        (– for direct)."""
        cpu = "–" if route == "direct" else f"{statistics.median(r[self.cpu] for r in rs):.2f}"
        us = median_or_none(r["us_per_req"] for r in rs)
        return cpu, "–" if us is None else f"{us:.1f}"

    def end(self, what, caption, key, benign, stderr_files=None, all_non2xx=(), more=(),
            run_cpu=False):
        """The sections after the scenarios' tables, then the whole report to stdout: conditions
        (WHAT: the route's own processes), every run (CAPTION; KEY: the measured value; RUN_CPU:
        with the route's CPU seconds), errors (BENIGN, STDERR_FILES, ALL_NON2XX, MORE: see
        errors)."""
        self.conditions(what)
        self.every_run(caption, key, run_cpu)
        self.errors(benign, stderr_files, all_non2xx, more)
        print("\n".join(self.out))

    def conditions(self, what):
        """The table of the machine's load during the runs; WHAT: the route's own processes."""
        w = self.w
        if self.backend:
            w("Conditions (cores, median and max over the runs): back end = the nginx behind every "
              f"route; other = machine busy time minus {what}, back end and wrk (other sessions' work).")
            first = ["back end"]
        else:
            w("Conditions (cores, median and max over the runs): each server's CPU during its own "
              f"runs; other = machine busy time minus {what} and wrk (other sessions' work, the "
              "idle peers, the kernel's work charged to no process).")
            first = [self.route_titles[r] for r in self.routes]
        w("")
        w("| scenario | " + " | ".join(first) + " | wrk | other | steal |")
        w("|---|" + "---:|" * (len(first) + 3))
        for s in self.scenarios:
            rs = [r for r in self.runs if r["scenario"] == s]

            def mm(values):
                return f"{statistics.median(values):.2f}, max {max(values):.2f}" if values else "–"
            if self.backend:
                cells = [mm([r["backend_cpu"] / r["elapsed"] for r in rs])]
            else:
                cells = [mm([r[self.cpu] / r["elapsed"] for r in rs if r["route"] == route])
                         for route in self.routes]
            w(f"| {self.scenario_titles[s]} | " + " | ".join(cells)
              + f" | {mm([r['wrk_cpu'] / r['elapsed'] for r in rs])} | {mm([r['other'] for r in rs])} "
              f"| {mm([r['steal'] / r['elapsed'] for r in rs])} |")
        w("")

    def every_run(self, caption, key, run_cpu=False):
        """The table of every run: KEY (the measured value), p99, (RUN_CPU: the route's CPU
        seconds) and other load."""
        w = self.w
        w(caption)
        w("")
        w("| scenario | repeat | " + " | ".join(self.route_titles[r] for r in self.routes) + " |")
        w("|---|---:|" + "---:|" * len(self.routes))
        for s in self.scenarios:
            for k in self.repeats:
                cells = []
                for route in self.routes:
                    r = self.by.get((s, route, k))
                    cpu = f"{r[self.cpu]:.2f} s, " if r and run_cpu else ""
                    cells.append("" if not r else f"{fmt_int(r[key])}, {fmt_time(r['p99'])}, {cpu}{r['other']:.2f}")
                w(f"| {self.scenario_titles[s]} | {k} | " + " | ".join(cells) + " |")
        w("")

    def errors(self, benign, stderr_files=None, all_non2xx=(), more=()):
        """Socket errors, non-2xx responses (in the scenarios ALL_NON2XX: any response that is
        not one), the lines of every stderr or error log but the BENIGN ones, and MORE problems
        the caller found. STDERR_FILES: (name, path) pairs; by default META's stderr_files, each
        named by its folder."""
        problems = list(more)
        for r in self.runs:
            where = (f"repeat {r['repeat']}, {self.scenario_titles[r['scenario']]}, "
                     f"{self.route_titles[r['route']]}")
            if r["socket_errors"]:
                problems.append(f"{where}: wrk `{r['socket_errors']}`")
            expected = r["requests"] if r["scenario"] in all_non2xx else 0
            if r["non2xx"] != expected:
                problems.append(f"{where}: wrk `Non-2xx or 3xx responses: {r['non2xx']}` of "
                                f"{r['requests']}" + (f" (expected {expected})" if expected else ""))
        if stderr_files is None:
            stderr_files = [(f"{path.rsplit('/', 1)[-1]} of {path.rsplit('/', 2)[-2]}", path)
                            for path in self.meta["stderr_files"].split()]
        for name, path in stderr_files:
            p = stderr_problem(name, path, benign)
            if p:
                problems.append(p)
        errors(self.w, problems,
               "none (no socket errors, no unexpected non-2xx responses, nothing on any stderr or error "
               "log).")
