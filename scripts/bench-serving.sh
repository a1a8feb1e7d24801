#!/usr/bin/env bash
# Measures the serving path against its in-process limit, in one run on one
# machine, and checks the serving targets:
#   1. raw forward (fewshot-bench-raw): Encoder::Embed, eager and optimized,
#      over a sweep of batch sizes and LibTorch thread counts, before and
#      after the server runs (the faster of the two is the limit);
#   2. Adapt (the 5-way 5-shot example support set, 25 images) p50/p99 at
#      concurrency 1, in ADAPT_ROUNDS rounds that each time the raw forward
#      of 25 images first, so that a machine whose speed drifts during the
#      run (shared hosts do) moves both sides of each round's ratio alike;
#   3. Predict throughput and p99 at concurrency 1, 8, 32, 128, as unary
#      calls, as StreamPredict messages sent one at a time (one stream per
#      caller) and as StreamPredict messages sent ahead (STREAM_MESSAGES
#      per stream, all sent before any answer is read);
#   4. the ratios server/raw, and per query count a 2x overload run (fixed
#      rate, twice the measured Predict capacity, calls started
#      asynchronously) that must answer the excess with RESOURCE_EXHAUSTED
#      while the accepted calls' p99 stays bounded, valid only when the
#      client could offer that rate;
#   5. where the CPU goes at Predict concurrency 32, per call or message:
#      the client's and the server's CPU time per call (user + system), and
#      the call rates the machine's cores could sustain at those costs,
#      with and without the client on the same cores.
# Starts its own fewshot-server on a free loopback port and stops it. Prints
# a table with PASS/MISS per target and writes $OUT_DIR/$NAME.json and
# $OUT_DIR/$NAME.md with the machine description and the exact command.
# Arguments are passed to fewshot-server (e.g. --workers=1 --torch_threads=2).
#
#   scripts/bench-serving.sh
#   NAME=serving-w1t2 scripts/bench-serving.sh --workers=1 --torch_threads=2
#
# Environment (defaults in brackets): BUILD_DIR [build], OUT_DIR [reports],
# NAME [serving], MODEL_DIR [models/omniglot-conv4], SECONDS_PER_LEVEL [5],
# ADAPT_CALLS [300], ADAPT_ROUNDS [5], LEVELS [1,8,32,128], QUERIES
# ["1 10"] (queries per Predict call, one sweep each), INPUTS ["tensor
# png"] (the targets use the first input kind with the first query count),
# RAW_THREADS [1,2], RAW_BATCHES [1,2,4,8,16,25,32,64,128,256],
# STREAM_MESSAGES [32],
# OVERLOAD_CONCURRENCY [256], BUILD [1] (0: do not build the three
# binaries), FEWSHOT_JOBS [1].
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
OUT_DIR="${OUT_DIR:-reports}"
NAME="${NAME:-serving}"
MODEL_DIR="${MODEL_DIR:-models/omniglot-conv4}"
SECONDS_PER_LEVEL="${SECONDS_PER_LEVEL:-5}"
ADAPT_CALLS="${ADAPT_CALLS:-300}"
ADAPT_ROUNDS="${ADAPT_ROUNDS:-5}"
LEVELS="${LEVELS:-1,8,32,128}"
QUERIES="${QUERIES:-1 10}"
INPUTS="${INPUTS:-tensor png}"
RAW_THREADS="${RAW_THREADS:-1,2}"
RAW_BATCHES="${RAW_BATCHES:-1,2,4,8,16,25,32,64,128,256}"
OVERLOAD_CONCURRENCY="${OVERLOAD_CONCURRENCY:-256}"
STREAM_MESSAGES="${STREAM_MESSAGES:-32}"
SUPPORT=examples/omniglot/support
QUERY_DIR=examples/omniglot/queries
if ! [[ "$ADAPT_ROUNDS" =~ ^[1-9][0-9]*$ ]] ||
    ((ADAPT_CALLS / ADAPT_ROUNDS < 1)); then
  echo "bench-serving: ADAPT_ROUNDS is '$ADAPT_ROUNDS'; expected 1 to" \
    "ADAPT_CALLS ($ADAPT_CALLS)" >&2
  exit 2
