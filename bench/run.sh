#!/usr/bin/env bash
# nuri against nginx, h2o and lighttpd, side by side, on this machine: same files, same load, same
# worker count. Prints a markdown table per scenario (ratios to nginx) and writes it to
# bench/results/latest.md. How to read it and the fairness rules: docs/benchmarks.md.
#
#   make bench                            # build nuri (Release), then this script
#   DURATION=3 REPEATS=1 IDLE=1000 bash bench/run.sh
#
# Environment (defaults in brackets):
#   DURATION [10]      seconds per wrk run
#   REPEATS [3]        repetitions of every scenario; the order of the servers rotates by one
#   WORKERS [nproc]    nginx worker_processes, h2o num-threads, lighttpd server.max-worker and
#                      nuri --workers
#   THREADS [2]        wrk threads
#   CONNECTIONS [64]   wrk connections
#   PIPELINE [16]      requests per write in the pipelined scenario
#   IDLE [10000]       idle keep-alive connections held open in the idle scenario
#   PACE [2]           milliseconds every connection waits between requests in the paced scenario
#   SCENARIOS ["ka close 1m 404 pipe paced idle"]   subset and order of the scenarios
#   SERVERS ["nginx h2o lighttpd nuri ceiling"]   subset of the servers (one not installed is
#                      skipped); ceiling is bench/ceiling.cpp, not a server: the least work any
#                      server on epoll can do here, the bound of every ratio (docs/benchmarks.md)
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]  H2O [/usr/bin/h2o]  LIGHTTPD [/usr/sbin/lighttpd]
#   NGINX_LISTEN ['']  flags for nginx's listen directive: `deferred` gives nginx the
#                      TCP_DEFER_ACCEPT that h2o and nuri have by default (nginx's default is off)
#   OUT [bench/results/latest.md]
set -euo pipefail

BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # $repo, $bench_dir; REPEATS, WORKERS ... NURI_BIN
DURATION=${DURATION:-10}
PIPELINE=${PIPELINE:-16}
IDLE=${IDLE:-10000}
PACE=${PACE:-2}
SCENARIOS=${SCENARIOS:-"ka close 1m 404 pipe paced idle"}
SERVERS=${SERVERS:-"nginx h2o lighttpd nuri ceiling"}
H2O=${H2O:-/usr/bin/h2o}
LIGHTTPD=${LIGHTTPD:-/usr/sbin/lighttpd}
OUT=${OUT:-$bench_dir/results/latest.md}
# Every server may hold this many connections (per process where that is how it counts them):
# the idle connections, wrk's and a margin.
MAX_CONNECTIONS=12000

NGINX_LISTEN=${NGINX_LISTEN:-}
bench_settings bench/run.sh PIPELINE IDLE PACE -- SCENARIOS SERVERS
[ -n "$NGINX_LISTEN" ] && command_line="NGINX_LISTEN='$NGINX_LISTEN' $command_line"
require_in scenario "$SCENARIOS" ka close 1m 404 pipe idle paced
require_in server "$SERVERS" nginx h2o lighttpd nuri ceiling
require_tools wrk curl cmp "$PYTHON"
[[ " $SERVERS " == *" ceiling "* ]] && require_tools g++

# One fd per connection in the servers and in the idle helper: raise the soft limit as far as
# the hard limit allows (the servers inherit it; 20,000 in this container).
fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=1048576
ulimit -n "$fd_hard" 2>/dev/null || true
fd_limit=$(ulimit -n)
if [[ " $SCENARIOS " == *" idle "* ]] && ((IDLE + CONNECTIONS + 200 > fd_limit)); then
  die "the fd limit ($fd_limit, hard $fd_hard) is too low for IDLE=$IDLE connections"
fi

# A server that is not installed is skipped and named in the report, not a failure.
declare -A bin_of=([nginx]=$NGINX [h2o]=$H2O [lighttpd]=$LIGHTTPD [nuri]=nuri [ceiling]=ceiling)
servers=()
skipped=
for s in $SERVERS; do
  if [ "$s" = nuri ] || [ "$s" = ceiling ] || command -v "${bin_of[$s]}" >/dev/null; then
    servers+=("$s")
  else
    say "skipping $s: ${bin_of[$s]} not found (bash scripts/install-deps.sh installs it)"
    skipped+="$s (${bin_of[$s]} not found); "
  fi
