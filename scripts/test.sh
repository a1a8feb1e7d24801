#!/usr/bin/env bash
# Installs what is missing, builds, runs the whole test suite with ctest,
# then fuzzes the image decoder and request handling for a bounded time
# (FEWSHOT_FUZZ_SECONDS per target, default 20; 0 skips fuzzing). Omniglot
# is read from ../shared/data/omniglot unless FEWSHOT_OMNIGLOT_DIR names
# another folder. Exits non-zero when a test fails or is skipped, or a fuzz
# target fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
FEWSHOT_CMAKE_ARGS=-DFEWSHOT_BUILD_TESTS=ON bash scripts/build.sh

# A skipped test also fails the run: everything the suite needs is
# installed above, and GoogleTest reports the tests of a suite whose
# SetUpTestSuite failed as skipped.
status=0
ctest_log="build/ctest-output.log"
ctest --test-dir build --output-on-failure --timeout 600 -j 2 |
  tee "$ctest_log" || status=1
if grep -q "^The following tests did not run:" "$ctest_log"; then
  echo "some tests were skipped; see the list above" >&2
  status=1
fi

fuzz_seconds="${FEWSHOT_FUZZ_SECONDS:-20}"
if ((fuzz_seconds > 0)); then
  start=$SECONDS
  bash scripts/fuzz.sh "$fuzz_seconds" || status=1
  echo "fuzz step took $((SECONDS - start)) s"
fi
exit "$status"