fi
# Seconds to wait for the server to listen, and for any one step.
STARTUP_TIMEOUT=60
STEP_TIMEOUT=300

command_line="$(printf '%q ' "$0" "$@")"
for variable in BUILD_DIR NAME SECONDS_PER_LEVEL ADAPT_CALLS ADAPT_ROUNDS \
    LEVELS QUERIES INPUTS RAW_THREADS RAW_BATCHES OVERLOAD_CONCURRENCY \
    STREAM_MESSAGES; do
  command_line="$variable='${!variable}' $command_line"
done

if [[ "${BUILD:-1}" != 0 ]]; then
  cmake --build "$BUILD_DIR" -j "${FEWSHOT_JOBS:-1}" \
    --target fewshot-server fewshot-bench fewshot-bench-raw >&2
fi
bin="$BUILD_DIR/bin"
for binary in fewshot-server fewshot-bench fewshot-bench-raw; do
  if [[ ! -x "$bin/$binary" ]]; then
    echo "bench-serving: $bin/$binary missing; build it first" >&2
    exit 1
  fi
done

# The server started here is stopped, and the scratch folder removed, on
# exit.
work_dir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# 1. The raw forward pass, while no server runs; measured again at the end,
# so that the limit brackets the server runs on a machine whose load varies.
raw_forward() {
  echo "== raw forward (fewshot-bench-raw), $1" >&2
  timeout "$STEP_TIMEOUT" "$bin/fewshot-bench-raw" --model_dir="$MODEL_DIR" \
    --threads="$RAW_THREADS" --batches="$RAW_BATCHES" \
    --json_out="$work_dir/raw-$1.json" >&2
}
raw_forward before

# Start the server on a free loopback port; its start line names the port.
"$bin/fewshot-server" --address=127.0.0.1:0 --metrics_address= \
  --model_dir="$MODEL_DIR" "$@" >"$work_dir/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + STARTUP_TIMEOUT))
port=""
until port="$(grep -oE '\(port [0-9]+\)' "$work_dir/server.log" |
    grep -oE '[0-9]+')"; do
  if ! kill -0 "$server_pid" 2>/dev/null || ((SECONDS >= deadline)); then
    echo "bench-serving: fewshot-server did not start:" >&2
    cat "$work_dir/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
target="127.0.0.1:$port"
echo "== server on $target:" \
  "$(grep -m1 'serving model' "$work_dir/server.log")" >&2

# Runs fewshot-bench against the server with the given flags.
bench() {
  timeout "$STEP_TIMEOUT" "$bin/fewshot-bench" --target="$target" \
    --format=json "$@" "$SUPPORT" "$QUERY_DIR"
}

# 2. The Adapt target: rounds of the raw forward of 25 images at the
# server's intra-op threads (the server idle meanwhile), then a share of
# the Adapt calls, first input kind.
torch_threads="$(grep -m1 -oE '[0-9]+ torch threads' "$work_dir/server.log" |
  grep -oE '^[0-9]+')"
for round in $(seq 1 "$ADAPT_ROUNDS"); do
  echo "== Adapt round $round of $ADAPT_ROUNDS: raw forward, then" \
    "$((ADAPT_CALLS / ADAPT_ROUNDS)) calls" >&2
  timeout "$STEP_TIMEOUT" "$bin/fewshot-bench-raw" --model_dir="$MODEL_DIR" \
    --threads="$torch_threads" --batches=25 \
    --json_out="$work_dir/round-raw-$round.json" >&2
  bench --input="${INPUTS%% *}" --rpc=adapt --concurrency=1 \
    --requests="$((ADAPT_CALLS / ADAPT_ROUNDS))" --warmup=10 \
    >"$work_dir/round-adapt-$round.json"
