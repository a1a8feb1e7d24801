// Tests the encoder batcher: merging, each caller's own rows, the delay
// bound, the idle path's batch slots, cancellation, a full queue, and
// shutdown.
#include "server/embedding_batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace fewshot::server {
namespace {

// A deadline far enough away never to matter.
constexpr absl::Duration kLongWait = absl::Seconds(30);

// Never cancelled.
bool NotCancelled() { return false; }

// A pool of `workers` threads.
std::unique_ptr<ThreadPool> MakePool(int workers) {
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
      ThreadPool::Create({.workers = workers, .queue_capacity = 16});
  EXPECT_TRUE(pool.ok()) << pool.status();
  return std::move(*pool);
}

// `n` distinct inputs of shape [n, 1, 28, 28], starting at `first`.
torch::Tensor Inputs(int64_t n, float first) {
  return torch::arange(first, first + static_cast<float>(n))
      .reshape({n, 1, 1, 1})
      .expand({n, 1, 28, 28})
      .contiguous();
}

// A fake encoder that records the size of every batch it runs; each row's
// embedding is its input's first pixel, so rows are easy to tell apart.
class RecordingEmbed {
 public:
  absl::StatusOr<torch::Tensor> operator()(const torch::Tensor& batch) {
    {
      absl::MutexLock lock(&mutex_);
      sizes_.push_back(batch.size(0));
    }
    if (release_ != nullptr) release_->WaitForNotification();
    return batch.select(/*dim=*/3, 0).select(/*dim=*/2, 0).clone();
  }

  std::vector<int64_t> sizes() {
    absl::MutexLock lock(&mutex_);
    return sizes_;
  }

  // Makes every batch wait for `release`.
  void HoldBatchesUntil(absl::Notification* release) { release_ = release; }

 private:
  absl::Mutex mutex_;
  std::vector<int64_t> sizes_ ABSL_GUARDED_BY(mutex_);
  absl::Notification* release_ = nullptr;
};

// A batcher over `embed` (borrowed) on `pool`.
std::unique_ptr<EmbeddingBatcher> MakeBatcher(EmbeddingBatcherOptions options,
                                              RecordingEmbed* embed,
                                              ThreadPool* pool) {
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      EmbeddingBatcher::Create(
          std::move(options),
          [embed](const torch::Tensor& batch) { return (*embed)(batch); },
          pool);
  EXPECT_TRUE(batcher.ok()) << batcher.status();
  return std::move(*batcher);
}

// Starts, on its own thread, a one-row call of input `first` that must
// succeed.
std::thread StartCall(EmbeddingBatcher* batcher, float first) {
  return std::thread([batcher, first] {
    EXPECT_TRUE(
        batcher->Embed(Inputs(1, first), absl::Now() + kLongWait, NotCancelled)
            .ok());
  });
}

// Waits until `embed` has started its first batch.
void WaitForFirstBatch(RecordingEmbed& embed) {
  while (embed.sizes().empty()) absl::SleepFor(absl::Milliseconds(1));
}

// A batcher over a RecordingEmbed whose batches wait for `release`, with
// a first one-row call already running (held) on `busy`.
struct HeldBatcher {
  explicit HeldBatcher(EmbeddingBatcherOptions options) : pool(MakePool(1)) {
    embed.HoldBatchesUntil(&release);
    batcher = MakeBatcher(std::move(options), &embed, pool.get());
    busy = StartCall(batcher.get(), 0);
    WaitForFirstBatch(embed);
  }

  ~HeldBatcher() { Release(); }

  // Lets the held batches run and waits for the first call. Idempotent.
  void Release() {
    if (!release.HasBeenNotified()) release.Notify();
    if (busy.joinable()) busy.join();
  }

