# Shared by bench/run.sh, bench/forward.sh and bench/proxy.sh (sourced, not run).
#
# The caller sets BENCH_NAME (the prefix of its messages) before sourcing; this sets $repo,
# $bench_dir and the settings every script has. The caller then sets its own defaults, calls
# bench_settings (checks them, makes $command_line) and bench_init, which makes $tmp and the
# cleanup trap. Processes started with `start NAME LOG CMD...` are stopped on exit (also Ctrl-C or
# a failure), their children too. The measurement (run_wrk, wrk_fields; for the scripts whose
# routes go to one nginx back end: run_route) and the report (report_meta, write_report) follow.

PYTHON=/usr/bin/python3  # Debian's interpreter, standard library only
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)

# The settings every script has (each documents them in its header and sets DURATION and OUT).
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-$(nproc)}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
NGINX=${NGINX:-/usr/sbin/nginx}
NURI_BIN=${NURI_BIN:-}

# fd 3: the script's stderr, also from inside a redirected block (a trap firing during wrk).
exec 3>&2
die() { echo "$BENCH_NAME: error: $*" >&3; exit 1; }
say() { echo "$BENCH_NAME: $*" >&3; }

require_positive() { # require_positive VAR...: each must hold a positive integer
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
  done
}

require_in() { # require_in WHAT "LIST" KNOWN...: every word of LIST must be one of KNOWN
  local what=$1 list=$2 w k ok
  shift 2
  for w in $list; do
    ok=
    for k in "$@"; do [ "$w" = "$k" ] && ok=1; done
    [ -n "$ok" ] || die "unknown $what '$w' (known: $*)"
  done
}

require_tools() { # require_tools TOOL...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (bash scripts/install-deps.sh installs it)"
  done
}

bench_settings() { # bench_settings SCRIPT [NAME...] [-- LIST-NAME...]: DURATION, REPEATS, WORKERS,
  # THREADS, CONNECTIONS and each NAME must hold a positive integer; sets $command_line, the exact
  # command with every setting (a LIST-NAME's value in quotes) for the report
  local script=$1 name quote=
  shift
  command_line=
  for name in DURATION REPEATS WORKERS THREADS CONNECTIONS "$@"; do
    if [ "$name" = -- ]; then
      quote="'"
      continue
    fi
    [ -n "$quote" ] || require_positive "$name"
    command_line+="$name=$quote${!name}$quote "
  done
  [ -n "$NURI_BIN" ] && command_line+="NURI_BIN=$NURI_BIN "
  command_line+="bash $script"
}

# ---------------------------------------------------------------------------------------------
# Temporary directory, processes, and their cleanup.
declare -A pid_of=()

stop_pid() { # stop_pid PID NAME: SIGTERM, wait up to 15 s, then SIGKILL
  local pid=$1 name=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "$name (pid $pid) still running 15 s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

bench_cleanup() {
  local rc=$? name children
  trap - EXIT INT TERM
  for name in "${!pid_of[@]}"; do
    children=$(pgrep -P "${pid_of[$name]}" || true)
    stop_pid "${pid_of[$name]}" "$name"
    for c in $children; do stop_pid "$c" "$name child"; done
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
  exit "$rc"
}

bench_init() { # bench_init TMP-PREFIX: $tmp and the traps
  tmp=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'say "interrupted"; exit 130' INT
  trap 'exit 143' TERM
}

start() { # start NAME ERRFILE CMD...: in the background (stdout to ERRFILE.out), remembered
  # Each in a session and process group of its own: lighttpd's master stops its workers with a
  # SIGTERM to its whole process group, which would otherwise stop this script and every other
  # server with it (when the idle scenario restarts lighttpd). setsid execs in place (a
  # background job is no group leader), so $! is the server's pid.
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log.out" 2>"$log" &
  pid_of[$name]=$!
}

# ---------------------------------------------------------------------------------------------
# nuri: build (unless NURI_BIN is set), private copy at $tmp/nuri, and the commit in $nuri_rev.
build_relay_ceiling() { # build_relay_ceiling: bench/relay_ceiling.cpp at $tmp/relay_ceiling
  require_tools g++
  g++ -O2 -std=c++20 -pthread -o "$tmp/relay_ceiling" "$bench_dir/relay_ceiling.cpp" ||
    die "bench/relay_ceiling.cpp did not build"
}

start_relay_ceiling() { # start_relay_ceiling: the relay ceiling on port_of[ceiling], to the back end
  start ceiling "$tmp/ceiling.err" "$tmp/relay_ceiling" "${port_of[ceiling]}" "${port_of[backend]}" "$WORKERS"
}

build_nuri() {
  if [ -z "${NURI_BIN:-}" ]; then
    say "building nuri (Release)"
    if ! { cmake -S "$repo" -B "$repo/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
             -DNURI_WERROR=ON && ninja -C "$repo/build/release" nuri; } >"$tmp/build.log" 2>&1; then
      cat "$tmp/build.log" >&2
      die "the build failed"
    fi
    NURI_BIN=$repo/build/release/nuri
  fi
  [ -x "$NURI_BIN" ] || die "$NURI_BIN is not an executable"
  # Run a private copy: others may relink build/release/nuri while the benchmark runs.
  cp "$NURI_BIN" "$tmp/nuri"
  # The commit the binary was built from (others may commit or edit src/ during the run).
  nuri_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$repo" status --porcelain -- src include CMakeLists.txt 2>/dev/null)" ]; then
    nuri_rev+=" with uncommitted changes in src/"
  fi
}

