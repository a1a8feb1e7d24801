// Tests Prototypical Networks math against hand-computed cases.
#include "core/adapt/prototypical.h"

#include <gtest/gtest.h>

#include "core/adapt/class_prediction.h"

namespace fewshot::core {
namespace {

TEST(PrototypicalTest, PrototypesAreClassMeans) {
  const torch::Tensor embeddings =
      torch::tensor({{0.0f, 0.0f}, {2.0f, 4.0f}, {10.0f, 10.0f}});
  const torch::Tensor labels = torch::tensor({0, 0, 1}, torch::kInt64);
  const torch::Tensor prototypes = ComputePrototypes(embeddings, labels, 2);
  EXPECT_TRUE(torch::allclose(prototypes,
                              torch::tensor({{1.0f, 2.0f}, {10.0f, 10.0f}})));
}

TEST(PrototypicalTest, DistancesAreSquaredEuclidean) {
  const torch::Tensor a = torch::tensor({{0.0f, 0.0f}, {1.0f, 1.0f}});
  const torch::Tensor b = torch::tensor({{3.0f, 4.0f}, {1.0f, 1.0f}});
  // (0,0)-(3,4): 9 + 16 = 25; (0,0)-(1,1): 2; (1,1)-(3,4): 4 + 9 = 13.
  EXPECT_TRUE(torch::allclose(SquaredEuclideanDistances(a, b),
                              torch::tensor({{25.0f, 2.0f}, {13.0f, 0.0f}})));
}

TEST(PrototypicalTest, HandComputedEpisode) {
  // Prototypes (1,2) and (10,10); query (2,2) is at distances 1 and 128.
  AdaptationState state;
  state.labels = {"cat", "dog"};
  state.support_embeddings =
      torch::tensor({{0.0f, 0.0f}, {2.0f, 4.0f}, {10.0f, 10.0f}});
  state.support_labels = torch::tensor({0, 0, 1}, torch::kInt64);
  PrototypicalMethod method;
  ASSERT_TRUE(method.Build(&state).ok());

  absl::StatusOr<torch::Tensor> scores =
      method.Score(state, torch::tensor({{2.0f, 2.0f}}));
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_TRUE(torch::allclose(*scores, torch::tensor({{-1.0f, -128.0f}})));

  const std::vector<ClassPrediction> predictions = ToClassPredictions(*scores);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].best_class, 0);
  // softmax([-1, -128])[0] = 1 / (1 + e^-127), which is 1 in float.
  EXPECT_FLOAT_EQ(predictions[0].confidence, 1.0f);
}

TEST(PrototypicalTest, SoftmaxOfCloseDistances) {
  // Distances 1 and 4 -> probabilities e^-1 / (e^-1 + e^-4) = 0.9526.
  AdaptationState state;
  state.labels = {"a", "b"};
  state.support_embeddings = torch::tensor({{0.0f}, {3.0f}});
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  PrototypicalMethod method;
  ASSERT_TRUE(method.Build(&state).ok());
  absl::StatusOr<torch::Tensor> scores =
      method.Score(state, torch::tensor({{1.0f}}));
  ASSERT_TRUE(scores.ok());
  const std::vector<ClassPrediction> predictions = ToClassPredictions(*scores);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].best_class, 0);
  EXPECT_NEAR(predictions[0].confidence, 0.9525741f, 1e-6);
  EXPECT_NEAR(predictions[0].probabilities[1], 0.0474259f, 1e-6);
}

TEST(PrototypicalTest, FewAndManyQueriesScoreAlike) {
  // A few queries are scored by loops, many by matrix products; both must
  // give -|q - p|^2. The few are a non-contiguous view, as a batch's rows.
  torch::manual_seed(3);
  AdaptationState state;
  state.labels = {"a", "b", "c", "d", "e"};
  state.support_embeddings = torch::randn({10, 64});
  state.support_labels =
      torch::tensor({0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, torch::kInt64);
  PrototypicalMethod method;
  ASSERT_TRUE(method.Build(&state).ok());
  const torch::Tensor prototypes = ComputePrototypes(
      state.support_embeddings, state.support_labels, /*num_classes=*/5);

  const torch::Tensor few = torch::randn({64, 3}).t();
  const torch::Tensor many = torch::randn({300, 64});
  for (const torch::Tensor& queries : {few, many}) {
    absl::StatusOr<torch::Tensor> scores = method.Score(state, queries);
    ASSERT_TRUE(scores.ok()) << scores.status();
    const torch::Tensor expected =
        -(queries.unsqueeze(1) - prototypes.unsqueeze(0)).pow(2).sum(2);
    EXPECT_TRUE(torch::allclose(*scores, expected, /*rtol=*/1e-4,
                                /*atol=*/1e-3))
        << "queries " << queries.size(0);
  }
}

TEST(PrototypicalTest, BuildRejectsClassWithoutExamples) {
  AdaptationState state;
  state.labels = {"a", "b", "empty"};
  state.support_embeddings = torch::tensor({{0.0f}, {3.0f}});
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  const absl::Status status = PrototypicalMethod().Build(&state);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(PrototypicalTest, ScoreNeedsBuiltStateAndMatchingWidth) {
  AdaptationState state;
  state.labels = {"a", "b"};
  EXPECT_EQ(
      PrototypicalMethod().Score(state, torch::zeros({1, 2})).status().code(),
      absl::StatusCode::kFailedPrecondition);

  state.support_embeddings = torch::tensor({{0.0f, 1.0f}, {3.0f, 1.0f}});
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  ASSERT_TRUE(PrototypicalMethod().Build(&state).ok());
  EXPECT_EQ(
      PrototypicalMethod().Score(state, torch::zeros({1, 3})).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(PrototypicalTest, GradientsFlowThroughTheLoss) {
  const torch::Tensor embeddings = torch::randn({6, 4}, torch::requires_grad());
  const torch::Tensor labels = torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64);
  const torch::Tensor prototypes = ComputePrototypes(embeddings, labels, 3);
  const torch::Tensor loss = PrototypicalLogits(embeddings, prototypes).sum();
  loss.backward();
  ASSERT_TRUE(embeddings.grad().defined());
  EXPECT_TRUE(torch::isfinite(embeddings.grad()).all().item<bool>());
}

}  // namespace
}  // namespace fewshot::core
