// Tests the bounded worker pool: order, rejection when full, shutdown.
#include "server/thread_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace fewshot::server {
namespace {

// Options for `workers` threads and `queue_capacity` waiting tasks.
ThreadPoolOptions PoolOptions(int workers, int queue_capacity) {
  ThreadPoolOptions options;
  options.workers = workers;
  options.queue_capacity = queue_capacity;
  return options;
}

// Submits a task that blocks its worker until `release` is notified, and
// waits until it has started.
void BlockOneWorker(ThreadPool& pool, absl::Notification& release) {
  absl::Notification started;
  ASSERT_TRUE(pool.TrySubmit([&started, &release] {
                    started.Notify();
                    release.WaitForNotification();
                  })
                  .ok());
  started.WaitForNotification();
}

TEST(ThreadPoolTest, CreateRejectsZeroWorkers) {
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
      ThreadPool::Create(PoolOptions(0, 1));
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ThreadPoolTest, RunsTasksInSubmissionOrder) {
  auto pool = ThreadPool::Create(PoolOptions(1, 16));
  ASSERT_TRUE(pool.ok());
  absl::Mutex mutex;
  std::vector<int> order;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*pool)
                    ->TrySubmit([&, i] {
                      absl::MutexLock lock(&mutex);
                      order.push_back(i);
                    })
                    .ok());
  }
  (*pool)->Shutdown();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
}

TEST(ThreadPoolTest, RejectsAtOnceWhenQueueIsFull) {
  auto pool = ThreadPool::Create(PoolOptions(1, 1));
  ASSERT_TRUE(pool.ok());
  absl::Notification release;
  BlockOneWorker(**pool, release);

  EXPECT_TRUE((*pool)->TrySubmit([] {}).ok());
  const absl::Status rejected = (*pool)->TrySubmit([] {});
  EXPECT_EQ(rejected.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(rejected.message(), ::testing::HasSubstr("full"));

  release.Notify();
}

TEST(ThreadPoolTest, ShutdownRunsQueuedTasks) {
  auto pool = ThreadPool::Create(PoolOptions(1, 8));
  ASSERT_TRUE(pool.ok());
  absl::Notification release;
  BlockOneWorker(**pool, release);
  std::atomic<int> ran{0};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*pool)->TrySubmit([&ran] { ++ran; }).ok());
  }

  release.Notify();
  (*pool)->Shutdown();

  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ((*pool)->queue_depth(), 0);
}

TEST(ThreadPoolTest, RejectsAfterShutdown) {
  auto pool = ThreadPool::Create(PoolOptions(2, 8));
  ASSERT_TRUE(pool.ok());
  (*pool)->Shutdown();
  EXPECT_EQ((*pool)->TrySubmit([] {}).code(), absl::StatusCode::kUnavailable);
}

TEST(ThreadPoolTest, ReportsQueueDepth) {
  absl::Mutex mutex;
  std::vector<int64_t> depths;
  ThreadPoolOptions options = PoolOptions(1, 8);
  options.on_queue_depth = [&](int64_t depth) {
    absl::MutexLock lock(&mutex);
    depths.push_back(depth);
  };
  auto pool = ThreadPool::Create(options);
  ASSERT_TRUE(pool.ok());
  absl::Notification release;
  BlockOneWorker(**pool, release);
  ASSERT_TRUE((*pool)->TrySubmit([] {}).ok());
  ASSERT_TRUE((*pool)->TrySubmit([] {}).ok());

  release.Notify();
  (*pool)->Shutdown();

  absl::MutexLock lock(&mutex);
  ASSERT_FALSE(depths.empty());
  EXPECT_THAT(depths, ::testing::Contains(2));
  EXPECT_EQ(depths.back(), 0);
}

TEST(ThreadPoolTest, RunsWorkerStartOnEachWorkerBeforeItsTasks) {
  absl::Mutex mutex;
  std::set<std::thread::id> started;
  bool task_saw_unstarted_worker = false;
  ThreadPoolOptions options = PoolOptions(2, 8);
  options.on_worker_start = [&] {
    absl::MutexLock lock(&mutex);
    EXPECT_TRUE(started.insert(std::this_thread::get_id()).second);
  };
  auto pool = ThreadPool::Create(options);
  ASSERT_TRUE(pool.ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE((*pool)
                    ->TrySubmit([&] {
                      absl::MutexLock lock(&mutex);
                      if (started.count(std::this_thread::get_id()) == 0) {
                        task_saw_unstarted_worker = true;
                      }
                    })
                    .ok());
  }
  (*pool)->Shutdown();

  absl::MutexLock lock(&mutex);
  EXPECT_EQ(started.size(), 2u);
  EXPECT_FALSE(task_saw_unstarted_worker);
}

}  // namespace
}  // namespace fewshot::server
