// Tests the expected calibration error and temperature fit on score
// matrices whose probabilities can be checked by hand: scores are
// log-probabilities, so the softmax gives them back.
#include "core/eval/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace fewshot::core {
namespace {

// Rows of log-probabilities [log p, log(1 - p)] for two classes.
torch::Tensor BinaryScores(const std::vector<double>& top_probabilities) {
  std::vector<float> values;
  for (double p : top_probabilities) {
    values.push_back(static_cast<float>(std::log(p)));
    values.push_back(static_cast<float>(std::log(1.0 - p)));
  }
  return torch::tensor(values).reshape(
      {static_cast<int64_t>(top_probabilities.size()), 2});
}

torch::Tensor Labels(const std::vector<int64_t>& labels) {
  return torch::tensor(labels, torch::kInt64);
}

TEST(CalibrationTest, OneBinGapIsConfidenceMinusAccuracy) {
  // Confidence 0.9 everywhere, 3 of 4 right: ECE = |0.75 - 0.9|.
  absl::StatusOr<double> ece = ExpectedCalibrationError(
      BinaryScores({0.9, 0.9, 0.9, 0.9}), Labels({0, 0, 0, 1}));
  ASSERT_TRUE(ece.ok()) << ece.status();
  EXPECT_NEAR(*ece, 0.15, 1e-6);
}

TEST(CalibrationTest, BinsAreWeighedByTheirShare) {
  // Two queries at 0.9, both right (gap 0.1); two at 0.6, one right
  // (gap 0.1): ECE = 0.5 * 0.1 + 0.5 * 0.1.
  absl::StatusOr<double> ece = ExpectedCalibrationError(
      BinaryScores({0.9, 0.9, 0.6, 0.6}), Labels({0, 0, 0, 1}));
  ASSERT_TRUE(ece.ok()) << ece.status();
  EXPECT_NEAR(*ece, 0.1, 1e-6);
}

TEST(CalibrationTest, OppositeGapsInOneBinCancelButNotAcrossBins) {
  // One bin: 0.9 (wrong) and 0.9 (right) give accuracy 0.5, gap 0.4. With
  // one bin in all, 0.6 (right) joins: confidence 0.8, accuracy 2/3.
  absl::StatusOr<double> fifteen = ExpectedCalibrationError(
      BinaryScores({0.9, 0.9, 0.6}), Labels({1, 0, 0}));
  absl::StatusOr<double> one = ExpectedCalibrationError(
      BinaryScores({0.9, 0.9, 0.6}), Labels({1, 0, 0}), {.bins = 1});
  ASSERT_TRUE(fifteen.ok()) << fifteen.status();
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_NEAR(*fifteen, (2.0 * 0.4 + 1.0 * 0.4) / 3.0, 1e-6);
  EXPECT_NEAR(*one, std::abs(2.0 / 3.0 - 0.8), 1e-6);
}

TEST(CalibrationTest, TemperatureSoftensConfidence) {
  // Scores log 0.9 and log 0.1 halved give sqrt(0.9) / (sqrt(0.9) +
  // sqrt(0.1)) = 0.75, which matches 3 of 4 right exactly.
  absl::StatusOr<double> ece =
      ExpectedCalibrationError(BinaryScores({0.9, 0.9, 0.9, 0.9}),
                               Labels({0, 0, 0, 1}), {.temperature = 2.0});
  ASSERT_TRUE(ece.ok()) << ece.status();
  EXPECT_NEAR(*ece, 0.0, 1e-6);
}

TEST(CalibrationTest, NegativeLogLikelihoodOfKnownProbabilities) {
  absl::StatusOr<double> nll = NegativeLogLikelihood(
      BinaryScores({0.8, 0.8}), Labels({0, 1}), /*temperature=*/1.0);
  ASSERT_TRUE(nll.ok()) << nll.status();
  EXPECT_NEAR(*nll, -(std::log(0.8) + std::log(0.2)) / 2.0, 1e-6);
}

TEST(CalibrationTest, FittedTemperatureMatchesTheObservedAccuracy) {
  // Every row says 0.9 and 3 of 4 are right: the likelihood is highest
  // when the probability is 0.75, i.e. at T = 2 (see above).
  absl::StatusOr<double> temperature =
      FitTemperature(BinaryScores({0.9, 0.9, 0.9, 0.9}), Labels({0, 0, 0, 1}));
  ASSERT_TRUE(temperature.ok()) << temperature.status();
  EXPECT_NEAR(*temperature, 2.0, 1e-4);
}

TEST(CalibrationTest, UnderconfidentScoresGetATemperatureBelowOne) {
  // Confidence 0.6 but 9 of 10 right: sharpening helps.
  absl::StatusOr<double> temperature =
      FitTemperature(BinaryScores(std::vector<double>(10, 0.6)),
                     Labels({0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  ASSERT_TRUE(temperature.ok()) << temperature.status();
  // p = 0.9 needs (0.6 / 0.4)^(1 / T) = 9, so T = log 1.5 / log 9.
  EXPECT_NEAR(*temperature, std::log(1.5) / std::log(9.0), 1e-4);
}

TEST(CalibrationTest, BadInputsAreInvalid) {
  const torch::Tensor scores = BinaryScores({0.9, 0.9});
  EXPECT_EQ(ExpectedCalibrationError(scores, Labels({0, 2})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpectedCalibrationError(scores, Labels({0})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      ExpectedCalibrationError(scores, Labels({0, 1}), {.temperature = 0.0})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ExpectedCalibrationError(scores, Labels({0, 1}), {.bins = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitTemperature(torch::zeros({0, 2}), Labels({})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CalibrationTest, GroupsOfDifferentWidthsPoolTheirQueries) {
  // The four queries of FittedTemperatureMatchesTheObservedAccuracy, split
  // into a 2-class group and a 3-class one whose third class is
  // practically impossible: pooled, still 3 of 4 right at 0.9, so T = 2.
  const torch::Tensor narrow = BinaryScores({0.9, 0.9});
  const torch::Tensor wide =
      torch::cat({BinaryScores({0.9, 0.9}), torch::full({2, 1}, -1e9)}, 1);
  absl::StatusOr<double> temperature =
      FitTemperature({{.scores = narrow, .labels = Labels({0, 0})},
                      {.scores = wide, .labels = Labels({0, 1})}});
  ASSERT_TRUE(temperature.ok()) << temperature.status();
  EXPECT_NEAR(*temperature, 2.0, 1e-4);

  // Each group alone gives a different answer.
  absl::StatusOr<double> wide_alone =
      FitTemperature({{.scores = wide, .labels = Labels({0, 1})}});
  ASSERT_TRUE(wide_alone.ok()) << wide_alone.status();
  EXPECT_GT(std::abs(*wide_alone - 2.0), 1.0);
}

TEST(CalibrationTest, BadGroupsAreInvalid) {
  EXPECT_EQ(FitTemperature(std::vector<LabelledScores>{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      FitTemperature({{.scores = BinaryScores({0.9}), .labels = Labels({2})}})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
