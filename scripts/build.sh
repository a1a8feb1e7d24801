#!/usr/bin/env bash
# Configures and builds fewshot in ./build (kept between runs, so rebuilds
# are incremental). Arguments name the targets to build (default: all);
# $FEWSHOT_CMAKE_ARGS is passed to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

read -r -a cmake_args <<< "${FEWSHOT_CMAKE_ARGS:-}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" \
  >/dev/null
if (($# > 0)); then
  cmake --build build --parallel "$(nproc)" --target "$@"
else
  cmake --build build --parallel "$(nproc)"
fi
