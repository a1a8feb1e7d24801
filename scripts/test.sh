#!/usr/bin/env bash
# Installs what is missing, builds, runs the whole test suite with ctest,
# runs a part of it under ThreadSanitizer and ASan + UBSan, then fuzzes the
# image decoder and request handling for a bounded time
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

# Sanitizers on what CI can afford (scripts/sanitize.sh runs the full
# sets): ThreadSanitizer on the scheduling tests (worker pool, encoder
# batcher, the load tool's generator and stream pool), ASan + UBSan on them
# and on the core tests of the code that reads bytes from outside (images,
# caches, bundles, stored states).
# FEWSHOT_SANITIZE_CI=0 skips this step.
if [[ "${FEWSHOT_SANITIZE_CI:-1}" != 0 ]]; then
  start=$SECONDS
  scheduling_tests=(server_thread_pool_test server_embedding_batcher_test
    load_generator_test predict_stream_test)
  FEWSHOT_JOBS="$(nproc)" bash scripts/sanitize.sh thread \
    "${scheduling_tests[@]}" || status=1
  FEWSHOT_JOBS="$(nproc)" bash scripts/sanitize.sh address \
    "${scheduling_tests[@]}" image_decoder_test image_dataset_test \
    preprocessing_test model_bundle_test state_codec_test \
    class_prediction_test prototypical_test || status=1
  echo "sanitizer step took $((SECONDS - start)) s"
fi

fuzz_seconds="${FEWSHOT_FUZZ_SECONDS:-20}"
if ((fuzz_seconds > 0)); then
  start=$SECONDS
  bash scripts/fuzz.sh "$fuzz_seconds" || status=1
  echo "fuzz step took $((SECONDS - start)) s"
fi
exit "$status"
