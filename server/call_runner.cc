// Implements CallDeadline and RunForCall: hand-off to the pool, then a wait
// that watches the call's deadline and cancellation.
#include "server/call_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fewshot::server {
namespace {

// How often a waiting handler checks for client cancellation.
constexpr absl::Duration kCancellationPollInterval = absl::Milliseconds(20);

// What the handler and the worker share; either may outlive the other.
struct PendingWork {
  absl::Time deadline;
  // Set by the handler when it stops waiting; the worker then skips work
  // that has not started.
  std::atomic<bool> abandoned{false};
  // Written by the worker before `done` is notified.
  absl::Status status;
  absl::Notification done;
};

}  // namespace

absl::Time CallDeadline(const grpc::ServerContextBase& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

absl::Status RunForCall(const grpc::ServerContext& context, ThreadPool& pool,
                        absl::AnyInvocable<absl::Status() &&> work) {
  auto pending = std::make_shared<PendingWork>();
  pending->deadline = CallDeadline(context);

  // Queue the work; it is skipped if nobody waits for it any more.
  absl::Status submitted =
      pool.TrySubmit([pending, work = std::move(work)]() mutable {
        if (pending->abandoned.load()) {
          pending->status = absl::CancelledError("the call ended first");
        } else if (absl::Now() >= pending->deadline) {
          pending->status = absl::DeadlineExceededError(
              "the deadline passed while the request waited for a worker");
        } else {
          pending->status = std::move(work)();
        }
        pending->done.Notify();
      });
  if (!submitted.ok()) return submitted;

  // Wait, giving up when the deadline passes or the client cancels.
  while (!pending->done.WaitForNotificationWithDeadline(
      std::min(pending->deadline, absl::Now() + kCancellationPollInterval))) {
    if (absl::Now() >= pending->deadline) {
      pending->abandoned.store(true);
      return absl::DeadlineExceededError(
          "the deadline passed before the model finished");
    }
    if (context.IsCancelled()) {
      pending->abandoned.store(true);
      return absl::CancelledError("the client cancelled the call");
    }
  }
  return pending->status;
}

}  // namespace fewshot::server
