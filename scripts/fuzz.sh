#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang into ./build-fuzz and runs
# each for a bounded time: scripts/fuzz.sh [seconds per target, default 30].
# Starts from the seed corpus in fuzz/corpus/<target>/ (never written to);
# new inputs go to build-fuzz/corpus/<target>/ and crash reproducers to
# build-fuzz/artifacts/. Only the fuzz targets are built: the decoder target
# links no LibTorch, the request target only the files it exercises.
# FEWSHOT_JOBS (default: the number of cores) sets the build's jobs.
# Ends with a line "fuzz: N passed, N failed" and exits non-zero when any
# target fails (a crash, a sanitizer report, a hang or running out of
# memory).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
targets=(image_decoder_fuzzer request_fuzzer)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEWSHOT_BUILD_FUZZERS=ON \
  -DFEWSHOT_BUILD_TESTS=OFF -DFEWSHOT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz --parallel "${FEWSHOT_JOBS:-$(nproc)}" \
  --target "${targets[@]}"

# UBSan reports count as crashes, like ASan's and LeakSanitizer's.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

passed=0
failed=0
for target in "${targets[@]}"; do
  work="build-fuzz/corpus/${target}"
  artifacts="build-fuzz/artifacts/${target}/"
  mkdir -p "$work" "$artifacts"
  echo "== ${target}: ${seconds} s"
  # One input running longer than -timeout counts as a hang.
  if "build-fuzz/bin/${target}" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts" "$work" "fuzz/corpus/${target}"; then
    passed=$((passed + 1))
  else
    echo "${target} failed; reproducers in ${artifacts}" >&2
    failed=$((failed + 1))
  fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
((failed == 0))