make_docroot() { # make_docroot FILE=BYTES...: $docroot, with FILE of BYTES random bytes each
  local spec
  docroot=$tmp/htdocs
  mkdir -p "$docroot"
  for spec in "$@"; do head -c "${spec#*=}" /dev/urandom >"$docroot/${spec%%=*}"; done
  # World-readable: nginx's workers run as nobody when started by root.
  chmod 755 "$tmp" "$docroot"
  chmod 644 "$docroot"/*
}

# ---------------------------------------------------------------------------------------------
# Ports, readiness.
declare -A port_of=()
used_ports=" "
free_port() { # a free port of 127.0.0.1, never one this script already handed out
  local p
  while :; do
    p=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    [[ $used_ports == *" $p "* ]] || break
  done
  used_ports+="$p "
  echo "$p"
}

take_ports() { # take_ports NAME...: a free port for each in port_of; port_of[direct] is the back end's
  local name
  for name in "$@"; do port_of[$name]=$(free_port); done
  if [ -n "${port_of[backend]:-}" ]; then port_of[direct]=${port_of[backend]}; fi
}

wait_http() { # wait_http PID URL: until URL answers (any status); fails if PID exits or after 10 s
  local pid=$1 url=$2 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# nginx configuration pieces: its own prefix, pid file and error log; never /etc/nginx.
nginx_conf_head() { # nginx_conf_head DIR [WORKER-CONNECTIONS]: the top of an nginx.conf (WORKERS
  # worker processes, 8192 connections each unless told)
  cat <<EOF
worker_processes $WORKERS;
pid $1/nginx.pid;
error_log $1/error.log warn;
events {
    worker_connections ${2:-8192};
}
EOF
}

nginx_http_common() { # nginx_http_common DIR: the http{} settings every nginx here shares
  mkdir -p "$1/tmp"
  cat <<EOF
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
    client_body_temp_path $1/tmp/client_body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
}

nginx_static_conf() { # nginx_static_conf DIR PORT [WORKER-CONNECTIONS] [LISTEN-FLAGS]: DIR/nginx.conf,
  # an nginx serving $docroot on 127.0.0.1:PORT, configured for speed (no logs)
  mkdir -p "$1"
  {
    nginx_conf_head "$1" "${3:-}"
    echo "http {"
    nginx_http_common "$1"
    cat <<EOF
    server {
        listen 127.0.0.1:$2${4:+ $4};
        root $docroot;
    }
}
EOF
  } >"$1/nginx.conf"
}

nginx_args() { # nginx_args DIR: the command-line arguments for the nginx of DIR
  echo -p "$1" -c "$1/nginx.conf" -e "$1/error.log"
}

nginx_check() { # nginx_check DIR: nginx -t on DIR/nginx.conf, or die with its complaint
  # shellcheck disable=SC2046
  if ! "$NGINX" -t -q $(nginx_args "$1") >"$1/test.log" 2>&1; then
    cat "$1/test.log" >&2
    die "nginx rejected $1/nginx.conf"
  fi
}

start_nginx() { # start_nginx NAME DIR: the nginx of DIR in the foreground, a process of `start`
  # shellcheck disable=SC2046
  start "$1" "$2/stdout" "$NGINX" $(nginx_args "$2") -g 'daemon off;'
}

start_backend() { # start_backend: the nginx of $be behind every route (on port_of[backend])
  say "starting the back end (nginx, $WORKERS workers) on 127.0.0.1:${port_of[backend]}"
  start_nginx backend "$be"
  wait_http "${pid_of[backend]}" "http://127.0.0.1:${port_of[backend]}/1k.bin" ||
    { cat "$be/stdout" "$be/error.log" >&2 2>/dev/null; die "the back-end nginx did not start"; }
}

pid_of_route() { [ "$1" = direct ] && echo "" || echo "${pid_of[$1]}"; }

check_bytes() { # check_bytes NAME PORT FILE...: GET /FILE on 127.0.0.1:PORT is $docroot/FILE, or die
  local name=$1 port=$2 f
  shift 2
  for f in "$@"; do
    curl -sS --fail --max-time 10 -o "$tmp/got.$f" "http://127.0.0.1:$port/$f" || die "$name: GET /$f failed"
    cmp -s "$tmp/got.$f" "$docroot/$f" || die "$name: GET /$f is not byte-exact"
  done
}

# ---------------------------------------------------------------------------------------------
# CPU accounting.
clk_tck=$(getconf CLK_TCK)

ticks() { # ticks PID: utime+stime of PID (all its threads), its reaped children (cutime+cstime:
  # an nginx worker that died and was respawned) and its live children (nginx workers); 0 for ""
  [ -z "$1" ] && { echo 0; return; }
  local files=("/proc/$1/stat") c
  for c in $(pgrep -P "$1" || true); do files+=("/proc/$c/stat"); done
  # Fields after "pid (comm) ": $12 utime, $13 stime, $14 cutime, $15 cstime.
  # A process that has just exited is skipped, not fatal (it is reported by the caller).
  { cat "${files[@]}" 2>/dev/null || true; } | sed 's/^.*) //' | awk '
    NR == 1 { s += $12 + $13 + $14 + $15; next } { s += $12 + $13 } END { print s + 0 }'
}
machine_ticks() { # busy and steal ticks of the whole machine, from /proc/stat
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat
}
now() { date +%s.%N; }

machine_meta() { # the key=value lines about the machine every report starts with
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "kernel=$(uname -sr)"
  # Loopback TCP throughput depends on these as much as on the servers (docs/benchmarks.md).
  echo "tcp_cc=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)"
  echo "qdisc=$(cat /proc/sys/net/core/default_qdisc 2>/dev/null || echo unknown)"
  if command -v "$NGINX" >/dev/null; then
    echo "nginx=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
  else
    echo "nginx=nginx not found"
  fi
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
  echo "clk_tck=$clk_tck"
}

# ---------------------------------------------------------------------------------------------
# Measurement: one wrk run and the CPU time around it.
run_wrk() { # run_wrk LOG WHAT PID... -- WRK-ARG...: wrk with the load settings and WRK-ARGs, its
  # output in LOG (its CPU time in LOG.time), or die "wrk failed WHAT". The CPU ticks of each PID
  # ("": none) are counted from here to wrk_fields, which the caller runs once it has checked that
  # its servers still run.
  local log=$1 what=$2 p TIMEFORMAT='%U %S'
  shift 2
  wrk_pids=()
  while [ "$1" != -- ]; do wrk_pids+=("$1"); shift; done
  shift
  wrk_log=$log
  wrk_ticks0=()
  for p in "${wrk_pids[@]}"; do wrk_ticks0+=("$(ticks "$p")"); done
  wrk_m0=$(machine_ticks); wrk_t0=$(now)
  if ! { time wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency "$@" >"$log" 2>&1; } 2>"$log.time"; then
    cat "$log" >&2
    die "wrk failed $what"
  fi
  wrk_t1=$(now)
}

wrk_fields() { # wrk_fields: $measured, the record fields of the last run_wrk (tab-separated): the
  # ticks of each PID, the machine's busy and steal ticks, wrk's CPU seconds, the wall seconds
  local m1 i
  m1=$(machine_ticks)
  measured=
  for i in "${!wrk_pids[@]}"; do
    measured+="$(($(ticks "${wrk_pids[$i]}") - wrk_ticks0[i]))"$'\t'
  done
  measured+="$(( ${m1% *} - ${wrk_m0% *} ))"$'\t'"$(( ${m1#* } - ${wrk_m0#* } ))"$'\t'
  measured+="$(tail -n 1 "$wrk_log.time" | awk '{ print $1 + $2 }')"$'\t'
  measured+=$(awk -v a="$wrk_t0" -v b="$wrk_t1" 'BEGIN { printf "%.3f", b - a }')
}

route_records() { # route_records CPU-COLUMN: $records, with the header of run_route's lines
  records=$tmp/records.tsv
  printf 'repeat\tscenario\troute\torder\tlog\t%s\tbackend_ticks\tbusy_ticks\tsteal_ticks\twrk_cpu_s\telapsed_s\n' \
    "$1" >"$records"
}

run_route() { # run_route REPEAT SCENARIO ROUTE ORDER PATH [WRK-ARG...]: GET PATH through ROUTE, a
  # line in $records (the CPU of the route's processes and of the back end)
  local rep=$1 scen=$2 route=$3 order=$4 path=$5 pid log p
  shift 5
  pid=$(pid_of_route "$route")
  log=$tmp/wrk.$rep.$scen.$route.log
  say "repeat $rep/$REPEATS, $scen: $route"
  run_wrk "$log" "through $route" "$pid" "${pid_of[backend]}" -- "$@" "http://127.0.0.1:${port_of[$route]}$path"
  for p in "${pid_of[backend]}" $pid; do
    kill -0 "$p" 2>/dev/null || die "a process of route $route (pid $p) exited during the run"
  done
  wrk_fields
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$route" "$order" "$log" "$measured" >>"$records"
}

warm_up() { # warm_up PORT: one unmeasured second of the load on 127.0.0.1:PORT
  wrk -t "$THREADS" -c "$CONNECTIONS" -d 1s "http://127.0.0.1:$1/1k.bin" >/dev/null 2>&1 || true
}

measure_all() { # measure_all RUN-ONE "ROUTE...": a warm-up (not measured) through every route, then
  # REPEATS times every scenario of $SCENARIOS through every route: RUN-ONE REPEAT SCENARIO ROUTE
  # ORDER. The order rotates by one route per repeat: drift of the machine's load hits every route.
  # Sets $started, $load_before and $load_after.
  local run_one=$1 routes r rep scen i n
  read -r -a routes <<<"$2"
  n=${#routes[@]}
  for r in "${routes[@]}"; do warm_up "${port_of[$r]}"; done
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  started=$(date -u '+%Y-%m-%d %H:%M UTC')
  for ((rep = 1; rep <= REPEATS; rep++)); do
    for scen in $SCENARIOS; do
      for ((i = 0; i < n; i++)); do
        "$run_one" "$rep" "$scen" "${routes[$(((i + rep - 1) % n))]}" "$((i + 1))"
      done
    done
  done
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
}

# ---------------------------------------------------------------------------------------------
# Report.
report_meta() { # the key=value lines of the summarizer's META every script writes
  echo "date=$started"
  echo "command=$command_line"
  machine_meta
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "duration=$DURATION"
  echo "repeats=$REPEATS"
  echo "workers=$WORKERS"
  echo "threads=$THREADS"
  echo "connections=$CONNECTIONS"
}

write_report() { # write_report SUMMARIZER RAW-LOG: SUMMARIZER's table of $tmp/meta.txt and $records
  # to $OUT, every wrk output to RAW-LOG (not committed: it changes every run); prints the table
  local f
  mkdir -p "$(dirname "$OUT")"
  "$PYTHON" "$bench_dir/$1" "$tmp/meta.txt" "$records" >"$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  for f in $(tail -n +2 "$records" | cut -f5); do
    echo "==== $(basename "$f" .log)"
    cat "$f"
  done >"$2"
  cat "$OUT"
  say "written to ${OUT#"$repo"/} (raw wrk output: ${2#"$repo"/})"
}
