// Implements RunLoad: one thread per caller, a shared call counter that
// hands out indices and enforces the request bound, per-thread results
// merged at the end; and RunOpenLoopLoad: one starting thread, results
// recorded under a mutex by the calls' completions.
#include "client/load_generator.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fewshot::client {
namespace {

// Checks that the options describe a bounded run.
absl::Status CheckOptions(const LoadOptions& options) {
  if (options.concurrency < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("concurrency: expected >= 1, got ", options.concurrency));
  }
  if (options.requests < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("requests: expected >= 0, got ", options.requests));
  }
  if (options.duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("duration: expected >= 0, got ",
                     absl::FormatDuration(options.duration)));
  }
  if (options.rate < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate: expected >= 0, got ", options.rate));
  }
  if (options.requests == 0 && options.duration == absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "requests, duration: expected at least one > 0, got both 0");
  }
  return absl::OkStatus();
}

// Adds the calls of one caller to the run's result.
void Merge(LoadResult& part, LoadResult& total) {
  total.ok += part.ok;
  total.ok_latencies_ms.insert(total.ok_latencies_ms.end(),
                               part.ok_latencies_ms.begin(),
                               part.ok_latencies_ms.end());
  total.start_lags_ms.insert(total.start_lags_ms.end(),
                             part.start_lags_ms.begin(),
                             part.start_lags_ms.end());
  total.ok_sent_latencies_ms.insert(total.ok_sent_latencies_ms.end(),
                                    part.ok_sent_latencies_ms.begin(),
                                    part.ok_sent_latencies_ms.end());
  for (const auto& [code, count] : part.errors) total.errors[code] += count;
  if (total.first_error.ok()) total.first_error = part.first_error;
}

// When call `index` of a run at `rate` calls/s that began at `start` is due.
absl::Time DueAt(absl::Time start, int64_t index, double rate) {
  return start + absl::Seconds(static_cast<double>(index) / rate);
}

// Adds one call to `result`: a success with its latency from `begin` (and,
// for a fixed rate, from `sent`), or a failure by its code.
void RecordCall(const absl::Status& status, absl::Time begin, absl::Time sent,
                absl::Time end, bool fixed_rate, LoadResult& result) {
  if (!status.ok()) {
    ++result.errors[status.code()];
    if (result.first_error.ok()) result.first_error = status;
    return;
  }
  ++result.ok;
  result.ok_latencies_ms.push_back(absl::ToDoubleMilliseconds(end - begin));
  if (fixed_rate) {
    result.ok_sent_latencies_ms.push_back(
        absl::ToDoubleMilliseconds(end - sent));
  }
}

// What the calls of an open-loop run share with its starting thread.
struct OpenLoopState {
  absl::Mutex mutex;
  int64_t in_flight ABSL_GUARDED_BY(mutex) = 0;
  LoadResult result ABSL_GUARDED_BY(mutex);
  absl::Time last_end ABSL_GUARDED_BY(mutex);
};

}  // namespace

double LoadResult::Throughput() const {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(ok) / seconds : 0;
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options,
                                   const LoadCall& call) {
  if (absl::Status status = CheckOptions(options); !status.ok()) {
    return status;
  }

  // Fix the bounds of the run.
  const absl::Time start = absl::Now();
  const absl::Time stop = options.duration > absl::ZeroDuration()
                              ? start + options.duration
                              : absl::InfiniteFuture();
  std::atomic<int64_t> next_index{0};

  // Each caller takes the next index until a bound is reached; in fixed-rate
  // mode it waits until that call is due and times it from then.
  std::vector<LoadResult> parts(options.concurrency);
  auto caller = [&](LoadResult& part) {
    while (true) {
      const int64_t index = next_index.fetch_add(1);
      if (options.requests > 0 && index >= options.requests) return;
      absl::Time begin = absl::Now();
      absl::Time sent = begin;
      if (options.rate > 0) {
        begin = DueAt(start, index, options.rate);
        if (begin >= stop) return;
        absl::SleepFor(std::max(begin - absl::Now(), absl::ZeroDuration()));
        sent = absl::Now();
        part.start_lags_ms.push_back(absl::ToDoubleMilliseconds(sent - begin));
      } else if (begin >= stop) {
        return;
      }

      const absl::Status status = call(index);
      RecordCall(status, begin, sent, absl::Now(), options.rate > 0, part);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(options.concurrency);
  for (LoadResult& part : parts) {
    threads.emplace_back(caller, std::ref(part));
  }
  for (std::thread& thread : threads) thread.join();

  // Merge what the callers saw.
  LoadResult result;
  result.elapsed = absl::Now() - start;
  for (LoadResult& part : parts) Merge(part, result);
  return result;
}

absl::StatusOr<LoadResult> RunOpenLoopLoad(const LoadOptions& options,
                                           const AsyncLoadCall& call) {
  if (absl::Status status = CheckOptions(options); !status.ok()) {
    return status;
  }
  if (options.rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rate: expected > 0 for an open loop, got ", options.rate));
  }

  // Fix the bounds of the run.
  const absl::Time start = absl::Now();
  const absl::Time stop = options.duration > absl::ZeroDuration()
                              ? start + options.duration
                              : absl::InfiniteFuture();
  // Shared with the completions, which may end after this function has
  // seen the last of them.
  auto state = std::make_shared<OpenLoopState>();
  auto has_free_slot = [&state, &options] {
    state->mutex.AssertHeld();
    return state->in_flight < options.concurrency;
  };
  auto none_in_flight = [&state] {
    state->mutex.AssertHeld();
    return state->in_flight == 0;
  };

  // Start each call when it is due and a slot is free; its completion
  // records it.
  for (int64_t index = 0; options.requests == 0 || index < options.requests;
       ++index) {
    const absl::Time due = DueAt(start, index, options.rate);
    if (due >= stop) break;
    absl::SleepFor(std::max(due - absl::Now(), absl::ZeroDuration()));
    absl::Time sent;
    {
      absl::MutexLock lock(&state->mutex);
      state->mutex.Await(absl::Condition(&has_free_slot));
      ++state->in_flight;
      sent = absl::Now();
      state->result.start_lags_ms.push_back(
          absl::ToDoubleMilliseconds(sent - due));
    }
    call(index, [state, due, sent](absl::Status status) {
      const absl::Time end = absl::Now();
      absl::MutexLock lock(&state->mutex);
      RecordCall(status, due, sent, end, /*fixed_rate=*/true, state->result);
      state->last_end = std::max(state->last_end, end);
      --state->in_flight;
    });
  }

  // Wait for the calls still in flight.
  absl::MutexLock lock(&state->mutex);
  state->mutex.Await(absl::Condition(&none_in_flight));
  LoadResult result = std::move(state->result);
  result.elapsed = std::max(state->last_end, start) - start;
  return result;
}

}  // namespace fewshot::client