  std::unique_ptr<ThreadPool> pool;
  RecordingEmbed embed;
  absl::Notification release;
  std::unique_ptr<EmbeddingBatcher> batcher;
  std::thread busy;
};

TEST(EmbeddingBatcherTest, CreateRejectsZeroBatchSize) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      EmbeddingBatcher::Create(
          {.max_batch_size = 0},
          [&](const torch::Tensor& b) { return embed(b); }, pool.get());
  EXPECT_EQ(batcher.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddingBatcherTest, MergesConcurrentSubmissionsIntoOneCall) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  auto batcher =
      MakeBatcher({.max_batch_size = 5, .max_batch_delay = absl::Seconds(10)},
                  &embed, pool.get());

  // Two submissions of 2 and 3 images fill the batch exactly.
  absl::StatusOr<torch::Tensor> first;
  absl::StatusOr<torch::Tensor> second;
  std::thread a([&] {
    first = batcher->Embed(Inputs(2, 0), absl::Now() + kLongWait, NotCancelled);
  });
  std::thread b([&] {
    second =
        batcher->Embed(Inputs(3, 10), absl::Now() + kLongWait, NotCancelled);
  });
  a.join();
  b.join();

  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(embed.sizes(), ::testing::ElementsAre(5));
  EXPECT_TRUE(torch::equal(*first, torch::tensor({0.0f, 1.0f}).unsqueeze(1)));
  EXPECT_TRUE(
      torch::equal(*second, torch::tensor({10.0f, 11.0f, 12.0f}).unsqueeze(1)));
}

TEST(EmbeddingBatcherTest, EachCallerGetsItsOwnRowsOfAConvolution) {
  // A small convolutional encoder in inference mode, as the server's: each
  // row of a merged batch must equal that image embedded alone.
  torch::manual_seed(7);
  torch::nn::Sequential network(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 8, 3).padding(1)),
      torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
      torch::nn::AdaptiveAvgPool2d(2), torch::nn::Flatten());
  network->eval();
  const auto embed_alone =
      [&](const torch::Tensor& batch) -> absl::StatusOr<torch::Tensor> {
    torch::NoGradGuard no_grad;
    return network->forward(batch);
  };
  std::unique_ptr<ThreadPool> pool = MakePool(2);
  std::atomic<int> calls{0};
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      EmbeddingBatcher::Create(
          {.max_batch_size = 64,
           .max_batch_delay = absl::Milliseconds(50),
           .max_inflight_batches = 1},
          [&](const torch::Tensor& batch) {
            ++calls;
            return embed_alone(batch);
          },
          pool.get());
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  // Eight callers with 1..8 random images each.
  constexpr int kCallers = 8;
  std::vector<torch::Tensor> inputs;
  for (int i = 0; i < kCallers; ++i) {
    inputs.push_back(torch::rand({i + 1, 1, 28, 28}));
  }
  std::vector<absl::StatusOr<torch::Tensor>> outputs(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      outputs[i] =
          (*batcher)->Embed(inputs[i], absl::Now() + kLongWait, NotCancelled);
    });
  }
  for (std::thread& caller : callers) caller.join();

  EXPECT_LT(calls.load(), kCallers);
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(outputs[i].ok()) << outputs[i].status();
    absl::StatusOr<torch::Tensor> direct = embed_alone(inputs[i]);
    ASSERT_TRUE(direct.ok()) << direct.status();
    ASSERT_EQ(outputs[i]->sizes(), direct->sizes());
    EXPECT_TRUE(torch::allclose(*outputs[i], *direct, /*rtol=*/1e-4,
                                /*atol=*/1e-5));
  }
}

TEST(EmbeddingBatcherTest, RunsAPartialBatchAfterTheDelay) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  auto batcher = MakeBatcher(
      {.max_batch_size = 64, .max_batch_delay = absl::Milliseconds(30)}, &embed,
      pool.get());

  const absl::Time start = absl::Now();
  absl::StatusOr<torch::Tensor> rows =
      batcher->Embed(Inputs(1, 0), absl::Now() + kLongWait, NotCancelled);
  const absl::Duration waited = absl::Now() - start;

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_GE(waited, absl::Milliseconds(25));
  EXPECT_LT(waited, absl::Seconds(2));
  EXPECT_THAT(embed.sizes(), ::testing::ElementsAre(1));
}

