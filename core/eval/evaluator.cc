// Episodic evaluation: accuracy with a 95% confidence interval, per-episode
// latency, kept scores and open-set confidences.
#include "core/eval/evaluator.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_format.h"
#include "core/eval/evaluation_recorder.h"
#include "core/util/status_macros.h"

namespace fewshot::core {
namespace {

using Clock = std::chrono::steady_clock;

// Appends the largest probability, softmax(scores / temperature), of each
// row of `scores`.
void AppendTopProbabilities(const torch::Tensor& scores, double temperature,
                            std::vector<double>* out) {
  const torch::Tensor top =
      std::get<0>(torch::softmax(scores.to(torch::kFloat64) / temperature,
                                 /*dim=*/1)
                      .max(/*dim=*/1));
  const auto values = top.accessor<double, 1>();
  for (int64_t i = 0; i < top.size(0); ++i) out->push_back(values[i]);
}

}  // namespace

AccuracySummary SummarizeAccuracies(const std::vector<double>& accuracies) {
  AccuracySummary summary;
  const double n = static_cast<double>(accuracies.size());
  if (accuracies.empty()) return summary;
  for (double a : accuracies) summary.mean += a;
  summary.mean /= n;
  if (accuracies.size() < 2) return summary;
  double squares = 0.0;
  for (double a : accuracies)
    squares += (a - summary.mean) * (a - summary.mean);
  const double stddev = std::sqrt(squares / (n - 1));
  summary.ci95 = 1.96 * stddev / std::sqrt(n);
  return summary;
}

absl::StatusOr<EpisodicSampler> EvaluationSampler(
    const ImageDataset& dataset, const Preprocessing& preprocessing,
    const EvaluationOptions& options) {
  if (options.episodes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("episodes must be >= 1, got %d", options.episodes));
  }
  if (options.unknown_ways < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown_ways must be >= 0, got %d", options.unknown_ways));
  }
  // Unknown classes are drawn with the known ones and lose their support.
  EpisodeShape drawn = options.shape;
  drawn.ways += options.unknown_ways;
  EpisodicSampler sampler(&dataset, drawn, preprocessing, options.seed,
                          options.sampler);
  FEWSHOT_RETURN_IF_ERROR(sampler.Validate());
  return sampler;
}

absl::StatusOr<EvaluationResult> EvaluateEpisodes(
    const Encoder& encoder, const AdaptationMethod& method,
    const ImageDataset& dataset, const EvaluationOptions& options,
    const std::function<void(int)>& progress) {
  FEWSHOT_ASSIGN_OR_RETURN(
      const EpisodicSampler sampler,
      EvaluationSampler(dataset, encoder.preprocessing(), options));
  const int64_t known_support = options.shape.ways * options.shape.shots;

  EvaluationRecorder recorder(options);
  for (int i = 0; i < options.episodes; ++i) {
    const Episode episode = sampler.Sample(i);

    // Adapt: embed the support set and build the method's state.
    const auto adapt_began = Clock::now();
    FEWSHOT_ASSIGN_OR_RETURN(
        torch::Tensor support,
        encoder.Embed(episode.support.slice(0, 0, known_support)));
    AdaptationState state;
    state.method = method.name();
    state.labels.resize(options.shape.ways);
    state.support_embeddings = support;
    state.support_labels = episode.support_labels.slice(0, 0, known_support);
    FEWSHOT_RETURN_IF_ERROR(method.Build(&state));
    const auto adapted = Clock::now();

    // Score every query against it.
    FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor queries,
                             encoder.Embed(episode.query));
    EpisodeOutcome outcome;
    FEWSHOT_ASSIGN_OR_RETURN(outcome.scores, method.Score(state, queries));
    const auto scored = Clock::now();
    outcome.adapt = adapted - adapt_began;
    outcome.score = scored - adapted;
    outcome.query_labels = episode.query_labels;
    if (options.unknown_ways > 0) {
      AppendTopProbabilities(outcome.scores, method.temperatures().For(state),
                             &outcome.confidences);
    }
    recorder.AddEpisode(outcome);
    if (progress) progress(i + 1);
  }
  return recorder.Finish();
}

}  // namespace fewshot::core
