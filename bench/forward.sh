#!/usr/bin/env bash
# TCP forwarders side by side: one nginx back end, reached directly and through nuri forward,
# socat, rinetd and nginx's stream module; same wrk load through each, interleaved.
# Prints a markdown table (ratios to direct and to nginx stream) and writes it to
# bench/results/forward-latest.md. How to read it: docs/benchmarks.md, section "nuri forward".
#
#   make bench-forward                      # build nuri (Release), then this script
#   DURATION=3 REPEATS=1 bash bench/forward.sh
#
# Environment (defaults in brackets):
#   DURATION [5]       seconds per wrk run
#   REPEATS [3]        repetitions; the order of the routes rotates from one repeat to the next
#   WORKERS [nproc]    back-end nginx worker_processes, nuri forward --workers and the
#                      nginx stream proxy's worker_processes (socat forks per connection, rinetd
#                      is one process)
#   THREADS [2]        wrk threads
#   CONNECTIONS [64]   wrk connections
#   SCENARIOS ["ka close 1m"]           subset and order of the scenarios
#   ROUTES ["direct nuri socat rinetd stream"]   subset of the routes
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]
#   STREAM_MODULE [/usr/lib/nginx/modules/ngx_stream_module.so]
#   OUT [bench/results/forward-latest.md]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$repo/bench

DURATION=${DURATION:-5}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-$(nproc)}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
SCENARIOS=${SCENARIOS:-"ka close 1m"}
ROUTES=${ROUTES:-"direct nuri socat rinetd stream"}
NGINX=${NGINX:-/usr/sbin/nginx}
STREAM_MODULE=${STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}
NURI_BIN=${NURI_BIN:-}
OUT=${OUT:-$bench_dir/results/forward-latest.md}
BENCH_NAME=bench-forward
# shellcheck source=bench/lib.sh
. "$bench_dir/lib.sh"

require_positive DURATION REPEATS WORKERS THREADS CONNECTIONS
require_in scenario "$SCENARIOS" ka close 1m
require_in route "$ROUTES" direct nuri socat rinetd stream
require_tools wrk curl cmp socat rinetd "$NGINX" "$PYTHON"
[ -r "$STREAM_MODULE" ] || die "$STREAM_MODULE not found (package libnginx-mod-stream)"

command_line="DURATION=$DURATION REPEATS=$REPEATS WORKERS=$WORKERS THREADS=$THREADS"
command_line+=" CONNECTIONS=$CONNECTIONS SCENARIOS='$SCENARIOS' ROUTES='$ROUTES'"
[ -n "$NURI_BIN" ] && command_line+=" NURI_BIN=$NURI_BIN"
command_line+=" bash bench/forward.sh"

bench_init nuri-bench-forward
build_nuri

