#!/usr/bin/env bash
# Builds portico and runs every test: unit + integration (ctest), the same again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and each libFuzzer harness for a bounded time.
# FUZZ_SECONDS (default 10) bounds each fuzzer run (12 harnesses; CI must stay well under 30 min).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/deps.sh test
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-10}

echo "== release build + tests" >&2
# Release (-O3), the build type packagers use; asserts stay on (CMakeLists strips -DNDEBUG).
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_TESTS=ON -DPORTICO_SANITIZE=OFF >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== ASan+UBSan build + tests (clang; the same build carries the fuzzers)" >&2
# One sanitizer build for both: the unit and integration tests run on it under ASan+UBSan, and
# its libFuzzer harnesses (the library is built with fuzzer coverage too) run below. A third
# full compile of the code base, separately for the fuzzers, cost CI minutes for nothing.
CC=clang CXX=clang++ cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DPORTICO_SANITIZE=ON -DPORTICO_FUZZ=ON -DPORTICO_TESTS=ON >/dev/null
cmake --build build-san -j "$jobs"
(cd build-san && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs")

echo "== fuzzers (${fuzz_seconds}s each)" >&2
for f in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$f" .cpp)
  corpus=tests/fuzz/corpus/${name%_fuzz}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "-- $name" >&2
  log=$(mktemp)
  # Runs inside $work on a copy of the corpus: new units, crash/leak/timeout/oom reproducers and
  # anything else the fuzzer writes stay out of the repository.
  if ! (cd "$work" && "$root"/build-san/"$name" -max_total_time="$fuzz_seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "$work") >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "FAILED: fuzzer $name (reproducer saved under $work)" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|new_units_added)" "$log" >&2 || true
  rm -rf "$work" "$log"
done
echo "all tests passed: unit + integration (release and ASan+UBSan), fuzzers" >&2
