#!/usr/bin/env bash
# Builds the unit tests with sanitizers into their own folder and runs them:
#   scripts/sanitize.sh address [test ...]  ASan + UBSan, in ./build-asan
#   scripts/sanitize.sh thread [test ...]   TSan, in ./build-tsan
# Without test names it runs the default set for the mode: every core,
# server and client unit test for address; the concurrency tests (thread
# pool, batcher, stores, service, StreamPredict's life in a whole server
# built with TSan, load generator, client streams) for thread. Builds with
# clang and line tables only (GCC with full debug info took about 40 s per
# file here, clang about 8); FEWSHOT_JOBS (default 1) sets the build's
# jobs and FEWSHOT_SANITIZE_BUILD another build folder.
# Only this project is instrumented. Under TSan each test runs with
# tests/tsan/absl_sync_annotations.cc preloaded, which shows TSan the
# Debian Abseil's locks, and with the suppressions in tests/tsan/tsan.supp,
# which cover only reports inside uninstrumented system libraries.
# Exits non-zero when a test fails or a sanitizer reports an error.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
shift || true
case "$mode" in
  address)
    build="${FEWSHOT_SANITIZE_BUILD:-build-asan}"
    defaults=(
      adaptation_edits_test adaptation_state_test class_prediction_test
      encoder_test episodic_sampler_test evaluator_test image_dataset_test
      image_decoder_test meta_trainer_test model_bundle_test omniglot_test
      preprocessing_test prototypical_test state_codec_test
      server_thread_pool_test server_adaptation_store_test
      server_request_validation_test server_grpc_status_test
      server_fewshot_service_test server_continual_learning_test
      server_disk_adaptation_store_test server_redis_store_test
      image_files_test output_format_test fewshot_client_test
      latency_stats_test bench_report_test load_generator_test
      predict_stream_test)
    export ASAN_OPTIONS="halt_on_error=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    ;;
  thread)
    build="${FEWSHOT_SANITIZE_BUILD:-build-tsan}"
    defaults=(
      server_thread_pool_test server_embedding_batcher_test
      server_adaptation_store_test server_disk_adaptation_store_test
      server_fewshot_service_test server_continual_learning_test
      server_stream_lifecycle_test load_generator_test predict_stream_test)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:\
suppressions=${PWD}/tests/tsan/tsan.supp"
    ;;
  *)
    echo "usage: $0 address|thread [test ...]" >&2
    exit 2
    ;;
esac
tests=("$@")
if ((${#tests[@]} == 0)); then
  tests=("${defaults[@]}")
fi

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DFEWSHOT_SANITIZE="$mode" -DFEWSHOT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --parallel "${FEWSHOT_JOBS:-1}" --target "${tests[@]}"

# TSan: the Abseil lock annotations, uninstrumented, preloaded into each test.
preload=()
if [[ "$mode" == thread ]]; then
  annotations="${build}/libabsl_sync_annotations.so"
  if [[ ! "$annotations" -nt tests/tsan/absl_sync_annotations.cc ]]; then
    clang++ -std=c++17 -O1 -fPIC -shared -I. \
      tests/tsan/absl_sync_annotations.cc -o "$annotations" -ldl
  fi
  preload=(env "LD_PRELOAD=$(realpath "$annotations")")
fi

failed=()
for test in "${tests[@]}"; do
  echo "== ${test}"
  if ! "${preload[@]}" "${build}/bin/${test}"; then
    failed+=("$test")
  fi
done
echo "sanitize ${mode}: $((${#tests[@]} - ${#failed[@]})) passed," \
  "${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
  echo "failed under ${mode} sanitizer: ${failed[*]}" >&2
  exit 1
fi
