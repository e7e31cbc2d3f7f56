#!/usr/bin/env bash
# valgrind memcheck on a representative part of the integration tests (make valgrind; not part of
# make test). Builds nuri with debug info (RelWithDebInfo, build/valgrind), then runs the tests
# with NURI_BIN pointing at a wrapper that starts every nuri process under memcheck, each writing
# its report to build/valgrind/memcheck/nuri.PID.valgrind. A test fails when its server's report
# counts errors (the fixtures read it: NURI_VALGRIND_LOGS) or it exits 99 (--error-exitcode);
# at the end every report is checked again, those of processes no fixture stopped included.
#   scripts/valgrind.sh                 the default selection below
#   scripts/valgrind.sh PYTEST-ARGS...  other tests (paths, -k, node ids)
#   VALGRIND_NURI=build/release/nuri scripts/valgrind.sh   a binary already built (no build step)
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=${JOBS:-$(nproc)}
dir=build/valgrind
logs=$PWD/$dir/memcheck
start=$SECONDS

command -v valgrind >/dev/null || { echo "valgrind: not installed (scripts/install-deps.sh)" >&2; exit 1; }
nuri=${VALGRIND_NURI:-}
if [ -z "$nuri" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNURI_WERROR=ON >/dev/null &&
    ninja -C "$dir" -j "$JOBS" nuri || exit 1
  nuri=$dir/nuri
fi
nuri=$(realpath "$nuri")

rm -rf "$logs"
mkdir -p "$logs"
# valgrind 3.19 fails openat2 with ENOSYS: scripts/valgrind-openat2.c stands in for it.
shim=$PWD/$dir/valgrind-openat2.so
cc -O2 -Wall -Werror -shared -fPIC -o "$shim" scripts/valgrind-openat2.c -ldl || exit 1
wrapper=$PWD/$dir/nuri-memcheck
# Definite leaks are errors; "still reachable" memory at exit (static tables, libraries) is not.
# No -q: the fixtures read the "ERROR SUMMARY" line, which -q leaves out.
cat >"$wrapper" <<EOF
#!/bin/sh
LD_PRELOAD=$shim exec valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \\
  --track-fds=no --num-callers=30 --log-file=$logs/nuri.%p.valgrind $nuri "\$@"
EOF
chmod +x "$wrapper"

# What exercises most of the server in a few minutes (each test starts its own nuri, and memcheck
# takes seconds to start and stop one): request framing, keep-alive, pipelining, errors; static
# files (sendfile, ranges, multipart, the file cache); the access log and its full-disk path; a
# reload; the reverse proxy (streaming both ways, pooling, retries, WebSocket, an upstream that
# closes mid-body) and the forwarder (copy and splice paths, resets, a refused target, UDP).
t=tests/integration
tests=(
  $t/test_basics.py::test_welcome_page_without_root
  $t/test_basics.py::test_http10_keep_alive_then_plain_request_closes
  $t/test_basics.py::test_pipelined_head_and_get_framing
  $t/test_basics.py::test_request_sent_one_byte_at_a_time
  $t/test_basics.py::test_options_asterisk
  $t/test_basics.py::test_absolute_form_with_query
  $t/test_basics.py::test_chunked_body_with_extensions_and_trailers
  $t/test_basics.py::test_expect_100_continue
  $t/test_basics.py::test_many_concurrent_keepalive_clients
  $t/test_basics.py::test_client_closing_mid_request_does_not_disturb_others
  $t/test_basics.py::test_keepalive_survives_304_206_416_412
  $t/test_basics.py::test_pipelined_responses_survive_a_full_socket_buffer
  $t/test_basics.py::test_request_arriving_while_a_large_response_is_being_written
  $t/test_parsing.py::test_413_414_431_also_close_and_ignore_smuggled_request
  $t/test_parsing.py::test_smuggling_cl_te_classic
  $t/test_parsing.py::test_error_in_the_middle_of_a_pipeline
  $t/test_static.py::test_directory_redirect_keeps_query
  $t/test_static.py::test_large_file_ranges_are_exact
  $t/test_static.py::test_replaced_file_is_served_fresh
  $t/test_conditional_range.py::test_multiple_ranges_in_a_large_file
  $t/test_access_log.py::test_statuses_and_sizes_logged
  $t/test_faults.py::test_full_log_disk_keeps_serving_and_says_so_once
  $t/test_reload.py::test_reload_switches_the_root_and_keeps_a_keep_alive_connection
  $t/test_proxy.py::test_files_from_python_http_server_are_byte_equal
  $t/test_proxy.py::test_target_host_and_end_to_end_fields_forwarded_hop_by_hop_removed
  $t/test_proxy.py::test_upload_reaches_the_upstream_intact
  $t/test_proxy.py::test_connect_refused_tries_the_next_upstream
  $t/test_proxy.py::test_upstream_connections_are_reused
  $t/test_proxy.py::test_upstream_closing_mid_body_closes_the_client
  $t/test_proxy.py::test_websocket_upgrade_is_tunnelled_both_ways
  $t/test_forward.py::test_echo_and_log_line
  $t/test_forward.py::test_small_and_bulk_messages_alternate_byte_exact
  $t/test_forward.py::test_client_reset_reaches_target
  $t/test_forward.py::test_target_reset_reaches_client
  $t/test_forward.py::test_target_refusing_closes_client_quickly
  $t/test_forward.py::test_udp_many_clients_each_its_own_session
)
[ $# -gt 0 ] && tests=("$@")

# Memcheck runs code 10-50 times slower: every timeout of the tests is scaled.
NURI_BIN=$wrapper NURI_VALGRIND_LOGS=$logs NURI_TIME_SCALE=${NURI_TIME_SCALE:-10} \
  "$PYTHON" -m pytest -q -p no:cacheprovider -m "not package and not slow" "${tests[@]}"
rc=$?

reports=$(find "$logs" -name 'nuri.*.valgrind' | wc -l)
bad=$(grep -lE "ERROR SUMMARY: [1-9]" "$logs"/nuri.*.valgrind 2>/dev/null)
# A process killed by a test (SIGKILL) ends without a summary: counted, not an error.
unfinished=$(grep -L "ERROR SUMMARY" "$logs"/nuri.*.valgrind 2>/dev/null | wc -l)
if [ -n "$bad" ]; then
  echo "valgrind: errors in $(wc -l <<<"$bad") of $reports report(s):"
  for f in $bad; do
    echo "--- $f"
    grep -E "^==[0-9]+== (Invalid|Conditional|Syscall|Mismatched|Source and|.*definitely lost|ERROR SUMMARY)" "$f" | head -20
  done
  rc=1
else
  echo "valgrind: $reports report(s), no errors ($unfinished without a summary: killed)"
fi
echo "valgrind: $((SECONDS - start)) s"
exit $rc
