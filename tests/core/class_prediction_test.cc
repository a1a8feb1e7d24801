// Tests turning score matrices into predictions.
#include "core/adapt/class_prediction.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fewshot::core {
namespace {

TEST(ClassPredictionTest, PicksTheHighestScorePerRow) {
  const torch::Tensor scores =
      torch::tensor({{0.0f, 2.0f, 1.0f}, {5.0f, -1.0f, 0.0f}});
  const std::vector<ClassPrediction> predictions = ToClassPredictions(scores);
  ASSERT_EQ(predictions.size(), 2u);
  EXPECT_EQ(predictions[0].best_class, 1);
  EXPECT_EQ(predictions[1].best_class, 0);
  ASSERT_EQ(predictions[0].scores.size(), 3u);
  EXPECT_FLOAT_EQ(predictions[0].scores[2], 1.0f);
}

TEST(ClassPredictionTest, ProbabilitiesSumToOne) {
  const torch::Tensor scores = torch::tensor({{-3.0f, -1.0f, -2.0f, -10.0f}});
  const std::vector<ClassPrediction> predictions = ToClassPredictions(scores);
  ASSERT_EQ(predictions.size(), 1u);
  float sum = 0.0f;
  for (float p : predictions[0].probabilities) sum += p;
  EXPECT_NEAR(sum, 1.0f, 1e-6);
  EXPECT_FLOAT_EQ(predictions[0].confidence, predictions[0].probabilities[1]);
}

TEST(ClassPredictionTest, UniformScoresGiveUniformConfidence) {
  const std::vector<ClassPrediction> predictions =
      ToClassPredictions(torch::zeros({1, 4}));
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_FLOAT_EQ(predictions[0].confidence, 0.25f);
}

TEST(ClassPredictionTest, TemperatureSoftensProbabilitiesNotScores) {
  // Scores [0, ln 3]: probabilities 1/4, 3/4 at temperature 1; at
  // temperature 2 they are softmax([0, ln 3 / 2]) = 1/(1+sqrt 3), ...
  const torch::Tensor scores = torch::tensor({{0.0f, std::log(3.0f)}});
  const ClassPrediction sharp = ToClassPredictions(scores, 1.0)[0];
  const ClassPrediction soft = ToClassPredictions(scores, 2.0)[0];
  EXPECT_NEAR(sharp.confidence, 0.75f, 1e-6);
  EXPECT_NEAR(soft.confidence, std::sqrt(3.0f) / (1.0f + std::sqrt(3.0f)),
              1e-6);
  EXPECT_EQ(soft.best_class, 1);
  EXPECT_EQ(soft.scores, sharp.scores);
}

TEST(ClassPredictionTest, MatchesLibTorchSoftmax) {
  torch::manual_seed(7);
  const torch::Tensor scores = torch::randn({6, 9}) * 20.0;
  const torch::Tensor expected = torch::softmax(scores / 1.7, /*dim=*/1);
  const std::vector<ClassPrediction> predictions =
      ToClassPredictions(scores, 1.7);
  ASSERT_EQ(predictions.size(), 6u);
  for (int64_t q = 0; q < 6; ++q) {
    ASSERT_EQ(predictions[q].probabilities.size(), 9u);
    for (int64_t c = 0; c < 9; ++c) {
      EXPECT_NEAR(predictions[q].probabilities[c], expected[q][c].item<float>(),
                  1e-6)
          << "query " << q << " class " << c;
    }
    EXPECT_EQ(predictions[q].best_class, scores[q].argmax().item<int64_t>());
  }
}

TEST(ClassPredictionTest, LargeScoresDoNotOverflow) {
  const ClassPrediction prediction = ToClassPredictions(
      torch::tensor({{1000.0f, 1000.0f + std::log(3.0f)}}), 1.0)[0];
  EXPECT_NEAR(prediction.confidence, 0.75f, 1e-4);
  EXPECT_EQ(prediction.best_class, 1);
}

}  // namespace
}  // namespace fewshot::core
