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
#   ROUTES ["direct nuri socat rinetd stream ceiling"]   subset of the routes; ceiling is
#                      bench/relay_ceiling.cpp, the least work a relay does (docs/benchmarks.md)
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]
#   STREAM_MODULE [/usr/lib/nginx/modules/ngx_stream_module.so]
#   OUT [bench/results/forward-latest.md]
set -euo pipefail

BENCH_NAME=bench-forward
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # $repo, $bench_dir; REPEATS, WORKERS ... NURI_BIN
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-"ka close 1m"}
ROUTES=${ROUTES:-"direct nuri socat rinetd stream ceiling"}
STREAM_MODULE=${STREAM_MODULE:-/usr/lib/nginx/modules/ngx_stream_module.so}
OUT=${OUT:-$bench_dir/results/forward-latest.md}

bench_settings bench/forward.sh -- SCENARIOS ROUTES
require_in scenario "$SCENARIOS" ka close 1m
require_in route "$ROUTES" direct nuri socat rinetd stream ceiling
require_tools wrk curl cmp socat rinetd "$NGINX" "$PYTHON"
[ -r "$STREAM_MODULE" ] || die "$STREAM_MODULE not found (package libnginx-mod-stream)"

bench_init nuri-bench-forward
build_nuri
[[ " $ROUTES " == *" ceiling "* ]] && build_relay_ceiling

# ---------------------------------------------------------------------------------------------
# Document root, ports, the back end: nginx as in bench/run.sh (configured for speed, no logs).
make_docroot 1k.bin=1024 1m.bin=1048576
take_ports backend nuri socat rinetd stream ceiling
be=$tmp/backend
nginx_static_conf "$be" "${port_of[backend]}"

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

start_backend

for r in $ROUTES; do
  case $r in
    nuri) start nuri "$tmp/nuri.err" "$tmp/nuri" forward "127.0.0.1:${port_of[nuri]}" \
            "127.0.0.1:${port_of[backend]}" --workers "$WORKERS" --log '' ;;
    socat) start socat "$tmp/socat.err" socat "TCP-LISTEN:${port_of[socat]},fork,reuseaddr,bind=127.0.0.1" \
             "TCP:127.0.0.1:${port_of[backend]}" ;;
    rinetd) start rinetd "$tmp/rinetd.err" rinetd -f -c "$tmp/rinetd.conf" ;;
    stream) start_nginx stream "$st" ;;
    ceiling) start_relay_ceiling ;;
    *) continue ;;
  esac
  say "starting $r on 127.0.0.1:${port_of[$r]}"
  wait_http "${pid_of[$r]}" "http://127.0.0.1:${port_of[$r]}/1k.bin" || die "$r did not start on 127.0.0.1:${port_of[$r]}"
done

# Every route must deliver the same bytes before anything is measured.
for r in $ROUTES; do check_bytes "$r" "${port_of[$r]}" 1k.bin 1m.bin; done
say "every route serves /1k.bin and /1m.bin byte-exact"

# ---------------------------------------------------------------------------------------------
# Measurement.
route_records fwd_ticks
run_one() { # run_one REPEAT SCENARIO ROUTE ORDER
  case $2 in
    ka) run_route "$@" /1k.bin ;;
    close) run_route "$@" /1k.bin -H 'Connection: close' ;;
    1m) run_route "$@" /1m.bin ;;
  esac
}
measure_all run_one "$ROUTES"

# ---------------------------------------------------------------------------------------------
# Report.
{
  report_meta
  echo "socat=$(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }')"
  echo "rinetd=$(rinetd -v 2>&1 | awk '{ print $2; exit }')"
  echo "nuri=$("$tmp/nuri" --version 2>&1 | head -1) ($nuri_rev)"
  echo "stderr_files=$tmp/nuri.err $tmp/socat.err $tmp/rinetd.err $st/error.log $be/error.log $tmp/ceiling.err"
} >"$tmp/meta.txt"
write_report summarize_forward.py "${OUT%.md}-raw.log"
