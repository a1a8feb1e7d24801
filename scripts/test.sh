#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with
# ctest. Omniglot is read from ../shared/data/omniglot unless
# FEWSHOT_OMNIGLOT_DIR names another folder.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
FEWSHOT_CMAKE_ARGS=-DFEWSHOT_BUILD_TESTS=ON bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j 2
