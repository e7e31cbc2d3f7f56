#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for the given seconds
# (default 60) on a scratch copy of its checked-in corpus, after replaying that corpus.
# Exit status is non-zero if any target finds a crash, leak or sanitizer error.
#   FUZZ_EQUAL=1      every target gets the full time (a campaign), not only the request parser
#   FUZZ_TARGETS="a b" only these targets
#   FUZZ_TALLY=FILE   appends "date target seconds runs result" per target: the running total of
#                     fuzzing time behind each target (tests/fuzz/campaign.tsv is the project's)
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
# make test passes its sanitizer tree (configured with NURI_FUZZ too), so the library is compiled once.
build=${NURI_FUZZ_BUILD:-build/fuzz}
CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DNURI_FUZZ=ON -DNURI_WERROR=ON >/dev/null
# Only the fuzz targets (and the library under them): the command line is not fuzzed here.
targets=()
for src in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
ninja -C "$build" -j "$(nproc)" "${targets[@]}" >/dev/null
status=0
for bin in "$build"/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  corpus=tests/fuzz/corpus/$name
  scratch=$build/corpus-$name
  mkdir -p "$scratch" "$build"/artifacts
  [ -d "$corpus" ] && cp -n "$corpus"/* "$scratch"/ 2>/dev/null || true
  # The main target (the request parser) gets the full time, the others a share of it.
  t=$seconds
  [ "$name" != request_parser ] && [ -z "${FUZZ_EQUAL:-}" ] && t=$(( seconds / 8 > 5 ? seconds / 8 : 5 ))
  if "$bin" -max_total_time="$t" -print_final_stats=1 -artifact_prefix="$build"/artifacts/ "$scratch" \
      >"$build/$name.log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/$name.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $name ok (${t}s, $execs runs)"
    [ -n "${FUZZ_TALLY:-}" ] && printf '%s\t%s\t%s\t%s\tok\n' "$(date -u +%FT%TZ)" "$name" "$t" "$execs" >>"$FUZZ_TALLY"
  else
    echo "fuzz: $name FAILED; see $build/$name.log"; tail -30 "$build/$name.log"
    [ -n "${FUZZ_TALLY:-}" ] && printf '%s\t%s\t%s\t-\tFAILED\n' "$(date -u +%FT%TZ)" "$name" "$t" >>"$FUZZ_TALLY"
    status=1
  fi
done
exit $status