done
((${#servers[@]} > 0)) || die "no server to measure"

# ---------------------------------------------------------------------------------------------
# Temporary directory, servers and their cleanup (also on Ctrl-C), build.
bench_init nuri-bench
if [[ " ${servers[*]} " == *" nuri "* ]]; then
  build_nuri
  nuri_exe=$tmp/nuri
fi
if [[ " ${servers[*]} " == *" ceiling "* ]]; then
  g++ -O2 -std=c++20 -pthread -o "$tmp/ceiling" "$bench_dir/ceiling.cpp" || die "bench/ceiling.cpp did not build"
fi

# Document root: 1 KiB and 1 MiB of random bytes, nothing at /missing.
make_docroot 1k.bin=1024 1m.bin=1048576
take_ports "${servers[@]}"

# Each server's error output (stderr, error log), checked for lines after the runs.
declare -A errlog_of=()

# nginx: its own prefix, config, pid file and error log in $tmp; never /etc/nginx or port 80.
# -e: the error log before the config is read (Debian's default is /var/log/nginx/error.log).
start_server_nginx() {
  local dir=$tmp/nginx
  nginx_static_conf "$dir" "${port_of[nginx]}" "$MAX_CONNECTIONS" "$NGINX_LISTEN"
  nginx_check "$dir"
  start_nginx nginx "$dir"
  errlog_of[nginx]="$dir/error.log $dir/stdout"
}

# h2o 2.2: one process, num-threads event loops sharing the listening socket. No access-log
# directive: no access log. http1-request-timeout is also how long an idle HTTP/1 keep-alive
# connection is kept (default 10 s); h2o has no limit on requests per connection and no
# sendfile (it reads files into its buffers). Started as root it runs as nobody (so no pid-file:
# nobody may not write one in $tmp); its error-log is opened before that.
start_server_h2o() {
  local dir=$tmp/h2o
  mkdir -p "$dir"
  cat >"$dir/h2o.conf" <<EOF
num-threads: $WORKERS
max-connections: $MAX_CONNECTIONS
http1-request-timeout: 300
error-log: $dir/error.log
listen:
  host: 127.0.0.1
  port: ${port_of[h2o]}
hosts:
  default:
    paths:
      /:
        file.dir: $docroot
EOF
  "$H2O" -t -c "$dir/h2o.conf" >"$dir/test.log" 2>&1 || { cat "$dir/test.log" >&2; die "h2o rejected $dir/h2o.conf"; }
  start h2o "$dir/stderr" "$H2O" -c "$dir/h2o.conf"
  errlog_of[h2o]="$dir/error.log $dir/stderr"
}

# lighttpd 1.4: one process by default; server.max-worker forks that many workers sharing the
# listening socket (a master that only watches them, as nginx's). mod_accesslog not loaded: no
# access log. It caps connections per process at max-fds / 2 (an fd for each connection's file).
start_server_lighttpd() {
  local dir=$tmp/lighttpd conns=$MAX_CONNECTIONS
  ((conns > fd_limit / 2)) && conns=$((fd_limit / 2))
  mkdir -p "$dir"
  {
    cat <<EOF
server.document-root = "$docroot"
server.bind = "127.0.0.1"
server.port = ${port_of[lighttpd]}
server.errorlog = "$dir/error.log"
server.max-worker = $WORKERS
server.max-fds = $fd_limit
server.max-connections = $conns
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle = 300
server.max-read-idle = 300
server.max-write-idle = 300
server.network-backend = "sendfile"
server.event-handler = "linux-sysepoll"
mimetype.assign = (".bin" => "application/octet-stream")
EOF
    # As nginx's workers: not as root. It opens its error log after dropping privileges.
    if [ "$(id -u)" = 0 ]; then
      echo 'server.username = "nobody"'
      echo 'server.groupname = "nogroup"'
    fi
  } >"$dir/lighttpd.conf"
  : >"$dir/error.log"
  [ "$(id -u)" = 0 ] && chown nobody "$dir/error.log"
  "$LIGHTTPD" -tt -f "$dir/lighttpd.conf" >"$dir/test.log" 2>&1 ||
    { cat "$dir/test.log" >&2; die "lighttpd rejected $dir/lighttpd.conf"; }
  start lighttpd "$dir/stderr" "$LIGHTTPD" -D -f "$dir/lighttpd.conf"
  errlog_of[lighttpd]="$dir/error.log $dir/stderr"
}

start_server_nuri() {
  start nuri "$tmp/nuri.err" "$nuri_exe" serve --root "$docroot" --listen "127.0.0.1:${port_of[nuri]}" \
    --workers "$WORKERS" --max-connections "$MAX_CONNECTIONS" --idle-timeout 300
  # start: nuri's stdout in nuri.err.out
  errlog_of[nuri]="$tmp/nuri.err"
}

# The ceiling (bench/ceiling.cpp): fixed answers from memory, 1m.bin by sendfile, no parsing.
start_server_ceiling() {
  start ceiling "$tmp/ceiling.err" "$tmp/ceiling" "${port_of[ceiling]}" "$docroot" "$WORKERS"
  errlog_of[ceiling]="$tmp/ceiling.err"
}

show_errlog() { # show_errlog SERVER: its error output, to the script's stderr
  local f
  for f in ${errlog_of[$1]}; do echo "---- $f:" >&3; cat "$f" >&3 2>/dev/null || true; done
}

launch_server() { # launch_server NAME: started and answering on its port, or die with its output
  "start_server_$1"
  # nuri also says where it listens: the port must be its own, not another process's.
  if ! wait_http "${pid_of[$1]}" "http://127.0.0.1:${port_of[$1]}/1k.bin" ||
     { [ "$1" = nuri ] && ! grep -q "listening on http://127.0.0.1:${port_of[nuri]}/" "$tmp/nuri.err.out"; }; then
    show_errlog "$1"
    if [ "$1" = nuri ]; then cat "$tmp/nuri.err.out" >&3; fi
    die "$1 did not start on 127.0.0.1:${port_of[$1]} (its output above)"
  fi
}

for s in "${servers[@]}"; do
  say "starting $s on 127.0.0.1:${port_of[$s]} ($WORKERS workers)"
  launch_server "$s"
done

# ---------------------------------------------------------------------------------------------
# All must serve the same bytes before anything is measured.
check_server() { # check_server NAME
  local name=$1 code
  check_bytes "$name" "${port_of[$name]}" 1k.bin 1m.bin
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port_of[$name]}/missing")
  [ "$code" = 404 ] || die "$name: GET /missing answered $code, expected 404"
  say "$name serves /1k.bin and /1m.bin byte-exact and 404 for /missing"
}
for s in "${servers[@]}"; do check_server "$s"; done

# ---------------------------------------------------------------------------------------------
# Measurement.
records=$tmp/records.tsv
printf 'repeat\tscenario\tserver\torder\tlog\tserver_ticks\tbusy_ticks\tsteal_ticks\twrk_cpu_s\telapsed_s\n' >"$records"
idle_records=$tmp/idle.tsv
printf 'repeat\tserver\topen\tanswered\tstill\trss_before_kib\trss_after_kib\tpss_before_kib\tpss_after_kib\n' >"$idle_records"

idle_open() { # idle_open SERVER: IDLE connections held open by bench/idle.py (a coprocess);
  # $idle_line: its report (open, answered, RSS and PSS before and after)
  coproc IDLE_HELPER { exec "$PYTHON" "$bench_dir/idle.py" "${port_of[$1]}" "$IDLE" "${pid_of[$1]}"; }
  pid_of[idle]=$IDLE_HELPER_PID
  idle_in=${IDLE_HELPER[1]} idle_out=${IDLE_HELPER[0]}
  read -r -t 300 -u "$idle_out" idle_line || die "$1: bench/idle.py did not open $IDLE connections"
  [[ $idle_line == open* ]] || die "$1: bench/idle.py: $idle_line"
  say "$1: $idle_line"
}

idle_close() { # idle_close REPEAT SERVER: one more request on every idle connection, a line in
  # $idle_records, the connections closed
  local still
  echo check >&"$idle_in"
  read -r -t 300 -u "$idle_out" still || die "$2: bench/idle.py did not answer after the run"
  wait "${pid_of[idle]}" || die "$2: bench/idle.py failed"
  unset 'pid_of[idle]'
  say "$2: $still of the idle connections answered after the run"
  # shellcheck disable=SC2086
  set -- "$1" "$2" $idle_line ${still#still }
  # open N answered N rss_before K rss_after K pss_before K pss_after K STILL
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$4" "$6" "${15}" "$8" "${10}" "${12}" "${14}" \
    >>"$idle_records"
}

restart_server() { # restart_server NAME: stopped and started again, its error output kept
  # The idle scenario measures memory as RSS after minus RSS before. A server that has run the
  # earlier scenarios holds memory its allocator or its own pools kept from them (nuri's spare
  # buffers after the pipelined run, for one), and new connections fill that first, so the
  # difference would understate what they cost. A fresh process has no such reserve.
  local s=$1 f kept=
  stop_pid "${pid_of[$s]}" "$s"
  wait "${pid_of[$s]}" 2>/dev/null || true
  for f in ${errlog_of[$s]}; do
    if [[ $f =~ \.[0-9]+$ ]]; then kept+=" $f"; continue; fi  # kept at an earlier restart
    [ -e "$f" ] || continue
    mv "$f" "$f.$restarts" && kept+=" $f.$restarts"
  done
  restarts=$((restarts + 1))
  launch_server "$s"
  errlog_of[$s]+=$kept
  warm_up "${port_of[$s]}"  # as at the start, so that the run is not its first requests
}
restarts=0

run_one() { # run_one REPEAT SCENARIO SERVER ORDER
  local rep=$1 scen=$2 server=$3 order=$4 pid=${pid_of[$3]} url log args=() extra=()
  url=http://127.0.0.1:${port_of[$server]}
  case $scen in
    ka | idle) url+=/1k.bin ;;
    close) url+=/1k.bin; args=(-H 'Connection: close') ;;
    1m) url+=/1m.bin ;;
    404) url+=/missing ;;
    pipe) args=(-s "$bench_dir/pipeline.lua"); extra=(-- /1k.bin "$PIPELINE") ;;
    paced) args=(-s "$bench_dir/paced.lua"); extra=(-- /1k.bin "$PACE") ;;
  esac
  log=$tmp/wrk.$rep.$scen.$server.log
  say "repeat $rep/$REPEATS, $scen: $server"
  if ! kill -0 "$pid" 2>/dev/null; then
    show_errlog "$server"
    die "$server exited between runs, before $scen of repeat $rep (its error output above)"
  fi
  if [ "$scen" = idle ]; then
    restart_server "$server"
    pid=${pid_of[$server]}
    idle_open "$server"
  fi
  run_wrk "$log" "against $server" "$pid" -- "${args[@]}" "$url" "${extra[@]}"
  if ! kill -0 "$pid" 2>/dev/null; then
    local status=
    wait "$pid" 2>/dev/null || status=$?
    echo "---- wrk output:" >&3; cat "$log" >&3
    show_errlog "$server"
    die "$server exited during the run (exit status ${status:-unknown}; above 128: killed by signal status-128)"
  fi
  wrk_fields
  [ "$scen" = idle ] && idle_close "$rep" "$server"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$server" "$order" "$log" "$measured" >>"$records"
}

