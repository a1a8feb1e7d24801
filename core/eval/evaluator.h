// The evaluation protocol: many seeded episodes on held-out classes, mean
// accuracy with a 95% confidence interval.
//
// Example:
//   EvaluationOptions options{.shape = {5, 5, 15}, .episodes = 1000};
//   absl::StatusOr<EvaluationResult> result =
//       EvaluateEpisodes(encoder, method, test_set, options);
#ifndef FEWSHOT_CORE_EVAL_EVALUATOR_H_
#define FEWSHOT_CORE_EVAL_EVALUATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"
#include "core/data/episodic_sampler.h"
#include "core/data/image_dataset.h"
#include "core/model/encoder.h"

namespace fewshot::core {

struct EvaluationOptions {
  EpisodeShape shape;
  int episodes = 1000;
  uint64_t seed = 1;
  SamplerOptions sampler;
};

// Mean and 95% confidence half-width (1.96 standard errors) of per-episode
// accuracies.
struct AccuracySummary {
  double mean = 0.0;
  double ci95 = 0.0;
};

AccuracySummary SummarizeAccuracies(const std::vector<double>& accuracies);

struct EvaluationResult {
  EvaluationOptions options;
  AccuracySummary accuracy;
  std::vector<double> episode_accuracies;
  double seconds = 0.0;
};

// Runs options.episodes episodes in order; `progress` (may be empty) is
// called after each one with the episodes done.
absl::StatusOr<EvaluationResult> EvaluateEpisodes(
    const Encoder& encoder, const AdaptationMethod& method,
    const ImageDataset& dataset, const EvaluationOptions& options,
    const std::function<void(int)>& progress = {});

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_EVAL_EVALUATOR_H_
