#!/usr/bin/env bash
# Compares the adaptation stores: for each of memory, disk and redis, starts
# fewshot-server on loopback (with its own redis-server for redis), adapts
# the 5-way 5-shot support set in examples/omniglot/, and prints one table
# of bytes per adaptation and Adapt/AddExamples/Predict p50 and p99 at
# concurrency 1. Builds nothing: expects $BUILD_DIR/bin (default build/bin).
#
#   BUILD_DIR=build REQUESTS=100 scripts/bench-stores.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
REQUESTS="${REQUESTS:-100}"
MODEL_DIR="${MODEL_DIR:-models/omniglot-conv4}"
SUPPORT=examples/omniglot/support
QUERIES=examples/omniglot/queries
# Seconds to wait for a server to answer, and for the whole bench of a store.
STARTUP_TIMEOUT=60
BENCH_TIMEOUT=300

for binary in fewshot-server fewshot-client fewshot-bench; do
  if [[ ! -x "$BUILD_DIR/bin/$binary" ]]; then
    echo "bench-stores: $BUILD_DIR/bin/$binary missing; build first" >&2
    exit 1
  fi
done
if ! command -v redis-server >/dev/null; then
  echo "bench-stores: redis-server not installed" >&2
  exit 1
fi

# Everything started here is stopped, and the scratch folder removed, on exit.
work_dir="$(mktemp -d)"
redis_pid=""
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "$redis_pid" ]]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints a loopback TCP port that was free a moment ago.
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Waits until `fewshot-client info` answers on $1, or fails after
# STARTUP_TIMEOUT seconds or if the server process ended.
wait_for_server() {
  local target="$1"
  local deadline=$((SECONDS + STARTUP_TIMEOUT))
  until "$BUILD_DIR/bin/fewshot-client" --target="$target" info \
      >/dev/null 2>&1; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "bench-stores: fewshot-server exited; see $work_dir/server.log" >&2
      cat "$work_dir/server.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "bench-stores: no answer on $target in ${STARTUP_TIMEOUT}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

# Start Redis on loopback, without persistence.
redis_port="$(free_port)"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
  --appendonly no --daemonize no >"$work_dir/redis.log" 2>&1 &
redis_pid=$!
deadline=$((SECONDS + 10))
until redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null |
    grep -q PONG; do
  if ((SECONDS >= deadline)); then
    echo "bench-stores: redis-server did not start" >&2
    cat "$work_dir/redis.log" >&2
    exit 1
  fi
  sleep 0.2
done

# Bench each store against a fresh server, and keep one CSV line per store.
results="$work_dir/results.txt"
for store in memory disk redis; do
  store_flags=(--store="$store")
  case "$store" in
    disk)
      mkdir -p "$work_dir/disk"
      store_flags+=(--store_dir="$work_dir/disk")
      ;;
    redis)
      store_flags+=(--redis_address="127.0.0.1:$redis_port"
                    --redis_key_prefix="bench-stores:")
      ;;
  esac
  port="$(free_port)"
  metrics_port="$(free_port)"
  target="127.0.0.1:$port"
  "$BUILD_DIR/bin/fewshot-server" --model_dir="$MODEL_DIR" \
    --address="$target" --metrics_address="127.0.0.1:$metrics_port" \
    "${store_flags[@]}" >"$work_dir/server.log" 2>&1 &
  server_pid=$!
  wait_for_server "$target"

  timeout "$BENCH_TIMEOUT" "$BUILD_DIR/bin/fewshot-bench" --target="$target" \
    --rpc=adapt,add_examples,predict --concurrency=1 \
    --requests="$REQUESTS" --format=csv "$SUPPORT" "$QUERIES" \
    >"$work_dir/$store.csv"
  python3 - "$store" "$work_dir/$store.csv" >>"$results" <<'PY'
import csv
import sys

store, path = sys.argv[1], sys.argv[2]
rows = {row["rpc"]: row for row in csv.DictReader(open(path))}
cells = [store, rows["adapt"]["adaptation_bytes"]]
for rpc in ("adapt", "add_examples", "predict"):
    cells += [rows[rpc]["p50_ms"], rows[rpc]["p99_ms"], rows[rpc]["errors"]]
print(" ".join(cells))
PY

  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  rm -rf "$work_dir/disk"
done

# Print the table.
echo "5-way 5-shot, concurrency 1, $REQUESTS calls per RPC; latency in ms"
printf '%-7s %12s %9s %9s %9s %9s %9s %9s  %s\n' store bytes/adapt \
  adapt_p50 adapt_p99 add_p50 add_p99 pred_p50 pred_p99 errors
while read -r store bytes a50 a99 ae b50 b99 be p50 p99 pe; do
  errors="adapt=$ae add=$be predict=$pe"
  [[ "$ae$be$pe" == "---" ]] && errors="-"
  printf '%-7s %12s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f  %s\n' "$store" \
    "$bytes" "$a50" "$a99" "$b50" "$b99" "$p50" "$p99" "$errors"
done <"$results"
