// A fixed set of worker threads fed by one bounded FIFO queue. Submitting
// never blocks: a full queue is reported at once so that callers can shed
// load instead of piling up.
//
// Example:
//   absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
//       ThreadPool::Create({.workers = 2, .queue_capacity = 64});
//   absl::Status submitted = (*pool)->TrySubmit([] { DoWork(); });
//   if (!submitted.ok()) return submitted;  // RESOURCE_EXHAUSTED
#ifndef FEWSHOT_SERVER_THREAD_POOL_H_
#define FEWSHOT_SERVER_THREAD_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace fewshot::server {

struct ThreadPoolOptions {
  int workers = 2;
  // Tasks that may wait for a worker (running tasks are not counted).
  int queue_capacity = 64;
  // Called with the number of waiting tasks whenever it changes, outside
  // the pool's lock; may be empty.
  std::function<void(int64_t)> on_queue_depth;
  // Runs first on each worker thread, before its first task (e.g. to set
  // per-thread library state); may be empty.
  std::function<void()> on_worker_start;
};

// Thread-safe. Tasks run in submission order. The destructor calls
// Shutdown().
class ThreadPool {
 public:
  // Starts the workers. Returns INVALID_ARGUMENT for fewer than one worker
  // or a negative queue capacity.
  static absl::StatusOr<std::unique_ptr<ThreadPool>> Create(
      ThreadPoolOptions options);

  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`. Returns RESOURCE_EXHAUSTED when the queue is full and
  // UNAVAILABLE after Shutdown() has begun; the task is dropped then.
  absl::Status TrySubmit(absl::AnyInvocable<void() &&> task)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Stops accepting tasks, runs every task already queued, and joins the
  // workers. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mutex_);

  // The number of tasks waiting for a worker.
  int64_t queue_depth() const ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  explicit ThreadPool(ThreadPoolOptions options);

  // The body of each worker thread.
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mutex_);

  // True when a worker has something to do: run a task or exit.
  bool HasTaskOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Reports `depth` to options_.on_queue_depth, if set.
  void ReportQueueDepth(int64_t depth) const;

  // Constant after construction.
  const ThreadPoolOptions options_;
  std::vector<std::thread> workers_;

  mutable absl::Mutex mutex_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Set by the first Shutdown() call, which joins the workers.
  bool joined_ ABSL_GUARDED_BY(join_mutex_) = false;
  absl::Mutex join_mutex_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_THREAD_POOL_H_
