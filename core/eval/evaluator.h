// The evaluation protocol: many seeded episodes on held-out classes, mean
// accuracy with a 95% confidence interval, the time each episode took to
// adapt and to score, and optionally every query's scores (for
// calibration) and queries of classes outside the support set (for
// open-set rejection).
//
// Example:
//   EvaluationOptions options{.shape = {5, 5, 15}, .episodes = 1000};
//   absl::StatusOr<EvaluationResult> result =
//       EvaluateEpisodes(encoder, method, test_set, options);
#ifndef FEWSHOT_CORE_EVAL_EVALUATOR_H_
#define FEWSHOT_CORE_EVAL_EVALUATOR_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"
#include "core/data/episodic_sampler.h"
#include "core/data/image_dataset.h"
#include "core/data/preprocessing.h"
#include "core/model/encoder.h"

namespace fewshot::core {

struct EvaluationOptions {
  EpisodeShape shape;
  int episodes = 1000;
  uint64_t seed = 1;
  SamplerOptions sampler;
  // Keeps every known query's scores and true label in the result.
  bool keep_scores = false;
  // Classes drawn beside the shape's ways whose queries are scored against
  // the support set without belonging to it (0: closed set). Their top-1
  // probabilities go to EvaluationResult::unknown_confidences.
  int unknown_ways = 0;
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
  // Over the queries of the support set's classes.
  AccuracySummary accuracy;
  std::vector<double> episode_accuracies;
  // Per episode, in milliseconds: embedding the support set and building
  // the method's state; embedding the queries and scoring them.
  std::vector<double> adapt_milliseconds;
  std::vector<double> score_milliseconds;
  // With keep_scores: float [episodes * ways * queries, ways] scores and
  // int64 true class indices, episode after episode.
  torch::Tensor scores;
  torch::Tensor labels;
  // With unknown_ways > 0: the top-1 probability (softmax of the scores
  // divided by the method's temperature, as served) of every known and
  // every unknown query.
  std::vector<double> known_confidences;
  std::vector<double> unknown_confidences;
  double seconds = 0.0;
};

// Checks `options` (INVALID_ARGUMENT naming the field) and returns the
// sampler of its episodes: the shape with unknown_ways more classes, drawn
// from `dataset` (which must outlive it) with `preprocessing`.
// INVALID_ARGUMENT when the data set cannot supply that shape.
absl::StatusOr<EpisodicSampler> EvaluationSampler(
    const ImageDataset& dataset, const Preprocessing& preprocessing,
    const EvaluationOptions& options);

// Runs options.episodes episodes in order; `progress` (may be empty) is
// called after each one with the episodes done. Returns INVALID_ARGUMENT
// when the data set cannot supply ways + unknown_ways classes of the shape.
absl::StatusOr<EvaluationResult> EvaluateEpisodes(
    const Encoder& encoder, const AdaptationMethod& method,
    const ImageDataset& dataset, const EvaluationOptions& options,
    const std::function<void(int)>& progress = {});

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_EVAL_EVALUATOR_H_
