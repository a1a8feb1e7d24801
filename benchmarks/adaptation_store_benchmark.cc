// Measures InMemoryAdaptationStore::Get, the lookup every Predict makes,
// on a store of 10,000 states from 1 and 2 threads at once.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/adapt/adaptation_state.h"
#include "server/adaptation_store.h"

namespace fewshot::server {
namespace {

constexpr int kStates = 10000;

// A full store and the ids in it, built once and shared by all threads.
struct FilledStore {
  InMemoryAdaptationStore store{{.capacity = kStates}};
  std::vector<std::string> ids;
};

FilledStore& Filled() {
  static FilledStore* filled = [] {
    auto* result = new FilledStore;
    for (int i = 0; i < kStates; ++i) {
      auto state = std::make_shared<core::AdaptationState>();
      state->method = "protonet";
      state->labels = {"a", "b", "c", "d", "e"};
      state->derived["prototypes"] = torch::zeros({5, 64});
      absl::StatusOr<std::string> id = result->store.Put(std::move(state));
      if (id.ok()) result->ids.push_back(*id);
    }
    return result;
  }();
  return *filled;
}

void BM_AdaptationStoreGet(benchmark::State& state) {
  FilledStore& filled = Filled();
  if (filled.ids.empty()) {
    state.SkipWithError("the store kept no states");
    return;
  }
  size_t next = state.thread_index() * 7919;
  for (auto _ : state) {
    auto found = filled.store.Get(filled.ids[next % filled.ids.size()]);
    benchmark::DoNotOptimize(found);
    next += 31;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdaptationStoreGet)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace fewshot::server
