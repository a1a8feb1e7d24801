#!/usr/bin/env bash
# The main job: install what is missing, build, and start fewshot-server on
# the bundled default model (gRPC on 127.0.0.1:50051, metrics on
# http://127.0.0.1:9464/metrics). Extra arguments go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh fewshot-server fewshot-client fewshot-bench
exec build/bin/fewshot-server --model_dir=models/omniglot-conv4 "$@"
