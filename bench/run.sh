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

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$repo/bench

DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-$(nproc)}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
PIPELINE=${PIPELINE:-16}
SCENARIOS=${SCENARIOS:-"ka close 1m 404 pipe"}
NGINX=${NGINX:-/usr/sbin/nginx}
NURI_BIN=${NURI_BIN:-}
OUT=${OUT:-$bench_dir/results/latest.md}
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$bench_dir/lib.sh"

require_positive DURATION REPEATS WORKERS THREADS CONNECTIONS PIPELINE
require_in scenario "$SCENARIOS" ka close 1m 404 pipe
require_tools wrk curl cmp "$NGINX" "$PYTHON"

# The exact command, with every setting, for the report.
command_line="DURATION=$DURATION REPEATS=$REPEATS WORKERS=$WORKERS THREADS=$THREADS"
command_line+=" CONNECTIONS=$CONNECTIONS PIPELINE=$PIPELINE SCENARIOS='$SCENARIOS'"
[ -n "$NURI_BIN" ] && command_line+=" NURI_BIN=$NURI_BIN"
command_line+=" bash bench/run.sh"

# ---------------------------------------------------------------------------------------------
# Temporary directory, servers and their cleanup (also on Ctrl-C), build.
bench_init nuri-bench
build_nuri
nuri_exe=$tmp/nuri