TEST(EmbeddingBatcherTest, BatchSizeOneNeverMerges) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  auto batcher = MakeBatcher({.max_batch_size = 1}, &embed, pool.get());

  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      EXPECT_TRUE(
          batcher->Embed(Inputs(1, i), absl::Now() + kLongWait, NotCancelled)
              .ok());
    });
  }
  for (std::thread& caller : callers) caller.join();

  EXPECT_THAT(embed.sizes(), ::testing::ElementsAre(1, 1, 1, 1));
}

TEST(EmbeddingBatcherTest, LargeSubmissionRunsAlone) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  auto batcher = MakeBatcher({.max_batch_size = 4}, &embed, pool.get());

  absl::StatusOr<torch::Tensor> rows =
      batcher->Embed(Inputs(10, 0), absl::Now() + kLongWait, NotCancelled);

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(0), 10);
  EXPECT_THAT(embed.sizes(), ::testing::ElementsAre(10));
}

TEST(EmbeddingBatcherTest, LoneCallRunsOnAWorkerNotTheCaller) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  std::thread::id ran_on;
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      EmbeddingBatcher::Create(
          {},
          [&](const torch::Tensor& batch) {
            ran_on = std::this_thread::get_id();
            return absl::StatusOr<torch::Tensor>(batch.flatten(1));
          },
          pool.get());
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  absl::StatusOr<torch::Tensor> rows =
      (*batcher)->Embed(Inputs(3, 0), absl::Now() + kLongWait, NotCancelled);

  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(0), 3);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(EmbeddingBatcherTest, NeverRunsMoreBatchesAtOnceThanItsSlots) {
  // Three workers but one batch slot: callers that find the batcher idle
  // go straight to the pool, and must still take turns.
  std::unique_ptr<ThreadPool> pool = MakePool(3);
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};
  std::atomic<int> batches{0};
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      EmbeddingBatcher::Create(
          {.max_batch_size = 1, .max_inflight_batches = 1},
          [&](const torch::Tensor& batch) {
            const int now = ++running;
            int most = most_running.load();
            while (now > most &&
                   !most_running.compare_exchange_weak(most, now)) {
            }
            absl::SleepFor(absl::Milliseconds(1));
            --running;
            ++batches;
            return absl::StatusOr<torch::Tensor>(batch.flatten(1));
          },
          pool.get());
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  std::vector<std::thread> callers;
  for (int i = 0; i < 6; ++i) {
    callers.emplace_back([&, i] {
      for (int call = 0; call < 10; ++call) {
        EXPECT_TRUE(
            (*batcher)
                ->Embed(Inputs(1, i), absl::Now() + kLongWait, NotCancelled)
                .ok());
      }
    });
  }
  for (std::thread& caller : callers) caller.join();

  EXPECT_EQ(batches.load(), 60);
  EXPECT_EQ(most_running.load(), 1);
}

TEST(EmbeddingBatcherTest, CancelledCallIsDroppedBeforeItsBatchRuns) {
  // The first call occupies the only batch slot; the second waits in the
  // queue and is cancelled there.
  HeldBatcher held({.max_batch_size = 1, .max_inflight_batches = 1});
  std::atomic<bool> cancel{false};
  absl::StatusOr<torch::Tensor> cancelled;
  std::thread waiting([&] {
    cancelled = held.batcher->Embed(Inputs(1, 1), absl::Now() + kLongWait,
                                    [&] { return cancel.load(); });
  });
  cancel.store(true);
  waiting.join();
  held.Release();
  held.batcher->Shutdown();

  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(held.embed.sizes(), ::testing::ElementsAre(1));
}

