// Tests the confidence interval math, and evaluation runs end to end (with
// kept scores, latencies and unknown classes) on a synthetic data set that
// an untrained encoder can still separate.
#include "core/eval/evaluator.h"

#include <gtest/gtest.h>

#include "core/adapt/prototypical.h"
#include "tests/core/synthetic_dataset.h"

namespace fewshot::core {
namespace {

TEST(EvaluatorTest, SummaryOfConstantAccuraciesHasNoInterval) {
  const AccuracySummary summary = SummarizeAccuracies({0.5, 0.5, 0.5});
  EXPECT_DOUBLE_EQ(summary.mean, 0.5);
  EXPECT_DOUBLE_EQ(summary.ci95, 0.0);
}

TEST(EvaluatorTest, SummaryMatchesHandComputedInterval) {
  // Values 0 and 1 (x2): mean 0.5, sample stddev sqrt(1/3),
  // ci = 1.96 * sqrt(1/3) / 2.
  const AccuracySummary summary = SummarizeAccuracies({0.0, 1.0, 0.0, 1.0});
  EXPECT_DOUBLE_EQ(summary.mean, 0.5);
  EXPECT_NEAR(summary.ci95, 1.96 * std::sqrt(1.0 / 3.0) / 2.0, 1e-12);
}

TEST(EvaluatorTest, SummaryOfNothingIsZero) {
  const AccuracySummary summary = SummarizeAccuracies({});
  EXPECT_DOUBLE_EQ(summary.mean, 0.0);
  EXPECT_DOUBLE_EQ(summary.ci95, 0.0);
}

TEST(EvaluatorTest, SeparableClassesScorePerfectly) {
  // Each class is a constant image of a distinct brightness, far apart; a
  // random encoder maps them to distinct points, so every query is right.
  ImageDataset dataset;
  const int classes = 6, per_class = 5;
  std::vector<torch::Tensor> images;
  for (int c = 0; c < classes; ++c) {
    images.push_back(torch::full({per_class, 28, 28}, c * 50, torch::kUInt8));
    dataset.class_names.push_back("c" + std::to_string(c));
    dataset.class_begin.push_back(c * per_class);
  }
  dataset.class_begin.push_back(classes * per_class);
  dataset.images = torch::cat(images);

  torch::manual_seed(0);
  Encoder encoder(Conv4(Conv4Options{}), Preprocessing{});
  EvaluationOptions options;
  options.shape = {.ways = 3, .shots = 2, .queries = 3};
  options.episodes = 20;
  int calls = 0;
  absl::StatusOr<EvaluationResult> result =
      EvaluateEpisodes(encoder, PrototypicalMethod(), dataset, options,
                       [&](int done) { calls = done; });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(calls, 20);
  ASSERT_EQ(result->episode_accuracies.size(), 20u);
  EXPECT_DOUBLE_EQ(result->accuracy.mean, 1.0);
}

// `classes` classes of constant images, each of its own brightness, five
// images per class.
ImageDataset BrightnessDataset(int classes) {
  ImageDataset dataset;
  const int per_class = 5;
  std::vector<torch::Tensor> images;
  for (int c = 0; c < classes; ++c) {
    images.push_back(torch::full({per_class, 28, 28}, c * 40, torch::kUInt8));
    dataset.class_names.push_back("c" + std::to_string(c));
    dataset.class_begin.push_back(c * per_class);
  }
  dataset.class_begin.push_back(classes * per_class);
  dataset.images = torch::cat(images);
  return dataset;
}

TEST(EvaluatorTest, KeepsScoresAndTimesOfEveryEpisode) {
  const ImageDataset dataset = BrightnessDataset(6);
  torch::manual_seed(0);
  Encoder encoder(Conv4(Conv4Options{}), Preprocessing{});
  EvaluationOptions options;
  options.shape = {.ways = 3, .shots = 1, .queries = 2};
  options.episodes = 4;
  options.keep_scores = true;
  absl::StatusOr<EvaluationResult> result =
      EvaluateEpisodes(encoder, PrototypicalMethod(), dataset, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->adapt_milliseconds.size(), 4u);
  ASSERT_EQ(result->score_milliseconds.size(), 4u);
  EXPECT_GT(result->adapt_milliseconds[0], 0.0);
  EXPECT_GT(result->score_milliseconds[0], 0.0);
  ASSERT_TRUE(result->scores.defined());
  EXPECT_EQ(result->scores.sizes(), (std::vector<int64_t>{4 * 3 * 2, 3}));
  // Labels are class-major per episode: 0 0 1 1 2 2, four times.
  ASSERT_EQ(result->labels.size(0), 24);
  EXPECT_EQ(result->labels[0].item<int64_t>(), 0);
  EXPECT_EQ(result->labels[5].item<int64_t>(), 2);
  EXPECT_EQ(result->labels[6].item<int64_t>(), 0);
  // The kept scores give the accuracy reported.
  const double accuracy = result->scores.argmax(1)
                              .eq(result->labels)
                              .to(torch::kFloat64)
                              .mean()
                              .item<double>();
  EXPECT_NEAR(accuracy, result->accuracy.mean, 1e-9);
  EXPECT_TRUE(result->known_confidences.empty());
}

TEST(EvaluatorTest, UnknownClassesGiveConfidencesButNoAccuracy) {
  const ImageDataset dataset = BrightnessDataset(6);
  torch::manual_seed(0);
  Encoder encoder(Conv4(Conv4Options{}), Preprocessing{});
  EvaluationOptions options;
  options.shape = {.ways = 2, .shots = 1, .queries = 3};
  options.unknown_ways = 2;
  options.episodes = 5;
  options.keep_scores = true;
  absl::StatusOr<EvaluationResult> result =
      EvaluateEpisodes(encoder, PrototypicalMethod(), dataset, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->known_confidences.size(), 5u * 2 * 3);
  ASSERT_EQ(result->unknown_confidences.size(), 5u * 2 * 3);
  // Scores cover the known queries only, over the known classes.
  EXPECT_EQ(result->scores.sizes(), (std::vector<int64_t>{5 * 2 * 3, 2}));
  for (double confidence : result->unknown_confidences) {
    EXPECT_GE(confidence, 0.5);
    EXPECT_LE(confidence, 1.0);
  }
  EXPECT_DOUBLE_EQ(result->accuracy.mean, 1.0);
}

TEST(EvaluatorTest, TooFewClassesForUnknownWaysIsInvalid) {
  const ImageDataset dataset = BrightnessDataset(4);
  Encoder encoder(Conv4(Conv4Options{}), Preprocessing{});
  EvaluationOptions options;
  options.shape = {.ways = 3, .shots = 1, .queries = 1};
  options.unknown_ways = 2;
  EXPECT_EQ(EvaluateEpisodes(encoder, PrototypicalMethod(), dataset, options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EvaluatorTest, ImpossibleShapeIsInvalid) {
  const ImageDataset dataset = ::fewshot::testing::MakeTracedDataset(3, 4);
  Encoder encoder(Conv4(Conv4Options{}), Preprocessing{});
  EvaluationOptions options;
  options.shape = {.ways = 5, .shots = 1, .queries = 1};
  EXPECT_EQ(EvaluateEpisodes(encoder, PrototypicalMethod(), dataset, options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