# ---------------------------------------------------------------------------------------------
# Document root: 1 KiB and 1 MiB of random bytes, nothing at /missing.
# World-readable: nginx's workers run as nobody when started by root.
docroot=$tmp/htdocs
mkdir -p "$docroot"
head -c 1024 /dev/urandom >"$docroot/1k.bin"
head -c 1048576 /dev/urandom >"$docroot/1m.bin"
chmod 755 "$tmp" "$docroot"
chmod 644 "$docroot"/*.bin

nginx_port=$(free_port)
nuri_port=$(free_port)

# nginx: its own prefix, config, pid file and error log in $tmp; never /etc/nginx or port 80.
# -e: the error log before the config is read (Debian's default is /var/log/nginx/error.log).
ngx=$tmp/nginx
mkdir -p "$ngx/logs" "$ngx/tmp"
cat >"$ngx/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events {
    worker_connections 4096;
}
http {
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300;
    # nuri does not log a 404 anywhere; nginx would write an error.log line for each one.
    log_not_found off;
    # open_file_cache: off, the nginx default.
    client_body_temp_path $ngx/tmp/client_body;
    proxy_temp_path $ngx/tmp/proxy;
    fastcgi_temp_path $ngx/tmp/fastcgi;
    uwsgi_temp_path $ngx/tmp/uwsgi;
    scgi_temp_path $ngx/tmp/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        root $docroot;
    }
}
EOF
nginx_args=(-p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" -g 'daemon off;')
if ! "$NGINX" -t -q "${nginx_args[@]}" >"$ngx/test.log" 2>&1; then
  cat "$ngx/test.log" >&2
  die "nginx rejected its configuration ($ngx/nginx.conf above)"
fi
say "starting nginx on 127.0.0.1:$nginx_port ($WORKERS workers)"
"$NGINX" "${nginx_args[@]}" >"$ngx/stdout" 2>&1 &
pid_of[nginx]=$!
nginx_pid=${pid_of[nginx]}
if ! wait_http "$nginx_pid" "http://127.0.0.1:$nginx_port/1k.bin"; then
  cat "$ngx/stdout" "$ngx/error.log" >&2 2>/dev/null || true
  die "nginx did not start on 127.0.0.1:$nginx_port (its output and error log above)"
fi

say "starting nuri on 127.0.0.1:$nuri_port ($WORKERS workers)"
"$nuri_exe" serve --root "$docroot" --listen "127.0.0.1:$nuri_port" --workers "$WORKERS" \
  >"$tmp/nuri.out" 2>"$tmp/nuri.err" &
pid_of[nuri]=$!
nuri_pid=${pid_of[nuri]}
if ! wait_http "$nuri_pid" "http://127.0.0.1:$nuri_port/1k.bin" ||
   ! grep -q "listening on http://127.0.0.1:$nuri_port/" "$tmp/nuri.out"; then
  cat "$tmp/nuri.out" "$tmp/nuri.err" >&2
  die "nuri did not start on 127.0.0.1:$nuri_port (its output above)"
fi

# ---------------------------------------------------------------------------------------------
# Both must serve the same bytes before anything is measured.
check_server() { # check_server NAME PORT
  local name=$1 port=$2 f code
  for f in 1k.bin 1m.bin; do
    curl -sS --fail --max-time 10 -o "$tmp/got.$f" "http://127.0.0.1:$port/$f" ||
      die "$name: GET /$f failed"
    cmp -s "$tmp/got.$f" "$docroot/$f" || die "$name: GET /$f is not byte-exact"
  done
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/missing")
  [ "$code" = 404 ] || die "$name: GET /missing answered $code, expected 404"
  say "$name serves /1k.bin and /1m.bin byte-exact and 404 for /missing"
}
check_server nginx "$nginx_port"
check_server nuri "$nuri_port"

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
  local rep=$1 scen=$2 server=$3 order=$4 port pid url log t0 t1 c0 c1 m0 m1 w
  case $server in
    nginx) port=$nginx_port pid=$nginx_pid ;;
    nuri) port=$nuri_port pid=$nuri_pid ;;
  esac
  local args=(-t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency)
  url=http://127.0.0.1:$port
  case $scen in
    ka) url+=/1k.bin ;;
    close) url+=/1k.bin; args+=(-H 'Connection: close') ;;
    1m) url+=/1m.bin ;;
    404) url+=/missing ;;
    pipe) args+=(-s "$bench_dir/pipeline.lua") ;;
  esac
  log=$tmp/wrk.$rep.$scen.$server.log
  local extra=()
  [ "$scen" = pipe ] && extra=(-- /1k.bin "$PIPELINE")
  say "repeat $rep/$REPEATS, $(scenario_title "$scen"): $server"
  c0=$(ticks "$pid"); m0=$(machine_ticks); t0=$(now)
  local TIMEFORMAT='%U %S'
  if ! { time wrk "${args[@]}" "$url" "${extra[@]}" >"$log" 2>&1; } 2>"$log.time"; then
    cat "$log" >&2
    die "wrk failed against $server"
  fi
  t1=$(now)
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
  m1=$(machine_ticks); c1=$(ticks "$pid")
  w=$(tail -n 1 "$log.time" | awk '{ print $1 + $2 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$server" "$order" "$log" \
    "$((c1 - c0))" "$(( ${m1% *} - ${m0% *} ))" "$(( ${m1#* } - ${m0#* } ))" "$w" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >>"$records"
}

# Warm-up, not measured: page cache, nginx's and nuri's lazily built state.
for s in nginx nuri; do
  port=$nginx_port; [ $s = nuri ] && port=$nuri_port
  wrk -t "$THREADS" -c "$CONNECTIONS" -d 1s "http://127.0.0.1:$port/1k.bin" >/dev/null 2>&1 || true
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((rep = 1; rep <= REPEATS; rep++)); do
  for scen in $SCENARIOS; do
    # Odd repeats: nginx first; even repeats: nuri first. Drift hits both.
    if ((rep % 2 == 1)); then
      run_one "$rep" "$scen" nginx 1; run_one "$rep" "$scen" nuri 2
    else
      run_one "$rep" "$scen" nuri 1; run_one "$rep" "$scen" nginx 2
    fi
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Report.
mkdir -p "$(dirname "$OUT")"
{
  echo "date=$started"
  echo "command=$command_line"
  machine_meta
  echo "nuri=$("$nuri_exe" --version 2>&1 | head -1) ($nuri_rev)"
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "duration=$DURATION"
  echo "repeats=$REPEATS"
  echo "workers=$WORKERS"
  echo "threads=$THREADS"
  echo "connections=$CONNECTIONS"
  echo "pipeline=$PIPELINE"
  echo "nuri_stderr_file=$tmp/nuri.err"
  echo "nginx_error_log=$ngx/error.log"
} >"$tmp/meta.txt"

"$PYTHON" "$bench_dir/summarize.py" "$tmp/meta.txt" "$records" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
# The raw wrk output of every run, next to the table (not committed: it changes every run).
for f in $(tail -n +2 "$records" | cut -f5); do
  echo "==== $(basename "$f" .log)"
  cat "$f"
done >"$(dirname "$OUT")/latest-raw.log"
cat "$OUT"
say "written to ${OUT#"$repo"/} (raw wrk output: $(dirname "${OUT#"$repo"/}")/latest-raw.log)"
