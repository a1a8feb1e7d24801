// Implements the bounded worker pool described in thread_pool.h.
#include "server/thread_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace fewshot::server {

absl::StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(
    ThreadPoolOptions options) {
  if (options.workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("workers is ", options.workers, "; expected at least 1"));
  }
  if (options.queue_capacity < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue_capacity is ", options.queue_capacity, "; expected 0 or more"));
  }
  return std::unique_ptr<ThreadPool>(new ThreadPool(std::move(options)));
}

ThreadPool::ThreadPool(ThreadPoolOptions options)
    : options_(std::move(options)) {
  workers_.reserve(options_.workers);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

absl::Status ThreadPool::TrySubmit(absl::AnyInvocable<void() &&> task) {
  int64_t depth = 0;
  {
    absl::MutexLock lock(&mutex_);
    if (stopping_) {
      return absl::UnavailableError("the server is shutting down");
    }
    if (static_cast<int64_t>(queue_.size()) >= options_.queue_capacity) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the work queue is full (", options_.queue_capacity,
                       " waiting requests); retry later"));
    }
    queue_.push_back(std::move(task));
    depth = static_cast<int64_t>(queue_.size());
  }
  ReportQueueDepth(depth);
  return absl::OkStatus();
}

void ThreadPool::Shutdown() {
  // Wake the workers; they finish the queue before they exit.
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }

  // Join once, even when several threads call Shutdown() together.
  absl::MutexLock join_lock(&join_mutex_);
  if (joined_) return;
  for (std::thread& worker : workers_) worker.join();
  joined_ = true;
}

int64_t ThreadPool::queue_depth() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(queue_.size());
}

void ThreadPool::WorkerLoop() {
  if (options_.on_worker_start) options_.on_worker_start();
  while (true) {
    absl::AnyInvocable<void() &&> task;
    int64_t depth = 0;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(this, &ThreadPool::HasTaskOrStopping));
      if (queue_.empty()) return;  // Stopping, and nothing left to run.
      task = std::move(queue_.front());
      queue_.pop_front();
      depth = static_cast<int64_t>(queue_.size());
    }
    ReportQueueDepth(depth);
    std::move(task)();
  }
}

bool ThreadPool::HasTaskOrStopping() const {
  mutex_.AssertHeld();
  return stopping_ || !queue_.empty();
}

void ThreadPool::ReportQueueDepth(int64_t depth) const {
  if (options_.on_queue_depth) options_.on_queue_depth(depth);
}

}  // namespace fewshot::server