done

# 3. Adapt over all its calls, then the Predict sweep, per input kind.
for input in $INPUTS; do
  echo "== Adapt, $input, concurrency 1, $ADAPT_CALLS calls" >&2
  bench --input="$input" --rpc=adapt --concurrency=1 \
    --requests="$ADAPT_CALLS" --warmup=20 >"$work_dir/adapt-$input.json"
  for queries in $QUERIES; do
    echo "== Predict, $input, $queries per call, concurrency $LEVELS" >&2
    bench --input="$input" --rpc=predict --concurrency="$LEVELS" \
      --queries="$queries" --duration_s="$SECONDS_PER_LEVEL" --warmup=50 \
      >"$work_dir/predict-$input-$queries.json"
  done
done
for queries in $QUERIES; do
  echo "== StreamPredict, ${INPUTS%% *}, $queries per message," \
    "concurrency $LEVELS" >&2
  bench --input="${INPUTS%% *}" --rpc=stream_predict --concurrency="$LEVELS" \
    --queries="$queries" --duration_s="$SECONDS_PER_LEVEL" --warmup=50 \
    >"$work_dir/stream-$queries.json"
  echo "== StreamPredict sent ahead, ${INPUTS%% *}, $queries per message," \
    "$STREAM_MESSAGES per stream, concurrency $LEVELS" >&2
  bench --input="${INPUTS%% *}" --rpc=stream_ahead --concurrency="$LEVELS" \
    --queries="$queries" --stream_messages="$STREAM_MESSAGES" \
    --duration_s="$SECONDS_PER_LEVEL" --warmup=5 \
    >"$work_dir/ahead-$queries.json"
done

# 5. CPU per call at concurrency 32 (first input kind and query count),
# unary and streamed: the server's from /proc (clock ticks), the client's
# from bash's `time`.
server_cpu_seconds() {
  local ticks
  ticks="$(sed 's/^.*) //' "/proc/$server_pid/stat" |
    awk '{ print $12 + $13 }')"
  python3 -c "import sys; print(int(sys.argv[1]) / int(sys.argv[2]))" \
    "$ticks" "$(getconf CLK_TCK)"
}
cpu_per_call() {
  local rpc="$1"
  echo "== CPU per call: $rpc, ${INPUTS%% *}, concurrency 32" >&2
  local before after
  before="$(server_cpu_seconds)"
  (
    TIMEFORMAT='%U %S'
    time bench --input="${INPUTS%% *}" --rpc="$rpc" --concurrency=32 \
      --queries="${QUERIES%% *}" --stream_messages="$STREAM_MESSAGES" \
      --duration_s="$SECONDS_PER_LEVEL" --warmup=0 \
      >"$work_dir/cpu-$rpc-run.json"
  ) 2>"$work_dir/cpu-$rpc-client.txt"
  after="$(server_cpu_seconds)"
  python3 - "$work_dir" "$rpc" "$before" "$after" "${QUERIES%% *}" <<'PY'
import json
import os
import sys

work_dir, rpc = sys.argv[1], sys.argv[2]
before, after = float(sys.argv[3]), float(sys.argv[4])
queries = int(sys.argv[5])
with open(os.path.join(work_dir, f"cpu-{rpc}-client.txt")) as f:
    user, system = map(float, f.read().split()[-2:])
with open(os.path.join(work_dir, f"cpu-{rpc}-run.json")) as f:
    run = json.load(f)["results"][0]
# A stream_ahead call carries many messages; count messages.
messages_per_call = run["images_per_call"] // queries
with open(os.path.join(work_dir, f"cpu-{rpc}.json"), "w") as f:
    json.dump({"calls": run["ok"] * messages_per_call,
               "throughput": run["throughput"] * messages_per_call,
               "elapsed_s": run["elapsed_s"],
               "client_cpu_s": user + system,
               "server_cpu_s": after - before}, f)
PY
}
cpu_per_call predict
cpu_per_call stream_predict
cpu_per_call stream_ahead

