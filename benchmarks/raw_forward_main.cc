// fewshot-bench-raw: the in-process limit of the serving path. Loads a model
// bundle as the server does and times core::Encoder::Embed, eager and
// optimized, over a sweep of batch sizes and LibTorch intra-op thread
// counts, with no gRPC, decoding or queueing. Prints a table and, with
// --json_out, writes the same figures as JSON for scripts/bench-serving.sh.
//
//   fewshot-bench-raw --model_dir=models/omniglot-conv4 --threads=1,2
//       --batches=1,25,64,128 --json_out=/tmp/raw.json
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/bundle/model_bundle.h"
#include "core/model/encoder.h"
#include "core/util/status_macros.h"
#include "core/util/torch_threads.h"

ABSL_FLAG(std::string, model_dir, "models/omniglot-conv4",
          "model bundle folder");
ABSL_FLAG(std::vector<std::string>, batches,
          std::vector<std::string>({"1", "2", "4", "8", "16", "25", "32", "64",
                                    "128", "256"}),
          "batch sizes to time");
ABSL_FLAG(std::vector<std::string>, threads, {"1"},
          "LibTorch intra-op thread counts to time");
ABSL_FLAG(double, min_time_s, 0.3,
          "seconds of forward passes timed per point (at least 5 passes)");
ABSL_FLAG(std::string, json_out, "", "file to write the figures to as JSON");

namespace fewshot {
namespace {

// One timed point of the sweep.
struct RawPoint {
  std::string mode;
  int threads = 1;
  int64_t batch = 1;
  int passes = 0;
  // Median and best wall time of one forward pass, in milliseconds.
  double median_ms = 0;
  double min_ms = 0;

  double ImagesPerSecond() const {
    return median_ms > 0 ? 1000.0 * static_cast<double>(batch) / median_ms : 0;
  }
};

// Parses a list of integers >= 1 for `flag`.
absl::StatusOr<std::vector<int64_t>> ParsePositive(
    const char* flag, const std::vector<std::string>& texts) {
  std::vector<int64_t> values;
  for (const std::string& text : texts) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(text, &value) || value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": expected integers >= 1, got \"", text, "\""));
    }
    values.push_back(value);
  }
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected at least one value, got none"));
  }
  return values;
}

// Times `encoder` on random batches of `batch` images: two warm-up passes,
// then passes until `min_time` has gone by (at least five).
absl::StatusOr<RawPoint> TimePoint(const core::Encoder& encoder, int64_t batch,
                                   absl::Duration min_time) {
  const core::Preprocessing& input = encoder.preprocessing();
  const torch::Tensor images =
      torch::rand({batch, input.channels, input.height, input.width});
  for (int i = 0; i < 2; ++i) {
    FEWSHOT_RETURN_IF_ERROR(encoder.Embed(images).status());
  }
  std::vector<double> times_ms;
  const absl::Time start = absl::Now();
  while (times_ms.size() < 5 || absl::Now() - start < min_time) {
    const absl::Time begin = absl::Now();
    FEWSHOT_RETURN_IF_ERROR(encoder.Embed(images).status());
    times_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - begin));
  }
  std::sort(times_ms.begin(), times_ms.end());
  RawPoint point;
  point.batch = batch;
  point.passes = static_cast<int>(times_ms.size());
  point.median_ms = times_ms[times_ms.size() / 2];
  point.min_ms = times_ms.front();
  return point;
}

// The figures as one JSON object.
std::string ToJson(const std::vector<RawPoint>& points) {
  std::vector<std::string> rows;
  for (const RawPoint& point : points) {
    rows.push_back(absl::StrFormat(
        "    {\"mode\": \"%s\", \"threads\": %d, \"batch\": %d, "
        "\"passes\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, "
        "\"images_per_s\": %.1f}",
        point.mode, point.threads, point.batch, point.passes, point.median_ms,
        point.min_ms, point.ImagesPerSecond()));
  }
  return absl::StrCat("{\n  \"points\": [\n", absl::StrJoin(rows, ",\n"),
                      "\n  ]\n}\n");
}

absl::Status Run() {
  // Check the flags and load both forms of the encoder.
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<int64_t> batches,
      ParsePositive("batches", absl::GetFlag(FLAGS_batches)));
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<int64_t> threads,
      ParsePositive("threads", absl::GetFlag(FLAGS_threads)));
  const absl::Duration min_time =
      absl::Seconds(absl::GetFlag(FLAGS_min_time_s));
  FEWSHOT_RETURN_IF_ERROR(core::ConfigureTorchThreads(
      static_cast<int>(threads.front()), /*inter_op_threads=*/1));
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  std::vector<std::pair<std::string, std::unique_ptr<core::Encoder>>> encoders;
  for (const bool optimize : {false, true}) {
    FEWSHOT_ASSIGN_OR_RETURN(core::ModelBundle bundle,
                             core::LoadModelBundle(model_dir));
    auto encoder = std::make_unique<core::Encoder>(
        bundle.encoder, bundle.metadata.preprocessing,
        core::EncoderOptions{.optimize = optimize});
    if (optimize && !encoder->optimized()) {
      return absl::FailedPreconditionError(
          "the optimized encoder fell back to eager; see the warning above");
    }
    encoders.emplace_back(optimize ? "optimized" : "eager", std::move(encoder));
  }

  // Time every point, printing each as it ends.
  torch::NoGradGuard no_grad;
  std::vector<RawPoint> points;
  std::cout << absl::StrFormat("%-10s %7s %6s %7s %10s %10s %12s\n", "mode",
                               "threads", "batch", "passes", "median_ms",
                               "min_ms", "images/s");
  for (const int64_t thread_count : threads) {
    torch::set_num_threads(static_cast<int>(thread_count));
    for (const auto& [mode, encoder] : encoders) {
      for (const int64_t batch : batches) {
        FEWSHOT_ASSIGN_OR_RETURN(RawPoint point,
                                 TimePoint(*encoder, batch, min_time));
        point.mode = mode;
        point.threads = static_cast<int>(thread_count);
        std::cout << absl::StrFormat("%-10s %7d %6d %7d %10.3f %10.3f %12.1f\n",
                                     point.mode, point.threads, point.batch,
                                     point.passes, point.median_ms,
                                     point.min_ms, point.ImagesPerSecond())
                  << std::flush;
        points.push_back(std::move(point));
      }
    }
  }

  // Write the JSON copy.
  const std::string json_out = absl::GetFlag(FLAGS_json_out);
  if (json_out.empty()) return absl::OkStatus();
  std::ofstream file(json_out);
  file << ToJson(points);
  file.close();
  if (!file) {
    return absl::UnavailableError(
        absl::StrCat("json_out: cannot write \"", json_out, "\""));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fewshot

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Times the encoder forward pass in process, eager and optimized.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = fewshot::Run();
  if (!status.ok()) {
    std::cerr << "fewshot-bench-raw: " << status << "\n";
    return 1;
  }
  return 0;
}
