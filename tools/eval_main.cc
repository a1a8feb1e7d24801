// fewshot-eval: measures a bundle's N-way K-shot accuracy on Omniglot
// classes never seen in training, with a 95% confidence interval, and can
// record the figures in the bundle.
//
//   fewshot-eval --model_dir=models/omniglot-conv4 --shapes=5x1,5x5 --record
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/adapt/method_registry.h"
#include "core/bundle/model_bundle.h"
#include "core/data/omniglot.h"
#include "core/eval/evaluator.h"
#include "core/model/encoder.h"
#include "core/util/torch_threads.h"
#include "tools/omniglot_flags.h"
#include "tools/progress_bar.h"

ABSL_FLAG(std::string, model_dir, "models/omniglot-conv4",
          "Bundle folder to evaluate");
ABSL_FLAG(std::string, split, "evaluation",
          "Omniglot split to test on: evaluation (unseen alphabets) or "
          "background");
ABSL_FLAG(std::string, shapes, "5x1,5x5,20x1,20x5",
          "Comma-separated WAYSxSHOTS episode shapes");
ABSL_FLAG(int, queries, 15, "Query examples per class");
ABSL_FLAG(int, episodes, 1000, "Episodes per shape");
ABSL_FLAG(uint64_t, seed, 2024, "Episode seed");
ABSL_FLAG(std::string, method, "", "Adaptation method (default protonet)");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads");
ABSL_FLAG(bool, record, false,
          "Write the results into the bundle's metadata");

namespace fewshot::tools {
namespace {

// Parses "5x1,20x5" into episode shapes with `queries` queries per class.
absl::StatusOr<std::vector<core::EpisodeShape>> ParseShapes(
    const std::string& text, int queries) {
  std::vector<core::EpisodeShape> shapes;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, 'x');
    core::EpisodeShape shape;
    shape.queries = queries;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shape.ways) ||
        !absl::SimpleAtoi(parts[1], &shape.shots)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--shapes item '%s' is not WAYSxSHOTS, e.g. 5x1", item));
    }
    shapes.push_back(shape);
  }
  if (shapes.empty()) return absl::InvalidArgumentError("--shapes is empty");
  return shapes;
}

int Fail(const absl::Status& status) {
  std::cerr << "fewshot-eval: " << status << "\n";
  return 1;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Evaluates a model bundle on held-out Omniglot classes.");
  absl::ParseCommandLine(argc, argv);

  // Set up threads, shapes, model and data.
  absl::Status threads =
      core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads), 1);
  if (!threads.ok()) return Fail(threads);
  absl::StatusOr<std::vector<core::EpisodeShape>> shapes =
      ParseShapes(absl::GetFlag(FLAGS_shapes), absl::GetFlag(FLAGS_queries));
  if (!shapes.ok()) return Fail(shapes.status());
  const std::string split_name = absl::GetFlag(FLAGS_split);
  if (split_name != "evaluation" && split_name != "background") {
    return Fail(absl::InvalidArgumentError(
        "--split must be evaluation or background"));
  }
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  absl::StatusOr<core::ModelBundle> bundle = core::LoadModelBundle(model_dir);
  if (!bundle.ok()) return Fail(bundle.status());
  absl::StatusOr<std::unique_ptr<core::AdaptationMethod>> method =
      core::CreateMethod(absl::GetFlag(FLAGS_method));
  if (!method.ok()) return Fail(method.status());
  core::Encoder encoder(bundle->encoder, bundle->metadata.preprocessing);

  const core::OmniglotOptions data =
      OmniglotOptionsFromFlags(bundle->metadata.preprocessing);
  absl::StatusOr<core::ImageDataset> test_set = core::LoadOmniglot(
      split_name == "evaluation" ? core::OmniglotSplit::kEvaluation
                                 : core::OmniglotSplit::kBackground,
      data);
  if (!test_set.ok()) return Fail(test_set.status());

  // Evaluate each shape.
  std::cout << absl::StrFormat(
      "model %s (%s), method %s, split omniglot/%s, %d episodes per shape, "
      "%d queries per class\n",
      bundle->metadata.name, bundle->metadata.version, (*method)->name(),
      split_name, absl::GetFlag(FLAGS_episodes),
      absl::GetFlag(FLAGS_queries));
  std::vector<core::AccuracyRecord> records;
  for (const core::EpisodeShape& shape : *shapes) {
    core::EvaluationOptions options;
    options.shape = shape;
    options.episodes = absl::GetFlag(FLAGS_episodes);
    options.seed = absl::GetFlag(FLAGS_seed);
    ProgressBar bar(options.episodes, /*lines_when_piped=*/4);
    const absl::Time began = absl::Now();
    absl::StatusOr<core::EvaluationResult> result = core::EvaluateEpisodes(
        encoder, **method, *test_set, options, [&](int done) {
          bar.Update(done, done / absl::ToDoubleSeconds(absl::Now() - began),
                     absl::StrFormat("%d-way %d-shot", shape.ways,
                                     shape.shots));
        });
    bar.Finish();
    if (!result.ok()) return Fail(result.status());

    std::cout << absl::StrFormat(
        "%2d-way %d-shot: %6.2f%% +- %.2f%% (95%% CI, %d episodes, %.1f s)\n",
        shape.ways, shape.shots, 100 * result->accuracy.mean,
        100 * result->accuracy.ci95, options.episodes, result->seconds);
    records.push_back({(*method)->name(), "omniglot/" + split_name,
                       shape.ways, shape.shots, shape.queries,
                       options.episodes, result->accuracy.mean,
                       result->accuracy.ci95});
  }

  // Record the figures in the bundle, replacing earlier ones of the same
  // method, split and shape.
  if (absl::GetFlag(FLAGS_record)) {
    core::BundleMetadata metadata = bundle->metadata;
    for (const core::AccuracyRecord& record : records) {
      auto& accuracy = metadata.accuracy;
      accuracy.erase(
          std::remove_if(accuracy.begin(), accuracy.end(),
                         [&](const core::AccuracyRecord& old) {
                           return old.method == record.method &&
                                  old.split == record.split &&
                                  old.ways == record.ways &&
                                  old.shots == record.shots;
                         }),
          accuracy.end());
      metadata.accuracy.push_back(record);
    }
    const absl::Status written = core::WriteBundleMetadata(metadata, model_dir);
    if (!written.ok()) return Fail(written);
    std::cout << "recorded in " << model_dir << "/bundle.json\n";
  }
  return 0;
}

}  // namespace
}  // namespace fewshot::tools

int main(int argc, char** argv) { return fewshot::tools::Run(argc, argv); }
