#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for the given seconds
# (default 60) on a scratch copy of its checked-in corpus, after replaying that corpus.
# Exit status is non-zero if any target finds a crash, leak or sanitizer error.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
  -DNURI_FUZZ=ON -DNURI_WERROR=ON >/dev/null
ninja -C build/fuzz -j "$(nproc)" >/dev/null
status=0
for bin in build/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  corpus=tests/fuzz/corpus/$name
  scratch=build/fuzz/corpus-$name
  mkdir -p "$scratch" build/fuzz/artifacts
  [ -d "$corpus" ] && cp -n "$corpus"/* "$scratch"/ 2>/dev/null || true
  # The main target (the request parser) gets the full time, the others a share of it.
  t=$seconds
  [ "$name" != request_parser ] && t=$(( seconds / 6 > 5 ? seconds / 6 : 5 ))
  if "$bin" -max_total_time="$t" -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ "$scratch" \
      >"build/fuzz/$name.log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$name.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $name ok (${t}s, $execs runs)"
  else
    echo "fuzz: $name FAILED; see build/fuzz/$name.log"; tail -30 "build/fuzz/$name.log"
    status=1
  fi
done
exit $status