# ---------------------------------------------------------------------------------------------
# Document root, ports.
docroot=$tmp/htdocs
mkdir -p "$docroot"
head -c 1024 /dev/urandom >"$docroot/1k.bin"
head -c 1048576 /dev/urandom >"$docroot/1m.bin"
chmod 755 "$tmp" "$docroot"
chmod 644 "$docroot"/*.bin

declare -A port_of=()
for r in backend nuri socat rinetd stream; do port_of[$r]=$(free_port); done
port_of[direct]=${port_of[backend]}

# The back end: nginx as in bench/run.sh (configured for speed, no logs).
be=$tmp/backend
mkdir -p "$be/tmp"
{
  nginx_conf_head "$be"
  echo "http {"
  nginx_http_common "$be"
  cat <<EOF
    server {
        listen 127.0.0.1:${port_of[backend]};
        root $docroot;
    }
}
EOF
} >"$be/nginx.conf"

# nginx's stream module as a forwarder: tuned like nuri (reuseport: one listening socket per
# worker; tcp_nodelay is the stream default), the rest nginx's defaults.
st=$tmp/stream
mkdir -p "$st"
{
  echo "load_module $STREAM_MODULE;"
  nginx_conf_head "$st"
  cat <<EOF
stream {
    server {
        listen 127.0.0.1:${port_of[stream]} reuseport;
        proxy_pass 127.0.0.1:${port_of[backend]};
    }
}
EOF
} >"$st/nginx.conf"

cat >"$tmp/rinetd.conf" <<EOF
127.0.0.1 ${port_of[rinetd]} 127.0.0.1 ${port_of[backend]}
EOF

for d in "$be" "$st"; do nginx_check "$d"; done

say "starting the back end (nginx, $WORKERS workers) on 127.0.0.1:${port_of[backend]}"
start backend "$be/stdout" "$NGINX" -p "$be" -c "$be/nginx.conf" -e "$be/error.log" -g 'daemon off;'
wait_http "${pid_of[backend]}" "http://127.0.0.1:${port_of[backend]}/1k.bin" ||
  { cat "$be/stdout" "$be/error.log" >&2 2>/dev/null; die "the back-end nginx did not start"; }

for r in $ROUTES; do
  case $r in
    nuri) start nuri "$tmp/nuri.err" "$tmp/nuri" forward "127.0.0.1:${port_of[nuri]}" \
            "127.0.0.1:${port_of[backend]}" --workers "$WORKERS" --log '' ;;
    socat) start socat "$tmp/socat.err" socat "TCP-LISTEN:${port_of[socat]},fork,reuseaddr,bind=127.0.0.1" \
             "TCP:127.0.0.1:${port_of[backend]}" ;;
    rinetd) start rinetd "$tmp/rinetd.err" rinetd -f -c "$tmp/rinetd.conf" ;;
    stream) start stream "$st/stdout" "$NGINX" -p "$st" -c "$st/nginx.conf" -e "$st/error.log" -g 'daemon off;' ;;
    *) continue ;;
  esac
  say "starting $r on 127.0.0.1:${port_of[$r]}"
  wait_http "${pid_of[$r]}" "http://127.0.0.1:${port_of[$r]}/1k.bin" || die "$r did not start on 127.0.0.1:${port_of[$r]}"
done
pid_of_route() { [ "$1" = direct ] && echo "" || echo "${pid_of[$1]}"; }

# Every route must deliver the same bytes before anything is measured.
for r in $ROUTES; do
  for f in 1k.bin 1m.bin; do
    curl -sS --fail --max-time 10 -o "$tmp/got.$f" "http://127.0.0.1:${port_of[$r]}/$f" || die "$r: GET /$f failed"
    cmp -s "$tmp/got.$f" "$docroot/$f" || die "$r: GET /$f is not byte-exact"
  done
done
say "every route serves /1k.bin and /1m.bin byte-exact"

# ---------------------------------------------------------------------------------------------
# Measurement.
records=$tmp/records.tsv
printf 'repeat\tscenario\troute\torder\tlog\tfwd_ticks\tbackend_ticks\tbusy_ticks\tsteal_ticks\twrk_cpu_s\telapsed_s\n' >"$records"

run_one() { # run_one REPEAT SCENARIO ROUTE ORDER
  local rep=$1 scen=$2 route=$3 order=$4 pid url log t0 t1 f0 f1 b0 b1 m0 m1 w
  pid=$(pid_of_route "$route")
  local args=(-t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency)
  url=http://127.0.0.1:${port_of[$route]}
  case $scen in
    ka) url+=/1k.bin ;;
    close) url+=/1k.bin; args+=(-H 'Connection: close') ;;
    1m) url+=/1m.bin ;;
  esac
  log=$tmp/wrk.$rep.$scen.$route.log
  say "repeat $rep/$REPEATS, $scen: $route"
  f0=$(ticks "$pid"); b0=$(ticks "${pid_of[backend]}"); m0=$(machine_ticks); t0=$(now)
  local TIMEFORMAT='%U %S'
  if ! { time wrk "${args[@]}" "$url" >"$log" 2>&1; } 2>"$log.time"; then
    cat "$log" >&2
    die "wrk failed through $route"
  fi
  t1=$(now)
  for p in "${pid_of[backend]}" $pid; do
    kill -0 "$p" 2>/dev/null || die "a process of route $route (pid $p) exited during the run"
  done
  m1=$(machine_ticks); f1=$(ticks "$pid"); b1=$(ticks "${pid_of[backend]}")
  w=$(tail -n 1 "$log.time" | awk '{ print $1 + $2 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$scen" "$route" "$order" "$log" \
    "$((f1 - f0))" "$((b1 - b0))" "$(( ${m1% *} - ${m0% *} ))" "$(( ${m1#* } - ${m0#* } ))" "$w" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >>"$records"
}

# Warm-up, not measured.
for r in $ROUTES; do
  wrk -t "$THREADS" -c "$CONNECTIONS" -d 1s "http://127.0.0.1:${port_of[$r]}/1k.bin" >/dev/null 2>&1 || true
done

read -r -a route_list <<<"$ROUTES"
n=${#route_list[@]}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((rep = 1; rep <= REPEATS; rep++)); do
  for scen in $SCENARIOS; do
    # The order rotates by one route per repeat: drift of the machine's load hits every route.
    for ((i = 0; i < n; i++)); do
      run_one "$rep" "$scen" "${route_list[$(((i + rep - 1) % n))]}" "$((i + 1))"
    done
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
  echo "socat=$(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }')"
  echo "rinetd=$(rinetd -v 2>&1 | awk '{ print $2; exit }')"
  echo "nuri=$("$tmp/nuri" --version 2>&1 | head -1) ($nuri_rev)"
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "duration=$DURATION"
  echo "repeats=$REPEATS"
  echo "workers=$WORKERS"
  echo "threads=$THREADS"
  echo "connections=$CONNECTIONS"
  echo "stderr_files=$tmp/nuri.err $tmp/socat.err $tmp/rinetd.err $st/error.log $be/error.log"
} >"$tmp/meta.txt"

"$PYTHON" "$bench_dir/summarize_forward.py" "$tmp/meta.txt" "$records" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
for f in $(tail -n +2 "$records" | cut -f5); do
  echo "==== $(basename "$f" .log)"
  cat "$f"
done >"${OUT%.md}-raw.log"
cat "$OUT"
say "written to ${OUT#"$repo"/} (raw wrk output: ${OUT%.md}-raw.log)"
