// Calibration of a method's class probabilities: expected calibration error
// (ECE) of the top-1 confidence, and temperature scaling, which divides the
// scores by one fitted T > 0 before the softmax.
//
// Example:
//   absl::StatusOr<double> t = FitTemperature(val_scores, val_labels);
//   absl::StatusOr<double> before =
//       ExpectedCalibrationError(test_scores, test_labels);
//   absl::StatusOr<double> after =
//       ExpectedCalibrationError(test_scores, test_labels, {.temperature =
//       *t});
#ifndef FEWSHOT_CORE_EVAL_CALIBRATION_H_
#define FEWSHOT_CORE_EVAL_CALIBRATION_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/statusor.h"

namespace fewshot::core {

struct CalibrationOptions {
  // Scores are divided by this before the softmax.
  double temperature = 1.0;
  // Equal-width bins of top-1 confidence over (0, 1]; bin b holds
  // confidences in (b / bins, (b + 1) / bins].
  int bins = 15;
};

// Expected calibration error: sum over bins of (queries in bin / queries) *
// |accuracy in bin - mean confidence in bin|, in [0, 1].
// scores: float [n, classes] (higher is more likely); labels: int64 [n] of
// true class indices. Returns INVALID_ARGUMENT for mismatched or empty
// inputs, a label out of range, a non-positive temperature or bins < 1.
absl::StatusOr<double> ExpectedCalibrationError(
    const torch::Tensor& scores, const torch::Tensor& labels,
    const CalibrationOptions& options = {});

// Mean negative log-likelihood of the true labels under
// softmax(scores / temperature). Same inputs and errors as above.
absl::StatusOr<double> NegativeLogLikelihood(const torch::Tensor& scores,
                                             const torch::Tensor& labels,
                                             double temperature);

struct TemperatureSearch {
  // The search interval of T; the answer lies within it.
  double min_temperature = 1e-2;
  double max_temperature = 1e2;
  // Golden-section steps on log T; 80 narrow the interval by ~1e-16.
  int iterations = 80;
};

// The temperature that minimises NegativeLogLikelihood over
// [min_temperature, max_temperature]. The NLL is convex in 1 / T, so a
// golden-section search on log T finds the minimum. Fit it on validation
// episodes, never on the test classes it will be judged on.
absl::StatusOr<double> FitTemperature(const torch::Tensor& scores,
                                      const torch::Tensor& labels,
                                      const TemperatureSearch& search = {});

// Scores and true labels of queries with the same number of classes.
struct LabelledScores {
  torch::Tensor scores;  // float [n, classes]
  torch::Tensor labels;  // int64 [n]
};

// One temperature for several groups of queries whose numbers of classes
// differ (e.g. 5-way and 20-way episodes with the same shots): minimises
// their pooled NLL, every query weighing the same. INVALID_ARGUMENT when
// `groups` is empty or a group is as FitTemperature refuses.
absl::StatusOr<double> FitTemperature(const std::vector<LabelledScores>& groups,
                                      const TemperatureSearch& search = {});

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_EVAL_CALIBRATION_H_