# 4. Overload at twice the best Predict rate of the first input kind, once
# per query count: light calls cost the client almost as much CPU as the
# server, so on shared cores only heavier calls let it offer twice the rate.
for queries in $QUERIES; do
  capacity="$(python3 -c 'import json, sys
rows = json.load(open(sys.argv[1]))["results"]
print(max(row["throughput"] for row in rows))' \
    "$work_dir/predict-${INPUTS%% *}-$queries.json")"
  rate="$(python3 -c 'import sys; print(round(2 * float(sys.argv[1]), 1))' \
    "$capacity")"
  echo "== overload: Predict, ${INPUTS%% *}, $queries per call," \
    "$rate calls/s (2 x $capacity)" >&2
  bench --input="${INPUTS%% *}" --rpc=predict \
    --concurrency="$OVERLOAD_CONCURRENCY" --rate="$rate" \
    --queries="$queries" --duration_s="$SECONDS_PER_LEVEL" --warmup=0 \
    >"$work_dir/overload-$queries.json"
done

# Stop the server and check that it shut down cleanly.
kill -TERM "$server_pid"
server_exit=0
wait "$server_pid" || server_exit=$?
server_pid=""
if ((server_exit != 0)); then
  echo "bench-serving: fewshot-server exited with $server_exit:" >&2
  cat "$work_dir/server.log" >&2
  exit 1
fi

raw_forward after

# Describe the machine and the build.
cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"
torch_version="$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null ||
  echo unknown)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit (with uncommitted changes)"
fi
export BENCH_CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
  head -1)"
export BENCH_CORES="$(nproc)"
export BENCH_MEMORY="$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' \
  /proc/meminfo)"
export BENCH_OS="$(. /etc/os-release && echo "$PRETTY_NAME"),"\
" kernel $(uname -r)"
export BENCH_COMPILER="$("${cxx:-c++}" --version | head -1)"
export BENCH_BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' \
  "$BUILD_DIR/CMakeCache.txt")"
export BENCH_LIBTORCH="$torch_version"
export BENCH_GRPC="$(dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null ||
  echo unknown)"
export BENCH_COMMIT="$commit"
export BENCH_STARTED_AT="$started_at"
export BENCH_LOAD_START="$load_start"
export BENCH_LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
export BENCH_SERVER_LINE="$(grep -m1 'serving model' "$work_dir/server.log" |
  sed 's/^.*\] //')"
export BENCH_SERVER_FLAGS="$*"
export BENCH_COMMAND="$command_line"
export BENCH_ADAPT_ROUNDS="$ADAPT_ROUNDS"

# Compute the ratios, print the table and write the reports.
mkdir -p "$OUT_DIR"
python3 - "$work_dir" "$OUT_DIR/$NAME" "$INPUTS" "$QUERIES" <<'PY'
import json
import os
import re
import sys

work_dir, out_stem = sys.argv[1], sys.argv[2]
inputs, query_counts = sys.argv[3].split(), sys.argv[4].split()
headline = inputs[0]
sweeps = [(i, q) for i in inputs for q in query_counts]


def load(name):
    with open(os.path.join(work_dir, name)) as f:
        return json.load(f)


machine = {key: os.environ["BENCH_" + name] for key, name in [
    ("cpu", "CPU"), ("cores", "CORES"), ("memory", "MEMORY"), ("os", "OS"),
    ("compiler", "COMPILER"), ("build_type", "BUILD_TYPE"),
    ("libtorch", "LIBTORCH"), ("grpc", "GRPC"), ("commit", "COMMIT"),
    ("started_at", "STARTED_AT"), ("load_average_start", "LOAD_START"),
    ("load_average_end", "LOAD_END"), ("server", "SERVER_LINE"),
    ("server_flags", "SERVER_FLAGS"), ("command", "COMMAND")]}
