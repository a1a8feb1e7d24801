// Measures what the embedding batcher adds to a lone call: the round trip
// of one 25-image submission through an idle batcher whose encoder does
// almost nothing, straight to the pool (no delay set) and through the
// dispatcher thread (a 1 ns delay, which never waits but makes every
// submission queue), side by side.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <memory>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/embedding_batcher.h"
#include "server/thread_pool.h"

namespace fewshot::server {
namespace {

constexpr int64_t kImages = 25;

void BM_BatcherLoneCall(benchmark::State& state, absl::Duration delay) {
  absl::StatusOr<std::unique_ptr<ThreadPool>> pool =
      ThreadPool::Create({.workers = 2, .queue_capacity = 64});
  absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
      pool.ok() ? EmbeddingBatcher::Create(
                      {.max_batch_delay = delay},
                      [](const torch::Tensor& batch) {
                        return absl::StatusOr<torch::Tensor>(
                            batch.select(/*dim=*/1, 0).flatten(1));
                      },
                      pool->get())
                : pool.status();
  if (!batcher.ok()) {
    state.SkipWithError(std::string(batcher.status().message()).c_str());
    return;
  }
  const torch::Tensor inputs = torch::zeros({kImages, 1, 28, 28});

  for (auto _ : state) {
    absl::StatusOr<torch::Tensor> rows =
        (*batcher)->Embed(inputs, absl::InfiniteFuture(), [] { return false; });
    if (!rows.ok()) {
      state.SkipWithError(std::string(rows.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(rows->data_ptr());
  }
}

BENCHMARK_CAPTURE(BM_BatcherLoneCall, straight_to_pool, absl::ZeroDuration())
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_BatcherLoneCall, through_dispatcher, absl::Nanoseconds(1))
    ->UseRealTime();

}  // namespace
}  // namespace fewshot::server
