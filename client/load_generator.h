// Drives one RPC from N concurrent callers for a number of requests or a
// duration, either closed loop (each caller starts its next call when the
// previous one returns) or open loop at a fixed rate, and records the
// latency of every successful call and the status code of every failed one.
// RunLoad blocks one thread per call in flight; RunOpenLoopLoad starts
// asynchronous calls from one thread, which costs the client less CPU
// per call when it must offer a high rate.
//
// Example:
//   LoadOptions options;
//   options.concurrency = 8;
//   options.requests = 1000;
//   absl::StatusOr<LoadResult> result = RunLoad(
//       options, [&](int64_t) { return client->Predict(request).status(); });
#ifndef FEWSHOT_CLIENT_LOAD_GENERATOR_H_
#define FEWSHOT_CLIENT_LOAD_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fewshot::client {

struct LoadOptions {
  // Threads making calls; in fixed-rate mode, the most calls in flight.
  int concurrency = 1;
  // Calls to start; 0 leaves the run bounded by `duration` only.
  int64_t requests = 0;
  // No call starts after this much time; zero leaves the run bounded by
  // `requests` only. At least one of the two bounds must be set.
  absl::Duration duration = absl::ZeroDuration();
  // Calls started per second (open loop): call i is due at i / rate after
  // the start, and its latency is counted from then, so time spent waiting
  // for a free caller counts. 0 runs closed loop.
  double rate = 0;
};

// What a run observed.
struct LoadResult {
  // Calls that returned OK, and the latency of each, in milliseconds, in no
  // particular order.
  int64_t ok = 0;
  std::vector<double> ok_latencies_ms;
  // In fixed-rate mode only: for every call started, how late it started
  // (all callers busy, or the client short of CPU), in milliseconds, in no
  // particular order; and for every successful call, its latency counted
  // from when it was sent rather than from when it was due. A large lag
  // means the client, not the server, could not keep up with the rate.
  std::vector<double> start_lags_ms;
  std::vector<double> ok_sent_latencies_ms;
  // Failed calls by status code (gRPC and absl codes are the same numbers).
  std::map<absl::StatusCode, int64_t> errors;
  // One of the failures, for messages; OK when there was none.
  absl::Status first_error;
  // From the start to the end of the last call.
  absl::Duration elapsed = absl::ZeroDuration();

  // Successful calls per second of `elapsed`; 0 for an empty run.
  double Throughput() const;
};

// One call of the load. `index` counts calls from 0 over the run, so a
// caller can vary its requests. Called from several threads at once.
using LoadCall = std::function<absl::Status(int64_t index)>;

// Runs `call` as `options` says and returns what happened. A failed call is
// counted, never ends the run. Returns INVALID_ARGUMENT, without calling,
// for a concurrency below 1, a negative request count, duration or rate,
// or neither a request count nor a duration.
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const LoadCall& call);

// Reports how one asynchronous call ended; must run exactly once per call.
using LoadDone = std::function<void(absl::Status status)>;

// One call of an open-loop load: starts the call numbered `index` and
// returns without waiting for it; `done` may run on any thread, also
// before the call returns.
using AsyncLoadCall = std::function<void(int64_t index, LoadDone done)>;

// Runs `call` open loop at options.rate from the calling thread: call i is
// started when due (i / rate after the start) unless options.concurrency
// calls are in flight, in which case it starts when one ends (its start
// lag counts). Waits for every started call to end. Returns as RunLoad
// does, and INVALID_ARGUMENT for a rate that is not positive.
absl::StatusOr<LoadResult> RunOpenLoopLoad(const LoadOptions& options,
                                           const AsyncLoadCall& call);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_LOAD_GENERATOR_H_