# Each raw point keeps the faster of its two medians (before and after the
# server ran), so that the limit is the stricter one.
raw = []
for before, after in zip(load("raw-before.json")["points"],
                         load("raw-after.json")["points"]):
    best = dict(min(before, after, key=lambda p: p["median_ms"]))
    best["median_ms_before"] = before["median_ms"]
    best["median_ms_after"] = after["median_ms"]
    raw.append(best)
adapt = {i: load(f"adapt-{i}.json")["results"][0] for i in inputs}
predict = {f"{i}-{q}": load(f"predict-{i}-{q}.json")["results"]
           for i, q in sweeps}
streams = {q: load(f"stream-{q}.json")["results"] for q in query_counts}
ahead = {q: load(f"ahead-{q}.json")["results"] for q in query_counts}
stream_messages = ahead[query_counts[0]][0]["images_per_call"] // \
    int(query_counts[0])
overloads = {q: load(f"overload-{q}.json")["results"][0]
             for q in query_counts}
cpu = {rpc: load(f"cpu-{rpc}.json")
       for rpc in ("predict", "stream_predict", "stream_ahead")}
match = re.search(r"(\d+) workers; (\d+) torch threads",
                  machine["server"])
workers, torch_threads = (int(match.group(1)), int(match.group(2))) \
    if match else (0, 0)

# The raw limits: the faster mode at the server's intra-op threads for one
# Adapt's 25 images; the best images/s over every measured point (mode,
# batch, threads) for throughput.
support = adapt[headline]["images_per_call"]
at_support = [p for p in raw if p["batch"] == support]
same_threads = [p for p in at_support if p["threads"] == torch_threads] \
    or at_support
raw_adapt = min(same_threads, key=lambda p: p["median_ms"])
raw_best = max(raw, key=lambda p: p["images_per_s"])


def row_at(rows, level):
    return next((r for r in rows if r["concurrency"] == level), None)


# Each Adapt round against the raw forward timed just before it; the
# target takes the median round.
rounds = []
for n in range(1, int(os.environ["BENCH_ADAPT_ROUNDS"]) + 1):
    points = [p for p in load(f"round-raw-{n}.json")["points"]
              if p["batch"] == support]
    raw_ms = min(p["median_ms"] for p in points)
    calls = load(f"round-adapt-{n}.json")["results"][0]
    rounds.append({"round": n, "raw_ms": raw_ms,
                   "adapt_p50_ms": calls["p50_ms"], "calls": calls["ok"],
                   "ratio": calls["p50_ms"] / raw_ms})
median_round = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]

targets = []
adapt_ratio = median_round["ratio"]
round_ratios = ", ".join(f"{r['ratio']:.2f}" for r in rounds)
targets.append({
    "target": f"Adapt p50 <= 1.3x raw forward of its {support} images "
              f"(median of {len(rounds)} interleaved rounds)",
    "measured": f"{median_round['adapt_p50_ms']:.2f} ms vs "
                f"{median_round['raw_ms']:.2f} ms = {adapt_ratio:.2f}x "
                f"(rounds: {round_ratios})",
    "ratio": adapt_ratio, "limit": 1.3, "pass": adapt_ratio <= 1.3})
whole_run_ratio = adapt[headline]["p50_ms"] / raw_adapt["median_ms"]
# Throughput per query count, as unary calls and as StreamPredict messages
# (one stream per caller), sent one at a time or ahead.
for q in query_counts:
    queries = f"{q} quer{'y' if q == '1' else 'ies'}"
    for how, sweep in [(f"unary calls of {queries}",
                        predict[f"{headline}-{q}"]),
                       (f"StreamPredict messages of {queries}", streams[q]),
                       (f"StreamPredict messages of {queries} sent ahead "
                        f"({stream_messages} per stream)", ahead[q])]:
        c32 = row_at(sweep, 32)
        if c32 is None:
            continue
        ratio = c32["images_per_s"] / raw_best["images_per_s"]
        targets.append({
            "target": "Predict images/s at concurrency 32 >= 0.8x raw best "
                      f"batch, {how}",
            "measured": f"{c32['images_per_s']:.0f} vs "
                        f"{raw_best['images_per_s']:.0f} images/s = "
                        f"{ratio:.2f}x",
            "ratio": ratio, "limit": 0.8, "pass": ratio >= 0.8})
