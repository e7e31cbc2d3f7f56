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
#   ROUTES ["direct nuri nginx"]        subset of the routes
#   NURI_BIN           use this binary and skip the build
#   NGINX [/usr/sbin/nginx]
#   OUT [bench/results/proxy-latest.md]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=$repo/bench

DURATION=${DURATION:-5}
REPEATS=${REPEATS:-3}
WORKERS=${WORKERS:-$(nproc)}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEPALIVE=${KEEPALIVE:-32}
SCENARIOS=${SCENARIOS:-"1k 100k"}
ROUTES=${ROUTES:-"direct nuri nginx"}
NGINX=${NGINX:-/usr/sbin/nginx}
NURI_BIN=${NURI_BIN:-}
OUT=${OUT:-$bench_dir/results/proxy-latest.md}

BENCH_NAME=bench-proxy
# shellcheck source=bench/lib.sh
. "$bench_dir/lib.sh"

require_positive DURATION REPEATS WORKERS THREADS CONNECTIONS KEEPALIVE
require_in scenario "$SCENARIOS" 1k 100k
require_in route "$ROUTES" direct nuri nginx
require_tools wrk curl cmp "$NGINX" "$PYTHON"

command_line="DURATION=$DURATION REPEATS=$REPEATS WORKERS=$WORKERS THREADS=$THREADS"
command_line+=" CONNECTIONS=$CONNECTIONS KEEPALIVE=$KEEPALIVE SCENARIOS='$SCENARIOS' ROUTES='$ROUTES'"
[ -n "$NURI_BIN" ] && command_line+=" NURI_BIN=$NURI_BIN"
command_line+=" bash bench/proxy.sh"

bench_init nuri-bench-proxy
with_nuri=
[[ " $ROUTES " == *" nuri "* ]] && with_nuri=1
if [ -n "$with_nuri" ]; then
  build_nuri
else
  nuri_rev=
fi

# ---------------------------------------------------------------------------------------------
# Document root, ports.
docroot=$tmp/htdocs
mkdir -p "$docroot"
head -c 1024 /dev/urandom >"$docroot/1k.bin"
head -c 102400 /dev/urandom >"$docroot/100k.bin"
# World-readable: nginx's workers run as nobody when started by root.
chmod 755 "$tmp" "$docroot"
chmod 644 "$docroot"/*.bin

declare -A port_of=()
for r in backend nuri nginx; do port_of[$r]=$(free_port); done
port_of[direct]=${port_of[backend]}

# The back end: nginx as in bench/run.sh (configured for speed, no logs).
be=$tmp/backend
mkdir -p "$be"
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

say "starting the back end (nginx, $WORKERS workers) on 127.0.0.1:${port_of[backend]}"
# shellcheck disable=SC2046
start backend "$be/stdout" "$NGINX" $(nginx_args "$be") -g 'daemon off;'
wait_http "${pid_of[backend]}" "http://127.0.0.1:${port_of[backend]}/1k.bin" ||
  { cat "$be/stdout" "$be/error.log" >&2 2>/dev/null; die "the back-end nginx did not start"; }

for r in $ROUTES; do
  case $r in
    # shellcheck disable=SC2046
    nginx) start nginx "$px/stdout" "$NGINX" $(nginx_args "$px") -g 'daemon off;' ;;
    nuri) start nuri "$tmp/nuri.err" "$tmp/nuri" serve --config "$tmp/nuri.toml" ;;
    *) continue ;;
  esac
  say "starting $r on 127.0.0.1:${port_of[$r]}"
  if ! wait_http "${pid_of[$r]}" "http://127.0.0.1:${port_of[$r]}/1k.bin"; then
    cat "$tmp/nuri.err" "$px/error.log" >&2 2>/dev/null || true
    die "$r did not start on 127.0.0.1:${port_of[$r]}"
  fi
done
pid_of_route() { [ "$1" = direct ] && echo "" || echo "${pid_of[$1]}"; }

# Every route must deliver the same bytes, through a proxy that really is one, before anything
# is measured.
for r in $ROUTES; do
  for f in 1k.bin 100k.bin; do
    curl -sS --fail --max-time 10 -o "$tmp/got.$f" "http://127.0.0.1:${port_of[$r]}/$f" || die "$r: GET /$f failed"
    cmp -s "$tmp/got.$f" "$docroot/$f" || die "$r: GET /$f is not byte-exact"
  done
done
for r in $ROUTES; do
  [ "$r" = direct ] && continue
  code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port_of[$r]}/missing")
  [ "$code" = 404 ] || die "$r: GET /missing answered $code, expected the back end's 404"
done
say "every route serves /1k.bin and /100k.bin byte-exact"

# ---------------------------------------------------------------------------------------------
# Measurement.
records=$tmp/records.tsv
printf 'repeat\tscenario\troute\torder\tlog\tproxy_ticks\tbackend_ticks\tbusy_ticks\tsteal_ticks\twrk_cpu_s\telapsed_s\n' >"$records"

run_one() { # run_one REPEAT SCENARIO ROUTE ORDER
  local rep=$1 scen=$2 route=$3 order=$4 pid url log t0 t1 f0 f1 b0 b1 m0 m1 w p
  pid=$(pid_of_route "$route")
  local args=(-t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency)
  url=http://127.0.0.1:${port_of[$route]}/$scen.bin
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

# Warm-up, not measured (also fills both proxies' upstream keep-alive pools).
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
  if [ -n "$with_nuri" ]; then
    echo "nuri=$("$tmp/nuri" --version 2>&1 | head -1) ($nuri_rev)"
  else
    echo "nuri=nuri not run (ROUTES without nuri)"
  fi
  echo "load_before=$load_before"
  echo "load_after=$load_after"
  echo "duration=$DURATION"
  echo "repeats=$REPEATS"
  echo "workers=$WORKERS"
  echo "threads=$THREADS"
  echo "connections=$CONNECTIONS"
  echo "keepalive=$KEEPALIVE"
  echo "stderr_files=$tmp/nuri.err $px/error.log $be/error.log"
} >"$tmp/meta.txt"

"$PYTHON" "$bench_dir/summarize_proxy.py" "$tmp/meta.txt" "$records" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
for f in $(tail -n +2 "$records" | cut -f5); do
  echo "==== $(basename "$f" .log)"
  cat "$f"
done >"${OUT%.md}-raw.log"
cat "$OUT"
say "written to ${OUT#"$repo"/} (raw wrk output: ${OUT%.md}-raw.log)"
