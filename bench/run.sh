#!/usr/bin/env bash
# nuri against nginx, side by side, on this machine: same files, same load, same worker count.
# Prints a markdown table of nuri/nginx ratios and writes it to bench/results/latest.md.
# How to read it and the fairness rules: docs/benchmarks.md.
#
#   make bench                            # build nuri (Release), then this script
#   DURATION=3 REPEATS=1 bash bench/run.sh
#
# Environment (defaults in brackets):
#   DURATION [10]      seconds per wrk run
#   REPEATS [3]        repetitions of every scenario; nginx and nuri alternate who goes first
#   WORKERS [nproc]    nginx worker_processes and nuri --workers
#   THREADS [2]        wrk threads
#   CONNECTIONS [64]   wrk connections
#   PIPELINE [16]      requests per write in the pipelined scenario
#   SCENARIOS ["ka close 1m 404 pipe"]   subset and order of the scenarios
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]
#   OUT [bench/results/latest.md]
set -euo pipefail

BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # $repo, $bench_dir; REPEATS, WORKERS ... NURI_BIN
DURATION=${DURATION:-10}
PIPELINE=${PIPELINE:-16}
SCENARIOS=${SCENARIOS:-"ka close 1m 404 pipe"}
OUT=${OUT:-$bench_dir/results/latest.md}

bench_settings bench/run.sh PIPELINE -- SCENARIOS
require_in scenario "$SCENARIOS" ka close 1m 404 pipe
require_tools wrk curl cmp "$NGINX" "$PYTHON"

# ---------------------------------------------------------------------------------------------
# Temporary directory, servers and their cleanup (also on Ctrl-C), build.
bench_init nuri-bench
build_nuri
nuri_exe=$tmp/nuri

# Document root: 1 KiB and 1 MiB of random bytes, nothing at /missing.
make_docroot 1k.bin=1024 1m.bin=1048576
take_ports nginx nuri

# nginx: its own prefix, config, pid file and error log in $tmp; never /etc/nginx or port 80.
# -e: the error log before the config is read (Debian's default is /var/log/nginx/error.log).
ngx=$tmp/nginx
nginx_static_conf "$ngx" "${port_of[nginx]}" 4096
nginx_check "$ngx"
say "starting nginx on 127.0.0.1:${port_of[nginx]} ($WORKERS workers)"
start_nginx nginx "$ngx"
if ! wait_http "${pid_of[nginx]}" "http://127.0.0.1:${port_of[nginx]}/1k.bin"; then
  cat "$ngx/stdout" "$ngx/error.log" >&2 2>/dev/null || true
  die "nginx did not start on 127.0.0.1:${port_of[nginx]} (its output and error log above)"
fi

say "starting nuri on 127.0.0.1:${port_of[nuri]} ($WORKERS workers)"
start nuri "$tmp/nuri.err" "$nuri_exe" serve --root "$docroot" --listen "127.0.0.1:${port_of[nuri]}" \
  --workers "$WORKERS"
# start: nuri's stdout in nuri.err.out
if ! wait_http "${pid_of[nuri]}" "http://127.0.0.1:${port_of[nuri]}/1k.bin" ||
   ! grep -q "listening on http://127.0.0.1:${port_of[nuri]}/" "$tmp/nuri.err.out"; then
  cat "$tmp/nuri.err.out" "$tmp/nuri.err" >&2
  die "nuri did not start on 127.0.0.1:${port_of[nuri]} (its output above)"
fi

# ---------------------------------------------------------------------------------------------
# Both must serve the same bytes before anything is measured.
check_server() { # check_server NAME
  local name=$1 code
  check_bytes "$name" "${port_of[$name]}" 1k.bin 1m.bin
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port_of[$name]}/missing")
  [ "$code" = 404 ] || die "$name: GET /missing answered $code, expected 404"
  say "$name serves /1k.bin and /1m.bin byte-exact and 404 for /missing"
}
check_server nginx
check_server nuri

# ---------------------------------------------------------------------------------------------
# Measurement.
scenario_title() {
  case $1 in
    ka) echo "1 KiB, keep-alive" ;;
    close) echo "1 KiB, Connection: close" ;;
    1m) echo "1 MiB, keep-alive" ;;
    404) echo "404, keep-alive" ;;
    pipe) echo "1 KiB, $PIPELINE pipelined" ;;
  esac
}

records=$tmp/records.tsv
printf 'repeat\tscenario\tserver\torder\tlog\tserver_ticks\tbusy_ticks\tsteal_ticks\twrk_cpu_s\telapsed_s\n' >"$records"

run_one() { # run_one REPEAT SCENARIO SERVER ORDER
  local rep=$1 scen=$2 server=$3 order=$4 pid=${pid_of[$3]} url log args=() extra=()
  url=http://127.0.0.1:${port_of[$server]}
  case $scen in
    ka) url+=/1k.bin ;;
    close) url+=/1k.bin; args=(-H 'Connection: close') ;;
    1m) url+=/1m.bin ;;
    404) url+=/missing ;;
    pipe) args=(-s "$bench_dir/pipeline.lua"); extra=(-- /1k.bin "$PIPELINE") ;;
  esac
  log=$tmp/wrk.$rep.$scen.$server.log
  say "repeat $rep/$REPEATS, $(scenario_title "$scen"): $server"
  run_wrk "$log" "against $server" "$pid" -- "${args[@]}" "$url" "${extra[@]}"
  if ! kill -0 "$pid" 2>/dev/null; then
    local status=
    wait "$pid" 2>/dev/null || status=$?
    echo "---- wrk output:" >&3; cat "$log" >&3
    if [ "$server" = nuri ]; then
      echo "---- nuri stderr:" >&3; cat "$tmp/nuri.err" >&3
    else
      echo "---- nginx error.log:" >&3; cat "$ngx/error.log" >&3
    fi
    die "$server exited during the run (exit status ${status:-unknown}; above 128: killed by signal status-128)"
  fi
  wrk_fields
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$server" "$order" "$log" "$measured" >>"$records"
}

# Odd repeats: nginx first; even repeats: nuri first. Drift hits both.
measure_all run_one "nginx nuri"

# ---------------------------------------------------------------------------------------------
# Report.
{
  report_meta
  echo "nuri=$("$nuri_exe" --version 2>&1 | head -1) ($nuri_rev)"
  echo "pipeline=$PIPELINE"
  echo "nuri_stderr_file=$tmp/nuri.err"
  echo "nginx_error_log=$ngx/error.log"
} >"$tmp/meta.txt"
write_report summarize.py "$(dirname "$OUT")/latest-raw.log"