# Every repeat, every scenario: each server in turn, who goes first rotating (A B C D, B C D A,
# ...). Drift of the machine's load hits every server.
measure_all run_one "${servers[*]}"

# ---------------------------------------------------------------------------------------------
# Report.
version_of() { # the version of a measured server (nginx's is in report_meta)
  # (nuri's line in the report is the version alone, without the name before it)
  [[ " ${servers[*]} " == *" $1 "* ]] || { [ "$1" = nuri ] && echo "nuri not measured" || echo "not measured"; return; }
  case $1 in
    h2o) "$H2O" --version 2>&1 | head -1 | sed 's/^h2o version //' ;;
    lighttpd) "$LIGHTTPD" -v 2>&1 | head -1 | cut -d' ' -f1 | sed 's,^lighttpd/,,' ;;
    nuri) echo "$("$nuri_exe" --version 2>&1 | head -1) ($nuri_rev)" ;;
    ceiling) echo "bench/ceiling.cpp ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))" ;;
  esac
}
{
  report_meta
  echo "servers=${servers[*]}"
  echo "skipped=${skipped%; }"
  for s in h2o lighttpd nuri ceiling; do echo "$s=$(version_of "$s")"; done
  echo "pipeline=$PIPELINE"
  echo "idle=$IDLE"
  echo "pace=$PACE"
  echo "fd_limit=$fd_limit"
  echo "nginx_listen=$NGINX_LISTEN"
  echo "idle_records=$idle_records"
  echo "lighttpd_max_connections=$(grep -s max-connections "$tmp/lighttpd/lighttpd.conf" | awk '{ print $3 }')"
  for s in "${servers[@]}"; do echo "errlog_$s=${errlog_of[$s]}"; done
} >"$tmp/meta.txt"
write_report summarize.py "$(dirname "$OUT")/latest-raw.log"