for q, overload in overloads.items():
    sweep = predict[f"{headline}-{q}"]
    top = max(sweep, key=lambda r: r["concurrency"])
    exhausted = overload["errors"].get("RESOURCE_EXHAUSTED", 0)
    other_errors = sum(n for code, n in overload["errors"].items()
                       if code != "RESOURCE_EXHAUSTED")
    bound_ms = 3 * top["p99_ms"]
    offered_ok = overload["started_per_s"] >= 0.9 * overload["rate"]
    sent_p99 = overload["sent_p99_ms"]
    targets.append({
        "target": f"2x overload, Predict calls of {q} quer"
                  f"{'y' if q == '1' else 'ies'}: excess gets "
                  "RESOURCE_EXHAUSTED, accepted p99 <= 3x closed-loop p99 "
                  f"at concurrency {top['concurrency']}",
        "measured": f"offered {overload['rate']:.0f}/s, started "
                    f"{overload['started_per_s']:.0f}/s (start lag p99 "
                    f"{overload['start_lag_p99_ms']:.1f} ms); accepted "
                    f"{overload['throughput']:.0f}/s, p99 {sent_p99:.1f} ms "
                    f"from send ({overload['p99_ms']:.1f} from due; bound "
                    f"{bound_ms:.1f}); RESOURCE_EXHAUSTED {exhausted}, other "
                    f"errors {other_errors}"
                    + ("" if offered_ok else
                       "; the client could not offer the rate"),
        "ratio": sent_p99 / bound_ms if bound_ms else 0, "limit": 1.0,
        "pass": exhausted > 0 and other_errors == 0 and offered_ok
                and sent_p99 <= bound_ms})

# Where the CPU goes at concurrency 32, and the call rates the cores could
# sustain at those costs.
cores = int(machine["cores"])
raw_us = 1e6 / raw_best["images_per_s"] * raw_best["threads"]
for run in cpu.values():
    client_us = 1e6 * run["client_cpu_s"] / max(run["calls"], 1)
    server_us = 1e6 * run["server_cpu_s"] / max(run["calls"], 1)
    run.update({"client_us_per_call": client_us,
                "server_us_per_call": server_us,
                "raw_best_cpu_us_per_image": raw_us,
                "ceiling_shared_cores": cores * 1e6 / (client_us + server_us),
                "ceiling_server_alone": cores * 1e6 / server_us})

# The tables, as Markdown (printed and written).
lines = [f"# Serving benchmark: {os.path.basename(out_stem)}", ""]
lines += ["| Target | Measured | Result |", "|---|---|---|"]
lines += [f"| {t['target']} | {t['measured']} | "
          f"{'PASS' if t['pass'] else 'MISS'} |" for t in targets]
lines += ["", f"Targets use examples sent as `{headline}`; each Predict "
          "row names its queries per call or message. Server and client "
          "share the machine's cores; the overload runs start their calls "
          "asynchronously from one client thread.", "",
          f"## Adapt rounds (concurrency 1, {support} images)", "",
          f"Each round times the raw forward of {support} images (faster mode, "
          f"{torch_threads} thread(s), server idle) and then "
          f"{rounds[0]['calls']} Adapt calls.", "",
          "| round | raw ms | Adapt p50 ms | ratio |",
          "|---:|---:|---:|---:|"]
lines += [f"| {r['round']} | {r['raw_ms']:.3f} | {r['adapt_p50_ms']:.2f} | "
          f"{r['ratio']:.2f} |" for r in rounds]
