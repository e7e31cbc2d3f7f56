#!/usr/bin/env bash
# HTTP reverse proxies side by side: one nginx back end, reached directly, through nuri serve's
# reverse proxy and through nginx's proxy_pass (HTTP/1.1, upstream keepalive 32); same wrk load
# through each, interleaved. Prints a markdown table (nuri / nginx proxy ratios per repeat, proxy
# CPU per request) and writes it to bench/results/proxy-latest.md.
#
#   make bench-proxy                        # build nuri (Release), then this script
#   DURATION=3 REPEATS=1 bash bench/proxy.sh
#   ROUTES="direct nginx" bash bench/proxy.sh   # without nuri (checks the script and the peers)
#
# Environment (defaults in brackets):
#   DURATION [5]       seconds per wrk run
#   REPEATS [3]        repetitions; the order of the routes rotates from one repeat to the next
#   WORKERS [nproc]    back-end nginx worker_processes, nuri serve's workers and the nginx
#                      proxy's worker_processes
#   THREADS [2]        wrk threads
#   CONNECTIONS [64]   wrk connections
#   KEEPALIVE [32]     idle upstream connections kept: nginx `keepalive`, nuri `proxy_keepalive`
#   SCENARIOS ["1k 100k"]               subset and order of the scenarios (file sizes)
#   ROUTES ["direct nuri nginx ceiling"]   subset of the routes; ceiling is
#                      bench/relay_ceiling.cpp, a byte relay: the least work any proxy does
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]
#   OUT [bench/results/proxy-latest.md]
set -euo pipefail

BENCH_NAME=bench-proxy
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"  # $repo, $bench_dir; REPEATS, WORKERS ... NURI_BIN
DURATION=${DURATION:-5}
KEEPALIVE=${KEEPALIVE:-32}
SCENARIOS=${SCENARIOS:-"1k 100k"}
ROUTES=${ROUTES:-"direct nuri nginx ceiling"}
OUT=${OUT:-$bench_dir/results/proxy-latest.md}

bench_settings bench/proxy.sh KEEPALIVE -- SCENARIOS ROUTES
require_in scenario "$SCENARIOS" 1k 100k
require_in route "$ROUTES" direct nuri nginx ceiling
require_tools wrk curl cmp "$NGINX" "$PYTHON"

bench_init nuri-bench-proxy
with_nuri=
[[ " $ROUTES " == *" nuri "* ]] && with_nuri=1
if [ -n "$with_nuri" ]; then
  build_nuri
else
  nuri_rev=
fi
[[ " $ROUTES " == *" ceiling "* ]] && build_relay_ceiling

# ---------------------------------------------------------------------------------------------
# Document root, ports, the back end: nginx as in bench/run.sh (configured for speed, no logs).
make_docroot 1k.bin=1024 100k.bin=102400
take_ports backend nuri nginx ceiling
be=$tmp/backend
nginx_static_conf "$be" "${port_of[backend]}"

# nginx as the peer proxy: what an nginx guide recommends for keep-alive to the upstream, and
# the same request fields nuri adds (Host as the client sent it, X-Forwarded-*, Forwarded), so
# both proxies do the same work. proxy_buffering is nginx's default (on).
px=$tmp/nginx-proxy
mkdir -p "$px"
{
  nginx_conf_head "$px"
  echo "http {"
  nginx_http_common "$px"
  cat <<EOF
    upstream backend {
        server 127.0.0.1:${port_of[backend]};
        keepalive $KEEPALIVE;
    }
    server {
        listen 127.0.0.1:${port_of[nginx]} reuseport;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$http_host;
            proxy_set_header Forwarded "for=\$remote_addr;host=\$http_host;proto=\$scheme";
        }
    }
}
EOF
} >"$px/nginx.conf"

# nuri serve as the proxy: no access log (the default), no Server field (the default).
cat >"$tmp/nuri.toml" <<EOF
workers = $WORKERS

[[listen]]
address = "127.0.0.1:${port_of[nuri]}"

[[host]]
  [[host.location]]
  prefix = "/"
  proxy = ["http://127.0.0.1:${port_of[backend]}"]
  proxy_keepalive = $KEEPALIVE
EOF

for d in "$be" "$px"; do nginx_check "$d"; done
if [ -n "$with_nuri" ] && ! "$tmp/nuri" check-config "$tmp/nuri.toml" >"$tmp/check.log" 2>&1; then
  cat "$tmp/check.log" >&2
  die "nuri check-config rejected $tmp/nuri.toml (above): does this nuri have the reverse proxy?"
fi

start_backend

for r in $ROUTES; do
  case $r in
    nginx) start_nginx nginx "$px" ;;
    nuri) start nuri "$tmp/nuri.err" "$tmp/nuri" serve --config "$tmp/nuri.toml" ;;
    ceiling) start_relay_ceiling ;;
    *) continue ;;
  esac
  say "starting $r on 127.0.0.1:${port_of[$r]}"
  if ! wait_http "${pid_of[$r]}" "http://127.0.0.1:${port_of[$r]}/1k.bin"; then
    cat "$tmp/nuri.err" "$px/error.log" >&2 2>/dev/null || true
    die "$r did not start on 127.0.0.1:${port_of[$r]}"
  fi
done

# Every route must deliver the same bytes, through a proxy that really is one, before anything
# is measured.
for r in $ROUTES; do check_bytes "$r" "${port_of[$r]}" 1k.bin 100k.bin; done
for r in $ROUTES; do
  [ "$r" = direct ] && continue
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port_of[$r]}/missing")
  [ "$code" = 404 ] || die "$r: GET /missing answered $code, expected the back end's 404"
done
say "every route serves /1k.bin and /100k.bin byte-exact"

# ---------------------------------------------------------------------------------------------
# Measurement.
route_records proxy_ticks
run_one() { run_route "$@" "/$2.bin"; } # run_one REPEAT SCENARIO ROUTE ORDER: GET /SCENARIO.bin
# The warm-up also fills both proxies' upstream keep-alive pools.
measure_all run_one "$ROUTES"

# ---------------------------------------------------------------------------------------------
# Report.
{
  report_meta
  if [ -n "$with_nuri" ]; then
    echo "nuri=$("$tmp/nuri" --version 2>&1 | head -1) ($nuri_rev)"
  else
    echo "nuri=nuri not run (ROUTES without nuri)"
  fi
  echo "keepalive=$KEEPALIVE"
  echo "stderr_files=$tmp/nuri.err $px/error.log $be/error.log $tmp/ceiling.err"
} >"$tmp/meta.txt"
write_report summarize_proxy.py "${OUT%.md}-raw.log"
