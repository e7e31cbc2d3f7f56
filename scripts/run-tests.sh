#!/usr/bin/env bash
# Everything `make test` runs, in order: the Release build (warnings are errors) and its Debian
# package (CPack), unit, integration (the package test included) and headless-browser tests on
# it; unit and integration tests under ASan+UBSan and the fuzz smoke run (one clang tree); the
# multi-threaded integration suites under ThreadSanitizer. Prints one line per step and a closing "tests: N passed, N failed"
# over all test cases.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's python, which has python3-pytest
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-40}  # the request parser; every other target gets 5 s (fuzz.sh)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}

passed=0
failed=0
failed_steps=()
log_dir=build/test-logs
mkdir -p "$log_dir"

step() {  # step NAME COMMAND...: runs it, its output in a log, shown when it fails
  local name=$1; shift
  local log="$log_dir/$name.log"
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    echo "ok    $name ($((SECONDS - t0)) s)"
    return 0
  fi
  echo "FAIL  $name ($((SECONDS - t0)) s); last lines of $log:"
  tail -40 "$log" | sed 's/^/      /'
  failed_steps+=("$name")
  return 1
}

count_gtest() {  # adds the counts of a GoogleTest log
  local log=$1 p f
  p=$(grep -oE '\[  PASSED  \] [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  f=$(grep -oE '\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  [ -z "$p" ] && [ -z "$f" ] && failed=$((failed + 1))  # it did not even report
}

count_pytest() {
  local log=$1 line p f e
  line=$(grep -E '[0-9]+ (passed|failed|error)' "$log" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
  e=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  [ -z "$line" ] && failed=$((failed + 1))
}

build() {  # build DIR CMAKE-ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja -DNURI_WERROR=ON "$@" && ninja -C "$dir" -j "$JOBS"
}

unit() { "$1/nuri_unit_tests"; }
# The package test (marker `package`) installs the .deb on this machine: once, on the Release build.
integration() {
  local dir=$1; shift
  NURI_BIN="$dir/nuri" "$PYTHON" -m pytest -q -p no:cacheprovider "$@" tests/integration
}
# make deb's last step: CPack on the Release build just made (seconds).
package() { (cd "$1" && rm -f deb/nuri_*.deb && cpack -G DEB) && ls "$1"/deb/nuri_*.deb; }
# Headless Chromium on the status page and a directory listing; screenshots in build/test-artifacts/.
# NURI_REQUIRE_BROWSER: a missing browser fails the step instead of skipping it.
browser() { NURI_REQUIRE_BROWSER=1 NURI_BIN="$1/nuri" "$PYTHON" -m pytest -q -p no:cacheprovider tests/browser; }

if step build-release build build/release -DCMAKE_BUILD_TYPE=Release; then
  step unit-release unit build/release; count_gtest "$log_dir/unit-release.log"
  if step package-release package build/release; then
    export NURI_DEB=$(tail -1 "$log_dir/package-release.log")
  else
    failed=$((failed + 1))
    export NURI_DEB=build/release/deb/package-release-failed.deb  # the test says so, builds nothing
  fi
  step integration-release integration build/release; count_pytest "$log_dir/integration-release.log"
  step browser-release browser build/release; count_pytest "$log_dir/browser-release.log"
else
  failed=$((failed + 1))
fi

# The sanitizer trees: -O1 and line tables only (-g1), about what sanitizers need for fast runs and
# file:line in their reports, and much less compile time than -O2 -g on a 2-core CI machine. Clang,
# so that one ASan+UBSan tree also holds the libFuzzer targets (the library compiled once for both).
SANITIZER_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
if CXX=clang++ step build-asan build build/asan "${SANITIZER_FLAGS[@]}" -DNURI_SANITIZE=ON -DNURI_FUZZ=ON; then
  step unit-asan unit build/asan; count_gtest "$log_dir/unit-asan.log"
  step integration-asan integration build/asan -m "not package and not slow"
  count_pytest "$log_dir/integration-asan.log"
  if step fuzz-smoke env NURI_FUZZ_BUILD=build/asan bash scripts/fuzz.sh "$FUZZ_SECONDS"; then
    passed=$((passed + $(grep -c '^fuzz: .* ok' "$log_dir/fuzz-smoke.log")))
  else
    failed=$((failed + 1))
  fi
  grep '^fuzz:' "$log_dir/fuzz-smoke.log" | sed 's/^/      /'
else
  failed=$((failed + 1))
fi

# ThreadSanitizer: the integration suites where threads share state (server workers and their
# shared stats and client limits, the proxy's monitor thread and upstream counters, reload, the
# forwarder, libnuri's back ends). Not the unit tests: they are single-threaded but for client
# limits, covered here by test_client_limits.py; leaving them out saves a third of this build.
TSAN_SUITES=(test_basics.py test_status.py test_reload.py test_lifecycle.py test_client_limits.py test_proxy.py
             test_library.py test_forward.py test_forward_config.py)
if CXX=clang++ step build-tsan build build/tsan "${SANITIZER_FLAGS[@]}" -DNURI_TSAN=ON -DNURI_TESTS=OFF; then
  step integration-tsan env NURI_BIN=build/tsan/nuri "$PYTHON" -m pytest -q -p no:cacheprovider -m "not package and not slow" \
    "${TSAN_SUITES[@]/#/tests/integration/}"
  count_pytest "$log_dir/integration-tsan.log"
else
  failed=$((failed + 1))
fi

[ ${#failed_steps[@]} -gt 0 ] && echo "failed steps: ${failed_steps[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failed_steps[@]} -eq 0 ]
