#!/usr/bin/env bash
# Configures and builds fewshot in ./build (kept between runs, so rebuilds
# are incremental). Extra arguments are passed to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build --parallel "$jobs"
