// Expected calibration error and temperature scaling.
#include "core/eval/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

// Checks that `scores` [n, classes] and `labels` [n] belong together.
absl::Status CheckScoresAndLabels(const torch::Tensor& scores,
                                  const torch::Tensor& labels) {
  if (!scores.defined() || scores.dim() != 2 || scores.size(0) == 0 ||
      scores.size(1) == 0) {
    return absl::InvalidArgumentError(
        "scores must be a non-empty [queries, classes] tensor");
  }
  if (!labels.defined() || labels.dim() != 1 ||
      labels.size(0) != scores.size(0) ||
      labels.scalar_type() != torch::kInt64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "labels must be int64 [%d] to match the scores' rows", scores.size(0)));
  }
  const int64_t low = labels.min().item<int64_t>();
  const int64_t high = labels.max().item<int64_t>();
  if (low < 0 || high >= scores.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("labels must lie in [0, %d), got values from %d to %d",
                        scores.size(1), low, high));
  }
  return absl::OkStatus();
}

absl::Status CheckTemperature(double temperature) {
  if (!(temperature > 0) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "temperature must be a finite value > 0, got %g", temperature));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> ExpectedCalibrationError(
    const torch::Tensor& scores, const torch::Tensor& labels,
    const CalibrationOptions& options) {
  FEWSHOT_RETURN_IF_ERROR(CheckScoresAndLabels(scores, labels));
  FEWSHOT_RETURN_IF_ERROR(CheckTemperature(options.temperature));
  if (options.bins < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bins must be >= 1, got %d", options.bins));
  }

  // Top-1 confidence and correctness of each query.
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor top, CallTorch("calibration softmax", [&] {
        const torch::Tensor probabilities =
            torch::softmax(scores.to(torch::kFloat64) / options.temperature,
                           /*dim=*/1);
        const auto [confidence, predicted] = probabilities.max(/*dim=*/1);
        return torch::stack(
            {confidence, predicted.eq(labels).to(torch::kFloat64)}, 1);
      }));
  const auto rows = top.accessor<double, 2>();

  // Accumulate per bin, then weigh each bin's gap by its share of queries.
  std::vector<double> count(options.bins), confidence(options.bins),
      correct(options.bins);
  for (int64_t i = 0; i < top.size(0); ++i) {
    const double c = rows[i][0];
    int bin = static_cast<int>(std::ceil(c * options.bins)) - 1;
    bin = std::min(std::max(bin, 0), options.bins - 1);
    count[bin] += 1;
    confidence[bin] += c;
    correct[bin] += rows[i][1];
  }
  double ece = 0.0;
  for (int b = 0; b < options.bins; ++b) {
    if (count[b] == 0) continue;
    ece += std::abs(correct[b] - confidence[b]);
  }
  return ece / static_cast<double>(top.size(0));
}

absl::StatusOr<double> NegativeLogLikelihood(const torch::Tensor& scores,
                                             const torch::Tensor& labels,
                                             double temperature) {
  FEWSHOT_RETURN_IF_ERROR(CheckScoresAndLabels(scores, labels));
  FEWSHOT_RETURN_IF_ERROR(CheckTemperature(temperature));
  return CallTorch("negative log-likelihood", [&] {
    const torch::Tensor log_probabilities =
        torch::log_softmax(scores.to(torch::kFloat64) / temperature, /*dim=*/1);
    return -log_probabilities.gather(1, labels.unsqueeze(1))
                .mean()
                .item<double>();
  });
}

absl::StatusOr<double> FitTemperature(const torch::Tensor& scores,
                                      const torch::Tensor& labels,
                                      const TemperatureSearch& search) {
  FEWSHOT_RETURN_IF_ERROR(CheckScoresAndLabels(scores, labels));
  if (!(search.min_temperature > 0) ||
      !(search.max_temperature > search.min_temperature) ||
      search.iterations < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "temperature search needs 0 < min_temperature < max_temperature and "
        "iterations >= 1, got [%g, %g] and %d",
        search.min_temperature, search.max_temperature, search.iterations));
  }

  // Golden-section search on u = log T; NLL is unimodal in u.
  const double ratio = (std::sqrt(5.0) - 1.0) / 2.0;
  double low = std::log(search.min_temperature);
  double high = std::log(search.max_temperature);
  double left = high - ratio * (high - low);
  double right = low + ratio * (high - low);
  FEWSHOT_ASSIGN_OR_RETURN(
      double left_nll, NegativeLogLikelihood(scores, labels, std::exp(left)));
  FEWSHOT_ASSIGN_OR_RETURN(
      double right_nll, NegativeLogLikelihood(scores, labels, std::exp(right)));
  for (int i = 0; i < search.iterations; ++i) {
    if (left_nll <= right_nll) {
      high = right;
      right = left;
      right_nll = left_nll;
      left = high - ratio * (high - low);
      FEWSHOT_ASSIGN_OR_RETURN(
          left_nll, NegativeLogLikelihood(scores, labels, std::exp(left)));
    } else {
      low = left;
      left = right;
      left_nll = right_nll;
      right = low + ratio * (high - low);
      FEWSHOT_ASSIGN_OR_RETURN(
          right_nll, NegativeLogLikelihood(scores, labels, std::exp(right)));
    }
  }
  return std::exp((low + high) / 2.0);
}

absl::StatusOr<double> FitTemperature(const std::vector<LabelledScores>& groups,
                                      const TemperatureSearch& search) {
  if (groups.empty()) {
    return absl::InvalidArgumentError(
        "fitting a temperature needs at least one group of scores");
  }
  int64_t widest = 0;
  for (const LabelledScores& group : groups) {
    FEWSHOT_RETURN_IF_ERROR(CheckScoresAndLabels(group.scores, group.labels));
    widest = std::max(widest, group.scores.size(1));
  }

  // Pad every group to the widest with -inf scores: classes of probability
  // zero at any temperature, which leave each query's NLL unchanged.
  FEWSHOT_ASSIGN_OR_RETURN(
      const auto pooled, CallTorch("pooling scores", [&] {
        std::vector<torch::Tensor> scores;
        std::vector<torch::Tensor> labels;
        for (const LabelledScores& group : groups) {
          const torch::Tensor wide = group.scores.to(torch::kFloat64);
          scores.push_back(
              torch::constant_pad_nd(wide, {0, widest - wide.size(1)},
                                     -std::numeric_limits<double>::infinity()));
          labels.push_back(group.labels);
        }
        return std::make_pair(torch::cat(scores), torch::cat(labels));
      }));
  return FitTemperature(pooled.first, pooled.second, search);
}

}  // namespace fewshot::core
