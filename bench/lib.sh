# Shared by bench/run.sh, bench/forward.sh and bench/proxy.sh (sourced, not run).
#
# The caller sets BENCH_NAME (the prefix of its messages) and `repo` before sourcing, then calls
# bench_init, which makes $tmp, the pid_of table and the cleanup trap. Processes started with
# `start NAME LOG CMD...` are stopped on exit (also Ctrl-C or a failure), their children too.

PYTHON=/usr/bin/python3  # Debian's interpreter, standard library only

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
  local name=$1 log=$2
  shift 2
  "$@" >"$log.out" 2>"$log" &
  pid_of[$name]=$!
}

# ---------------------------------------------------------------------------------------------
# nuri: build (unless NURI_BIN is set), private copy at $tmp/nuri, and the commit in $nuri_rev.
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

# ---------------------------------------------------------------------------------------------
# Ports, readiness.
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
nginx_conf_head() { # nginx_conf_head DIR: the top of an nginx.conf (WORKERS worker processes)
  cat <<EOF
worker_processes $WORKERS;
pid $1/nginx.pid;
error_log $1/error.log warn;
events {
    worker_connections 8192;
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
    client_body_temp_path $1/tmp/client_body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
EOF
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
  echo "nginx=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')"
  echo "clk_tck=$clk_tck"
}