TEST(EmbeddingBatcherTest, ExpiredCallIsDroppedBeforeItsBatchRuns) {
  HeldBatcher held({.max_batch_size = 1, .max_inflight_batches = 1});

  absl::StatusOr<torch::Tensor> expired = held.batcher->Embed(
      Inputs(1, 1), absl::Now() + absl::Milliseconds(20), NotCancelled);
  held.Release();
  held.batcher->Shutdown();

  EXPECT_EQ(expired.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(held.embed.sizes(), ::testing::ElementsAre(1));
}

// What an EmbedAsync call delivered, and on which thread.
struct AsyncOutcome {
  absl::Notification delivered;
  absl::StatusOr<torch::Tensor> embeddings;
  std::thread::id thread;

  EmbeddingBatcher::EmbedDone Receiver() {
    return [this](absl::StatusOr<torch::Tensor> result) {
      embeddings = std::move(result);
      thread = std::this_thread::get_id();
      delivered.Notify();
    };
  }
};

TEST(EmbeddingBatcherTest, AsyncCallsShareABatchWithBlockingOnes) {
  // While a first call holds the only slot, a blocking and an asynchronous
  // call queue up and then run as one batch.
  HeldBatcher held({.max_inflight_batches = 1});
  std::thread blocking = StartCall(held.batcher.get(), 1);
  absl::SleepFor(absl::Milliseconds(20));
  AsyncOutcome async;
  held.batcher->EmbedAsync(Inputs(2, 5), absl::Now() + kLongWait, nullptr,
                           async.Receiver());
  EXPECT_FALSE(async.delivered.HasBeenNotified());
  held.Release();
  blocking.join();
  ASSERT_TRUE(async.delivered.WaitForNotificationWithTimeout(kLongWait));

  ASSERT_TRUE(async.embeddings.ok()) << async.embeddings.status();
  EXPECT_EQ(async.embeddings->size(0), 2);
  EXPECT_FLOAT_EQ(async.embeddings->index({0, 0}).item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(async.embeddings->index({1, 0}).item<float>(), 6.0f);
  EXPECT_NE(async.thread, std::this_thread::get_id());
  EXPECT_THAT(held.embed.sizes(), ::testing::ElementsAre(1, 3));
}

TEST(EmbeddingBatcherTest, AsyncCallRefusedAtOnceHearsItOnTheCallingThread) {
  // One call runs (held) and one fills the queue.
  HeldBatcher held(
      {.max_batch_size = 1, .queue_capacity = 1, .max_inflight_batches = 1});
  std::thread queued = StartCall(held.batcher.get(), 1);
  absl::SleepFor(absl::Milliseconds(50));

  AsyncOutcome refused;
  held.batcher->EmbedAsync(Inputs(1, 2), absl::Now() + kLongWait, nullptr,
                           refused.Receiver());
  AsyncOutcome malformed;
  held.batcher->EmbedAsync(torch::zeros({28, 28}), absl::Now() + kLongWait,
                           nullptr, malformed.Receiver());
  const bool refused_at_once = refused.delivered.HasBeenNotified();
  const bool malformed_at_once = malformed.delivered.HasBeenNotified();
  held.Release();
  queued.join();

  ASSERT_TRUE(refused_at_once);
  EXPECT_EQ(refused.embeddings.status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.thread, std::this_thread::get_id());
  ASSERT_TRUE(malformed_at_once);
  EXPECT_EQ(malformed.embeddings.status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EmbeddingBatcherTest, CancelledOrExpiredAsyncCallsAreDropped) {
  // Both wait in the queue behind the held batch; one is cancelled there,
  // the other's deadline passes there.
  HeldBatcher held({.max_batch_size = 1, .max_inflight_batches = 1});
  std::atomic<bool> cancel{false};
  AsyncOutcome cancelled;
  held.batcher->EmbedAsync(
      Inputs(1, 1), absl::Now() + kLongWait,
      [&cancel] { return cancel.load(); }, cancelled.Receiver());
  AsyncOutcome expired;
  held.batcher->EmbedAsync(Inputs(1, 2), absl::Now() + absl::Milliseconds(20),
                           nullptr, expired.Receiver());
  cancel.store(true);
  absl::SleepFor(absl::Milliseconds(40));
  held.Release();
  ASSERT_TRUE(cancelled.delivered.WaitForNotificationWithTimeout(kLongWait));
  ASSERT_TRUE(expired.delivered.WaitForNotificationWithTimeout(kLongWait));
  held.batcher->Shutdown();

  EXPECT_EQ(cancelled.embeddings.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(expired.embeddings.status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(held.embed.sizes(), ::testing::ElementsAre(1));
}

TEST(EmbeddingBatcherTest, FullQueueIsResourceExhaustedAtOnce) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  absl::Notification release;
  embed.HoldBatchesUntil(&release);
  auto batcher = MakeBatcher(
      {.max_batch_size = 1, .queue_capacity = 1, .max_inflight_batches = 1},
      &embed, pool.get());

  // One call runs (held): the queue still has room.
  std::thread running = StartCall(batcher.get(), 0);
  WaitForFirstBatch(embed);
  const absl::Status room_while_running = batcher->CheckRoom();

  // One more waits in the queue; the third is refused, and CheckRoom says
  // so before any input is offered.
  std::thread queued = StartCall(batcher.get(), 1);
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Status room_while_full = batcher->CheckRoom();
  const absl::Time start = absl::Now();
  absl::StatusOr<torch::Tensor> refused =
      batcher->Embed(Inputs(1, 2), absl::Now() + kLongWait, NotCancelled);
  const absl::Duration waited = absl::Now() - start;
  release.Notify();
  running.join();
  queued.join();

  EXPECT_TRUE(room_while_running.ok()) << room_while_running;
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(room_while_full, refused.status());
  EXPECT_EQ(room_while_full.message(),
            "the encoder queue is full (1 requests waiting); try again later");
  EXPECT_LT(waited, absl::Milliseconds(100));
  EXPECT_TRUE(batcher->CheckRoom().ok());
}

TEST(EmbeddingBatcherTest, SpareRoomIsLessThanHalfTheQueue) {
  // One call runs (held) and none waits: room to spare.
  HeldBatcher held(
      {.max_batch_size = 1, .queue_capacity = 2, .max_inflight_batches = 1});
  const bool spare_while_empty = held.batcher->HasSpareRoom();

  // One waits: half the queue is taken, so no room to spare, though a
  // call would still be queued.
  std::thread queued = StartCall(held.batcher.get(), 1);
  absl::SleepFor(absl::Milliseconds(50));
  const bool spare_while_half = held.batcher->HasSpareRoom();
  const absl::Status room_while_half = held.batcher->CheckRoom();
  held.Release();
  queued.join();

  EXPECT_TRUE(spare_while_empty);
  EXPECT_FALSE(spare_while_half);
  EXPECT_TRUE(room_while_half.ok()) << room_while_half;
  EXPECT_TRUE(held.batcher->HasSpareRoom());
  held.batcher->Shutdown();
  EXPECT_FALSE(held.batcher->HasSpareRoom());
}

TEST(EmbeddingBatcherTest, ShutdownRunsQueuedWorkThenRefuses) {
  std::unique_ptr<ThreadPool> pool = MakePool(1);
  RecordingEmbed embed;
  absl::Notification release;
  embed.HoldBatchesUntil(&release);
  auto batcher = MakeBatcher({.max_batch_size = 1, .max_inflight_batches = 1},
                             &embed, pool.get());

  // Two calls in flight or queued when shutdown begins both finish.
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) callers.push_back(StartCall(batcher.get(), i));
  WaitForFirstBatch(embed);
  absl::SleepFor(absl::Milliseconds(20));
  std::thread stopper([&] { batcher->Shutdown(); });
  absl::SleepFor(absl::Milliseconds(20));
  release.Notify();
  stopper.join();
  for (std::thread& caller : callers) caller.join();

  EXPECT_EQ(embed.sizes().size(), 2u);
  EXPECT_EQ(batcher->Embed(Inputs(1, 0), absl::Now() + kLongWait, NotCancelled)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(batcher->CheckRoom().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fewshot::server
