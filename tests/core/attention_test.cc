// Tests the attention method's math on hand-checkable 2-d cases, its set
// context, and that edits agree with building from scratch.
#include "core/adapt/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/adapt/adaptation_edits.h"

namespace fewshot::core {
namespace {

// Identity projections, no context, scale 1.
AttentionHead PlainHead() {
  AttentionHead head;
  head.query_weight = torch::eye(2);
  head.key_weight = torch::eye(2);
  head.context_weight = torch::zeros({2, 2});
  head.log_scale = torch::zeros({1});
  return head;
}

TEST(AttentionTest, ScoresAreTheLogOfEachClassAttentionMass) {
  AttentionHead head = PlainHead();
  head.log_scale = torch::full({1}, std::log(2.0f));
  const torch::Tensor support = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor labels = torch::tensor({0, 1}, torch::kInt64);
  const torch::Tensor keys = AttentionKeys(head, support);
  EXPECT_TRUE(torch::allclose(keys, support));

  // Query (3, 0): cosine similarities [1, 0], times the scale 2.
  const torch::Tensor scores =
      AttentionScores(head, keys, labels, 2, torch::tensor({{3.0f, 0.0f}}));
  const double total = std::exp(2.0) + 1.0;
  EXPECT_NEAR(scores[0][0].item<double>(), std::log(std::exp(2.0) / total),
              1e-5);
  EXPECT_NEAR(scores[0][1].item<double>(), std::log(1.0 / total), 1e-5);
}

TEST(AttentionTest, ClassMassSumsOverItsRows) {
  const AttentionHead head = PlainHead();
  const torch::Tensor support =
      torch::tensor({{1.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}});
  const torch::Tensor labels = torch::tensor({0, 0, 1}, torch::kInt64);
  // A query at (1, 1) is as similar to every row, so it attends equally
  // to all three.
  const torch::Tensor scores = AttentionScores(
      head, AttentionKeys(head, support), labels, 2, torch::ones({1, 2}));
  EXPECT_NEAR(scores[0][0].item<double>(), std::log(2.0 / 3.0), 1e-6);
  EXPECT_NEAR(scores[0][1].item<double>(), std::log(1.0 / 3.0), 1e-6);
  // The softmax of the scores is the mass itself.
  EXPECT_TRUE(torch::allclose(torch::softmax(scores, 1),
                              torch::tensor({{2.0f / 3, 1.0f / 3}})));
}

TEST(AttentionTest, ContextMixesTheSupportSetIntoEveryKey) {
  AttentionHead head = PlainHead();
  head.context_weight = torch::eye(2);
  const torch::Tensor support = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  // Self-attention logits k_i . k_j / sqrt(2): 1/sqrt(2) on the diagonal,
  // 0 off it; each key gains its attention-weighted mix of both keys.
  const double self = std::exp(1.0 / std::sqrt(2.0));
  const float a = static_cast<float>(self / (self + 1.0));
  const float b = 1.0f - a;
  const torch::Tensor expected = torch::tensor({{1.0f + a, b}, {b, 1.0f + a}});
  EXPECT_TRUE(
      torch::allclose(AttentionKeys(head, support), expected, 1e-5, 1e-6));
}

TEST(AttentionTest, MethodEditsMatchAFreshBuild) {
  torch::manual_seed(2);
  absl::StatusOr<std::unique_ptr<AttentionMethod>> method =
      AttentionMethod::Create(
          AttentionHeadToParameters(InitialAttentionHead(4, 3)),
          MethodSpec{.name = "attention", .temperature = 0.5});
  ASSERT_TRUE(method.ok()) << method.status();
  EXPECT_DOUBLE_EQ((*method)->temperatures().At(3), 0.5);

  AdaptationState state;
  state.labels = {"a", "b"};
  state.support_embeddings = torch::randn({4, 4});
  state.support_labels = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  StampNewState(0, &state);
  ASSERT_TRUE((*method)->Build(&state).ok());
  ASSERT_TRUE(
      AddExamples(**method, torch::randn({2, 4}), {"c", "a"}, 10, 1, &state)
          .ok());

  AdaptationState fresh;
  fresh.labels = state.labels;
  fresh.support_embeddings = state.support_embeddings;
  fresh.support_labels = state.support_labels;
  ASSERT_TRUE((*method)->Build(&fresh).ok());
  const torch::Tensor queries = torch::randn({5, 4});
  absl::StatusOr<torch::Tensor> edited = (*method)->Score(state, queries);
  absl::StatusOr<torch::Tensor> built = (*method)->Score(fresh, queries);
  ASSERT_TRUE(edited.ok() && built.ok());
  EXPECT_EQ(edited->sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_TRUE(torch::allclose(*edited, *built));
  EXPECT_TRUE(
      torch::allclose(torch::softmax(*edited, 1).sum(1), torch::ones({5})));
}

TEST(AttentionTest, BadInputsAreRefused) {
  absl::StatusOr<std::unique_ptr<AttentionMethod>> method =
      AttentionMethod::Create(AttentionHeadToParameters(PlainHead()),
                              MethodSpec{.name = "attention"});
  ASSERT_TRUE(method.ok());
  AdaptationState state;
  state.labels = {"a", "b"};
  state.support_embeddings = torch::zeros({2, 3});
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  EXPECT_EQ((*method)->Build(&state).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*method)->Score(state, torch::zeros({1, 2})).status().code(),
            absl::StatusCode::kFailedPrecondition);

  HeadParameters wrong = AttentionHeadToParameters(PlainHead());
  wrong["context.weight"] = torch::zeros({3, 3});
  EXPECT_EQ(AttentionMethod::Create(wrong, MethodSpec{.name = "attention"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
