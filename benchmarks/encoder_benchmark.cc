// Measures the encoder forward pass three ways, eager, folded on dense
// convolutions, and folded on oneDNN (the server's default), for batches
// of 1, 25 and 100 at 1 and 2 LibTorch intra-op threads, then prints the
// times side by side with the speed-up over eager.
//
// Example:
//   encoder_benchmark --benchmark_repetitions=3
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/model/conv4.h"
#include "core/model/folded_conv4.h"

namespace fewshot::core {
namespace {

constexpr int64_t kBatchSizes[] = {1, 25, 100};
constexpr int kIntraOpThreads[] = {1, 2};

// The forms of the forward pass, in the order they are printed.
constexpr char kEager[] = "eager";
constexpr char kFoldedDense[] = "folded_dense";
constexpr char kFoldedOneDnn[] = "folded_onednn";
const std::vector<std::string> kModes = {kEager, kFoldedDense, kFoldedOneDnn};

// The network every benchmark runs, with default (untrained) weights; the
// cost of a forward pass does not depend on their values.
Conv4& Network() {
  static Conv4* network = [] {
    torch::manual_seed(0);
    auto* conv4 = new Conv4(Conv4Options{});
    (*conv4)->eval();
    return conv4;
  }();
  return *network;
}

// Runs `mode` on a batch of `batch_size` 28x28 images per iteration.
void BM_EncoderForward(benchmark::State& state, const std::string& mode,
                       int64_t batch_size, int threads) {
  torch::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const torch::Tensor batch = torch::rand({batch_size, 1, 28, 28});
  std::unique_ptr<FoldedConv4> folded;
  if (mode != kEager) {
    absl::StatusOr<std::unique_ptr<FoldedConv4>> created =
        FoldedConv4::Create(Network(), /*use_mkldnn=*/mode == kFoldedOneDnn);
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      return;
    }
    folded = *std::move(created);
  }

  for (auto _ : state) {
    torch::Tensor embeddings = folded == nullptr
                                   ? Network()->forward(batch)
                                   : folded->Forward(batch).value();
    benchmark::DoNotOptimize(embeddings.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}

// Prints the usual console lines, then one table row per (batch, threads)
// with the median (or only) time of each mode and its speed-up over eager.
class SideBySideReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const bool single =
          run.repetitions <= 1 && run.run_type == Run::RT_Iteration;
      const bool median =
          run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.error_occurred || !(single || median)) continue;
      // Names are EncoderForward/<mode>/<batch>/<threads>.
      const std::vector<std::string> parts =
          absl::StrSplit(run.run_name.function_name, '/');
      if (parts.size() != 4) continue;
      const std::string config = parts[2] + " " + parts[3];
      if (times_.find(config) == times_.end()) configs_.push_back(config);
      times_[config][parts[1]] = run.GetAdjustedRealTime();
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-30s", "median ms (speed-up vs eager)");
    for (const std::string& mode : kModes) std::printf("%22s", mode.c_str());
    std::printf("\n");
    for (const std::string& config : configs_) {
      const std::map<std::string, double>& by_mode = times_[config];
      std::printf("%-30s", config.c_str());
      const auto eager = by_mode.find(kEager);
      for (const std::string& mode : kModes) {
        const auto found = by_mode.find(mode);
        if (found == by_mode.end()) {
          std::printf("%22s", "-");
          continue;
        }
        const double ratio =
            eager == by_mode.end() ? 0.0 : eager->second / found->second;
        std::printf("%14.3f (%4.1fx)", found->second, ratio);
      }
      std::printf("\n");
    }
  }

 private:
  // Configurations ("batch:25 torch_threads:1") in the order they ran.
  std::vector<std::string> configs_;
  // Configuration -> mode -> milliseconds.
  std::map<std::string, std::map<std::string, double>> times_;
};

}  // namespace
}  // namespace fewshot::core

int main(int argc, char** argv) {
  using fewshot::core::BM_EncoderForward;
  for (int64_t batch_size : fewshot::core::kBatchSizes) {
    for (int threads : fewshot::core::kIntraOpThreads) {
      for (const std::string& mode : fewshot::core::kModes) {
        const std::string name =
            absl::StrCat("EncoderForward/", mode, "/batch:", batch_size,
                         "/torch_threads:", threads);
        benchmark::RegisterBenchmark(name.c_str(), BM_EncoderForward, mode,
                                     batch_size, threads)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  fewshot::core::SideBySideReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
