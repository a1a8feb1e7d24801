// Measures Prototypical Networks scoring: squared distances from query
// embeddings to class prototypes, for 5- and 20-way tasks and 1, 25 and
// 100 queries, with the Conv-4 embedding size (64).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/adapt/prototypical.h"

namespace fewshot::core {
namespace {

constexpr int64_t kEmbeddingSize = 64;

// Args: ways, queries.
void BM_PrototypicalLogits(benchmark::State& state) {
  torch::set_num_threads(1);
  torch::NoGradGuard no_grad;
  const torch::Tensor prototypes =
      torch::randn({state.range(0), kEmbeddingSize});
  const torch::Tensor queries = torch::randn({state.range(1), kEmbeddingSize});
  for (auto _ : state) {
    torch::Tensor logits = PrototypicalLogits(queries, prototypes);
    benchmark::DoNotOptimize(logits.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_PrototypicalLogits)
    ->ArgNames({"ways", "queries"})
    ->ArgsProduct({{5, 20}, {1, 25, 100}});

}  // namespace
}  // namespace fewshot::core
