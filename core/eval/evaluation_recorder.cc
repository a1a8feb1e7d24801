// Implements EvaluationRecorder.
#include "core/eval/evaluation_recorder.h"

namespace fewshot::core {
namespace {

double Milliseconds(std::chrono::steady_clock::duration elapsed) {
  return std::chrono::duration<double, std::milli>(elapsed).count();
}

}  // namespace

EvaluationRecorder::EvaluationRecorder(const EvaluationOptions& options)
    : known_queries_(static_cast<int64_t>(options.shape.ways) *
                     options.shape.queries),
      began_(std::chrono::steady_clock::now()) {
  result_.options = options;
}

void EvaluationRecorder::AddEpisode(const EpisodeOutcome& outcome) {
  result_.adapt_milliseconds.push_back(Milliseconds(outcome.adapt));
  result_.score_milliseconds.push_back(Milliseconds(outcome.score));
  // Known queries count towards accuracy; unknown ones only give their
  // confidence.
  const torch::Tensor known = outcome.scores.slice(0, 0, known_queries_);
  const torch::Tensor labels = outcome.query_labels.slice(0, 0, known_queries_);
  result_.episode_accuracies.push_back(
      known.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>());
  if (result_.options.keep_scores) {
    kept_scores_.push_back(known.to(torch::kFloat32));
    kept_labels_.push_back(labels);
  }
  if (result_.options.unknown_ways > 0) {
    const auto split = outcome.confidences.begin() + known_queries_;
    result_.known_confidences.insert(result_.known_confidences.end(),
                                     outcome.confidences.begin(), split);
    result_.unknown_confidences.insert(result_.unknown_confidences.end(), split,
                                       outcome.confidences.end());
  }
}

EvaluationResult EvaluationRecorder::Finish() {
  result_.accuracy = SummarizeAccuracies(result_.episode_accuracies);
  if (result_.options.keep_scores) {
    result_.scores = torch::cat(kept_scores_);
    result_.labels = torch::cat(kept_labels_);
  }
  result_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began_)
          .count();
  return result_;
}

}  // namespace fewshot::core
