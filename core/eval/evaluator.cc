// Episodic evaluation with a 95% confidence interval.
#include "core/eval/evaluator.h"

#include <chrono>
#include <cmath>

#include "core/util/status_macros.h"

namespace fewshot::core {

AccuracySummary SummarizeAccuracies(const std::vector<double>& accuracies) {
  AccuracySummary summary;
  const double n = static_cast<double>(accuracies.size());
  if (accuracies.empty()) return summary;
  for (double a : accuracies) summary.mean += a;
  summary.mean /= n;
  if (accuracies.size() < 2) return summary;
  double squares = 0.0;
  for (double a : accuracies) squares += (a - summary.mean) * (a - summary.mean);
  const double stddev = std::sqrt(squares / (n - 1));
  summary.ci95 = 1.96 * stddev / std::sqrt(n);
  return summary;
}

absl::StatusOr<EvaluationResult> EvaluateEpisodes(
    const Encoder& encoder, const AdaptationMethod& method,
    const ImageDataset& dataset, const EvaluationOptions& options,
    const std::function<void(int)>& progress) {
  const EpisodicSampler sampler(&dataset, options.shape,
                                encoder.preprocessing(), options.seed,
                                options.sampler);
  FEWSHOT_RETURN_IF_ERROR(sampler.Validate());
  if (options.episodes < 1) {
    return absl::InvalidArgumentError("episodes must be >= 1");
  }

  EvaluationResult result;
  result.options = options;
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < options.episodes; ++i) {
    const Episode episode = sampler.Sample(i);

    // Embed, adapt on the support set, score the queries.
    FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor support,
                             encoder.Embed(episode.support));
    FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor queries,
                             encoder.Embed(episode.query));
    AdaptationState state;
    state.method = method.name();
    state.labels.resize(options.shape.ways);
    state.support_embeddings = support;
    state.support_labels = episode.support_labels;
    FEWSHOT_RETURN_IF_ERROR(method.Build(&state));
    FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor scores,
                             method.Score(state, queries));

    const double accuracy = scores.argmax(1)
                                .eq(episode.query_labels)
                                .to(torch::kFloat64)
                                .mean()
                                .item<double>();
    result.episode_accuracies.push_back(accuracy);
    if (progress) progress(i + 1);
  }
  result.accuracy = SummarizeAccuracies(result.episode_accuracies);
  result.seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - began)
                       .count();
  return result;
}

}  // namespace fewshot::core