lines += ["", f"Over all {adapt[headline]['ok']} Adapt calls of the "
          "server table below against the faster of the raw runs before "
          f"and after the server (how runs 1-8 measured it): "
          f"{adapt[headline]['p50_ms']:.2f} vs {raw_adapt['median_ms']:.2f} "
          f"ms = {whole_run_ratio:.2f}x.", "",
          "## CPU per call (Predict, concurrency 32)", "",
          "A StreamPredict message counts as a call; stream_ahead sends "
          f"{stream_messages} per stream before reading the answers.", "",
          f"The raw best batch costs {raw_us:.0f} us of CPU per image; the "
          f"target is {0.8 * raw_best['images_per_s']:.0f} images/s.", "",
          "| calls as | calls | s | calls/s | client us/call | "
          "server us/call | cores' ceiling with client | server alone |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
lines += [f"| {rpc} | {run['calls']} | {run['elapsed_s']:.1f} | "
          f"{run['throughput']:.0f} | {run['client_us_per_call']:.0f} | "
          f"{run['server_us_per_call']:.0f} | "
          f"{run['ceiling_shared_cores']:.0f} | "
          f"{run['ceiling_server_alone']:.0f} |"
          for rpc, run in cpu.items()]
lines += ["", "CPU is user + system time, per completed call; the ceilings "
          f"are the calls/s the {cores} cores could sustain at these "
          "costs.", "",
          "## Raw forward (in process, ms per batch)", "",
          "Median of each point before and after the server runs; the "
          "faster one is the limit.", "",
          "| mode | threads | batch | median ms before | after | "
          "images/s (faster) |", "|---|---:|---:|---:|---:|---:|"]
lines += [f"| {p['mode']} | {p['threads']} | {p['batch']} | "
          f"{p['median_ms_before']:.3f} | {p['median_ms_after']:.3f} | "
          f"{p['images_per_s']:.0f} |" for p in raw]
lines += ["", f"Best: {raw_best['mode']}, {raw_best['threads']} thread(s), "
          f"batch {raw_best['batch']}: {raw_best['images_per_s']:.0f} "
          "images/s.", "", "## Server (client-side latency, ms)", "",
          "| rpc | input | images/call | conc | rate | calls/s | images/s | "
          "p50 | p99 | errors |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]


def server_row(row, input_kind):
    errors = ", ".join(f"{c}: {n}" for c, n in row["errors"].items()) or "-"
    rate = f"{row['rate']:.0f}" if row["rate"] else "closed"
    return (f"| {row['rpc']} | {input_kind} | {row['images_per_call']} | "
            f"{row['concurrency']} | {rate} "
            f"| {row['throughput']:.1f} | {row['images_per_s']:.0f} | "
            f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {errors} |")


for i in inputs:
    lines.append(server_row(adapt[i], i))
    for q in query_counts:
        lines += [server_row(r, i) for r in predict[f"{i}-{q}"]]
for q in query_counts:
    lines += [server_row(r, headline) for r in streams[q]]
    lines += [server_row(r, headline) for r in ahead[q]]
lines += [server_row(overload, headline) for overload in overloads.values()]
lines += ["", "## Machine", ""]
lines += [f"- {key}: `{value}`" for key, value in machine.items()]
markdown = "\n".join(lines) + "\n"
print(markdown)
with open(out_stem + ".md", "w") as f:
    f.write(markdown)
with open(out_stem + ".json", "w") as f:
    json.dump({"machine": machine, "server": {"workers": workers,
               "torch_threads": torch_threads}, "targets": targets,
               "raw": raw, "adapt": adapt, "adapt_rounds": rounds,
               "predict": predict, "stream_predict": streams,
               "stream_ahead": ahead,
               "overload": overloads, "cpu_per_call": cpu}, f, indent=2)
    f.write("\n")
PY
echo "bench-serving: wrote $OUT_DIR/$NAME.md and $OUT_DIR/$NAME.json" >&2
