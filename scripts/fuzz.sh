#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang into ./build-fuzz and runs
# each for a bounded time: scripts/fuzz.sh [seconds per target, default 30].
# Starts from the seed corpus in fuzz/corpus/<target>/ (never written to);
# new inputs go to build-fuzz/corpus/<target>/ and crash reproducers to
# build-fuzz/artifacts/. Exits non-zero when any target finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
targets=(image_decoder_fuzzer request_fuzzer)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEWSHOT_BUILD_FUZZERS=ON \
  -DFEWSHOT_BUILD_TESTS=OFF -DFEWSHOT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz --parallel "$(nproc)" --target "${targets[@]}"

# UBSan reports count as crashes, like ASan's and LeakSanitizer's.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

status=0
for target in "${targets[@]}"; do
  work="build-fuzz/corpus/${target}"
  artifacts="build-fuzz/artifacts/${target}/"
  mkdir -p "$work" "$artifacts"
  echo "== ${target}: ${seconds} s"
  if ! "build-fuzz/bin/${target}" -max_total_time="$seconds" \
      -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$artifacts" "$work" "fuzz/corpus/${target}"; then
    echo "${target} found a crash; reproducers in ${artifacts}" >&2
    status=1
  fi
done
exit "$status"
