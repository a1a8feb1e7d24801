#!/usr/bin/env bash
# Compares meta-training throughput alone and data-parallel: runs
# fewshot-train for EPISODES steps with one worker, then with two workers
# (ranks 0 and 1 rendezvousing on 127.0.0.1), each with one LibTorch thread
# and the same per-worker episode shape, and prints episodes/s and images/s
# side by side. Times are fewshot-train's own training times (data loading
# excluded); with two workers, the slower worker's. CPU seconds per episode
# (user + system, start-up included, all workers) show the cost of the
# gradient exchange even when other jobs share the cores. Builds nothing:
# expects $BUILD_DIR/bin/fewshot-train (default build/bin) and Omniglot.
# NOTE: rank 0's rendezvous store (LibTorch 1.13's TCPStore) listens on
# all interfaces on $PORT while the two-worker run lasts, although the
# workers talk over 127.0.0.1; run it where that port is firewalled.
#
#   BUILD_DIR=build EPISODES=40 WAYS=20 scripts/bench-distributed.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
EPISODES="${EPISODES:-40}"
WAYS="${WAYS:-20}"
SHOTS="${SHOTS:-5}"
QUERIES="${QUERIES:-5}"
PORT="${PORT:-29531}"
CACHE_DIR="${CACHE_DIR:-.cache}"
# Seconds one run (all its workers) may take.
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"

train="$BUILD_DIR/bin/fewshot-train"
if [[ ! -x "$train" ]]; then
  echo "bench-distributed: $train missing; build first" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_worker NAME WORLD_SIZE RANK [STEPS]: trains in the background, output
# in $work/NAME.log, user and system CPU seconds in $work/NAME.cpu.
run_worker() {
  (
    TIMEFORMAT='%U %S'
    time timeout "$RUN_TIMEOUT" "$train" --episodes="${4:-$EPISODES}" \
      --ways="$WAYS" --shots="$SHOTS" --queries="$QUERIES" --threads=1 \
      --cache_dir="$CACHE_DIR" --output="$work/$1-bundle" \
      --checkpoint_dir="$work/$1-checkpoints" \
      --checkpoint_every="$EPISODES" --world_size="$2" --rank="$3" \
      --dist_addr=127.0.0.1 --dist_port="$PORT" >"$work/$1.log" 2>&1
  ) 2>"$work/$1.cpu" &
}

# cpu NAME: user + system CPU seconds of the worker.
cpu() {
  awk '{ print $1 + $2 }' "$work/$1.cpu"
}

# seconds NAME: the training time fewshot-train printed, e.g. "(31.2 s)".
seconds() {
  local value
  value=$(sed -n 's/.*(\([0-9.]*\) s).*/\1/p' "$work/$1.log" | tail -1)
  if [[ -z "$value" ]]; then
    echo "bench-distributed: no training time in $1's output:" >&2
    tail -5 "$work/$1.log" >&2
    exit 1
  fi
  echo "$value"
}

# Warm the decoded-data cache so that neither run pays for decoding.
run_worker warmup 1 0 1
wait $! || true

run_worker alone 1 0
wait $! || true
alone=$(seconds alone)
alone_cpu=$(cpu alone)

run_worker rank0 2 0
pid0=$!
run_worker rank1 2 1
pid1=$!
wait "$pid0" || true
wait "$pid1" || true
t0=$(seconds rank0)
t1=$(seconds rank1)
pair_cpu=$(awk -v a="$(cpu rank0)" -v b="$(cpu rank1)" 'BEGIN { print a + b }')

awk -v n="$EPISODES" -v images=$((WAYS * (SHOTS + QUERIES))) \
    -v alone="$alone" -v t0="$t0" -v t1="$t1" -v ways="$WAYS" \
    -v alone_cpu="$alone_cpu" -v pair_cpu="$pair_cpu" \
    -v shots="$SHOTS" -v queries="$QUERIES" 'BEGIN {
  pair = t0 > t1 ? t0 : t1
  printf "%d-way %d-shot %d-query episodes, %d steps per worker, " \
         "1 LibTorch thread per worker\n", ways, shots, queries, n
  printf "%-10s %10s %12s %12s %16s\n", "workers", "seconds", "episodes/s",
         "images/s", "CPU s/episode"
  printf "%-10d %10.1f %12.2f %12.0f %16.3f\n", 1, alone, n / alone,
         n * images / alone, alone_cpu / n
  printf "%-10d %10.1f %12.2f %12.0f %16.3f\n", 2, pair, 2 * n / pair,
         2 * n * images / pair, pair_cpu / (2 * n)
  printf "speed-up with 2 workers: %.2fx\n", (2 * n / pair) / (n / alone)
}'
