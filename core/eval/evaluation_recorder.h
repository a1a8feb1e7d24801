// Turns the outcome of each evaluation episode into an EvaluationResult:
// per-episode accuracy over the known queries, adapt and score latencies,
// kept scores and open-set confidences, then the accuracy summary. Shared
// by evaluations of an in-process model and of a served one, so that both
// count the same way.
//
// Example:
//   EvaluationRecorder recorder(options);
//   for (...) recorder.AddEpisode({.adapt = ..., .scores = ..., ...});
//   EvaluationResult result = recorder.Finish();
#ifndef FEWSHOT_CORE_EVAL_EVALUATION_RECORDER_H_
#define FEWSHOT_CORE_EVAL_EVALUATION_RECORDER_H_

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "core/eval/evaluator.h"

namespace fewshot::core {

// What one episode gave.
struct EpisodeOutcome {
  // How long adapting to the support set and scoring the queries took.
  std::chrono::steady_clock::duration adapt{};
  std::chrono::steady_clock::duration score{};
  // [queries, ways]: every query of the episode, the known classes' first.
  torch::Tensor scores;
  // The episode's true query class indices; only the known ones are read.
  torch::Tensor query_labels;
  // The top-1 probability of each row of `scores`; read only when the
  // options have unknown_ways > 0.
  std::vector<double> confidences;
};

// Not thread-safe.
class EvaluationRecorder {
 public:
  // Starts the clock of EvaluationResult::seconds.
  explicit EvaluationRecorder(const EvaluationOptions& options);

  void AddEpisode(const EpisodeOutcome& outcome);

  // The result of the episodes added so far.
  EvaluationResult Finish();

 private:
  EvaluationResult result_;
  int64_t known_queries_;
  std::vector<torch::Tensor> kept_scores_;
  std::vector<torch::Tensor> kept_labels_;
  std::chrono::steady_clock::time_point began_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_EVAL_EVALUATION_RECORDER_H_
