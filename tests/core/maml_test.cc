// Tests the Proto-MAML head: its start from the prototypes, one hand-worked
// gradient step, second-order meta-gradients, the method's options and
// that request-time fine-tuning never writes the shared meta-learned head.
#include "core/adapt/maml.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "core/adapt/adaptation_edits.h"

namespace fewshot::core {
namespace {

// Two classes in 2-d: class 0 at the origin, class 1 at (2, 0).
torch::Tensor TwoPoints() {
  return torch::tensor({{0.0f, 0.0f}, {2.0f, 0.0f}});
}
torch::Tensor TwoLabels() { return torch::tensor({0, 1}, torch::kInt64); }

MamlHead IdentityHead(int64_t size, int64_t schedule, double step_size) {
  return InitialMamlHead(size, schedule, step_size);
}

MethodSpec Spec(int steps) {
  MethodSpec spec{.name = "maml"};
  spec.hyperparameters["steps"] = steps;
  return spec;
}

AdaptationState TwoClassState() {
  AdaptationState state;
  state.method = "maml";
  state.labels = {"a", "b"};
  state.support_embeddings = TwoPoints();
  state.support_labels = TwoLabels();
  StampNewState(0, &state);
  return state;
}

TEST(MamlTest, ZeroStepsScoreLikePrototypes) {
  torch::AutoGradMode grad(true);
  const LinearHead head =
      FineTuneLinearHead(TwoPoints(), TwoLabels(), 2, torch::zeros({0}), false);
  // weight = 2p, bias = -|p|^2.
  EXPECT_TRUE(torch::allclose(head.weight,
                              torch::tensor({{0.0f, 0.0f}, {4.0f, 0.0f}})));
  EXPECT_TRUE(torch::allclose(head.bias, torch::tensor({0.0f, -4.0f})));
}

TEST(MamlTest, OneStepMatchesTheHandWorkedGradient) {
  torch::AutoGradMode grad(true);
  const LinearHead head = FineTuneLinearHead(TwoPoints(), TwoLabels(), 2,
                                             torch::tensor({1.0f}), false);
  // Logits: row 0 [0, -4], row 1 [0, 4]. Only row 1 (x = (2, 0)) moves the
  // weights: d loss / d logits = (p - y) / 2 with p1 = softmax([0, 4]).
  const double wrong = 1.0 / (1.0 + std::exp(4.0));  // p(class 0 | row 1)
  const float shift = static_cast<float>(wrong / 2.0 * 2.0);
  EXPECT_TRUE(torch::allclose(
      head.weight, torch::tensor({{-shift, 0.0f}, {4.0f + shift, 0.0f}}), 1e-5,
      1e-6))
      << head.weight;
  // The bias gradients of the two rows cancel.
  EXPECT_TRUE(
      torch::allclose(head.bias, torch::tensor({0.0f, -4.0f}), 1e-5, 1e-6))
      << head.bias;
}

TEST(MamlTest, StepSizesUseTheScheduleOrTheRequestedRate) {
  MamlHead head = IdentityHead(2, 2, 0.5);
  head.log_step_sizes = torch::tensor({std::log(0.5f), std::log(0.25f)});
  EXPECT_TRUE(torch::allclose(MamlStepSizes(head, 4, 0.0),
                              torch::tensor({0.5f, 0.25f, 0.25f, 0.25f})));
  EXPECT_TRUE(torch::allclose(MamlStepSizes(head, 3, 0.1),
                              torch::tensor({0.1f, 0.1f, 0.1f})));
}

// The meta-gradient through the inner steps agrees with finite differences
// of the query loss, which a first-order approximation would not.
TEST(MamlTest, MetaGradientIsSecondOrder) {
  torch::manual_seed(5);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor support = torch::randn({6, 3}, options);
  const torch::Tensor labels = torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64);
  const torch::Tensor query = torch::randn({4, 3}, options);
  const torch::Tensor query_labels = torch::tensor({0, 1, 2, 1}, torch::kInt64);
  MamlHead head;
  head.projection_weight =
      (torch::eye(3, options) + 0.3 * torch::randn({3, 3}, options))
          .requires_grad_(true);
  head.projection_bias = torch::zeros({3}, options).requires_grad_(true);
  head.log_step_sizes =
      torch::full({3}, std::log(0.5), options).requires_grad_(true);

  auto query_loss = [&](bool create_graph) {
    const LinearHead tuned =
        FineTuneLinearHead(ProjectMaml(head, support), labels, 3,
                           MamlStepSizes(head, 3, 0.0), create_graph);
    return torch::cross_entropy_loss(
        torch::addmm(tuned.bias, ProjectMaml(head, query), tuned.weight.t()),
        query_labels);
  };
  const torch::Tensor loss = query_loss(true);
  const std::vector<torch::Tensor> grads = torch::autograd::grad(
      {loss}, {head.projection_weight, head.log_step_sizes});

  const double epsilon = 1e-6;
  auto numeric = [&](torch::Tensor& parameter, int64_t index) {
    torch::NoGradGuard no_grad;
    const double saved = parameter.view(-1)[index].item<double>();
    parameter.view(-1)[index] = saved + epsilon;
    double plus, minus;
    {
      torch::AutoGradMode enable(true);
      plus = query_loss(true).item<double>();
    }
    parameter.view(-1)[index] = saved - epsilon;
    {
      torch::AutoGradMode enable(true);
      minus = query_loss(true).item<double>();
    }
    parameter.view(-1)[index] = saved;
    return (plus - minus) / (2 * epsilon);
  };
  for (int64_t i : {0, 4, 7}) {
    EXPECT_NEAR(grads[0].view(-1)[i].item<double>(),
                numeric(head.projection_weight, i), 1e-5)
        << "projection weight " << i;
  }
  for (int64_t i : {0, 2}) {
    EXPECT_NEAR(grads[1][i].item<double>(), numeric(head.log_step_sizes, i),
                1e-5)
        << "log step size " << i;
  }
  EXPECT_GT(grads[1].abs().sum().item<double>(), 0.0);
}

TEST(MamlTest, OptionsOutsideTheBoundsNameTheBound) {
  EXPECT_TRUE(ValidateMamlOptions(
                  {.steps = kMaxMamlSteps, .step_size = kMaxMamlStepSize})
                  .ok());
  const absl::Status steps = ValidateMamlOptions({.steps = kMaxMamlSteps + 1});
  EXPECT_EQ(steps.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(steps.message().find("[0, 100]"), std::string::npos) << steps;
  EXPECT_FALSE(ValidateMamlOptions({.steps = -1}).ok());
  EXPECT_FALSE(ValidateMamlOptions({.step_size = -0.5}).ok());
  EXPECT_FALSE(ValidateMamlOptions({.step_size = std::nan("")}).ok());
}

TEST(MamlTest, BuildScoresQueriesWithTheFineTunedHead) {
  absl::StatusOr<std::unique_ptr<MamlMethod>> method = MamlMethod::Create(
      MamlHeadToParameters(IdentityHead(2, 1, 1.0)), Spec(1));
  ASSERT_TRUE(method.ok()) << method.status();
  AdaptationState state = TwoClassState();
  ASSERT_TRUE((*method)->Build(&state).ok());
  EXPECT_EQ(state.derived.at("maml.steps").item<int64_t>(), 1);

  absl::StatusOr<torch::Tensor> scores =
      (*method)->Score(state, torch::tensor({{1.5f, 0.0f}, {0.2f, 0.0f}}));
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_TRUE(
      torch::equal(scores->argmax(1), torch::tensor({1, 0}, torch::kInt64)));
  // One unit step, as worked by hand above.
  const float shift = static_cast<float>(1.0 / (1.0 + std::exp(4.0)));
  const torch::Tensor expected =
      torch::tensor({{-shift * 1.5f, (4.0f + shift) * 1.5f - 4.0f},
                     {-shift * 0.2f, (4.0f + shift) * 0.2f - 4.0f}});
  EXPECT_TRUE(torch::allclose(*scores, expected, 1e-5, 1e-5)) << *scores;
}

TEST(MamlTest, RequestOptionsAreKeptAndReusedByEdits) {
  absl::StatusOr<std::unique_ptr<MamlMethod>> method = MamlMethod::Create(
      MamlHeadToParameters(IdentityHead(2, 1, 0.01)), Spec(3));
  ASSERT_TRUE(method.ok());
  AdaptationState state = TwoClassState();
  SetMamlOptions({.steps = 7, .step_size = 0.5}, &state);
  ASSERT_TRUE((*method)->Build(&state).ok());
  EXPECT_EQ(state.derived.at("maml.steps").item<int64_t>(), 7);

  // Adding a class re-runs the same fine-tuning from scratch.
  AdaptationState extended = state;
  ASSERT_TRUE(AddExamples(**method, torch::tensor({{0.0f, 3.0f}}), {"c"}, 10, 1,
                          &extended)
                  .ok());
  AdaptationState fresh;
  fresh.labels = extended.labels;
  fresh.support_embeddings = extended.support_embeddings;
  fresh.support_labels = extended.support_labels;
  SetMamlOptions({.steps = 7, .step_size = 0.5}, &fresh);
  ASSERT_TRUE((*method)->Build(&fresh).ok());
  EXPECT_TRUE(torch::equal(extended.derived.at("maml.weight"),
                           fresh.derived.at("maml.weight")));

  // Dropping it returns to the two-class head.
  ASSERT_TRUE(RemoveClass(**method, "c", 2, &extended).ok());
  EXPECT_TRUE(torch::equal(extended.derived.at("maml.weight"),
                           state.derived.at("maml.weight")));
}

TEST(MamlTest, BadHeadsAreRefused) {
  HeadParameters missing = MamlHeadToParameters(IdentityHead(2, 1, 0.1));
  missing.erase("log_step_sizes");
  EXPECT_EQ(MamlMethod::Create(missing, Spec(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  HeadParameters wrong = MamlHeadToParameters(IdentityHead(2, 1, 0.1));
  wrong["projection.bias"] = torch::zeros({3});
  EXPECT_EQ(MamlMethod::Create(wrong, Spec(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      MamlMethod::Create(MamlHeadToParameters(IdentityHead(2, 1, 0.1)), Spec(0))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(MamlTest, InconsistentStatesAreRefusedNotScored) {
  absl::StatusOr<std::unique_ptr<MamlMethod>> method = MamlMethod::Create(
      MamlHeadToParameters(IdentityHead(2, 1, 0.1)), Spec(1));
  ASSERT_TRUE(method.ok());
  AdaptationState state = TwoClassState();
  EXPECT_EQ((*method)->Score(state, torch::zeros({1, 2})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*method)->Build(&state).ok());
  state.labels.push_back("c");  // A class the head was not tuned for.
  EXPECT_EQ((*method)->Score(state, torch::zeros({1, 2})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  state.labels.pop_back();
  state.derived["maml.steps"] = torch::zeros({3}, torch::kInt64);
  EXPECT_FALSE((*method)->Build(&state).ok());
}

// Many adaptations, some concurrent, leave the shared meta-learned tensors
// bit-identical: every adaptation fine-tunes its own copy.
TEST(MamlTest, SharedHeadStaysBitIdenticalUnderConcurrentAdaptations) {
  torch::manual_seed(11);
  MamlHead initial = IdentityHead(8, 3, 0.3);
  initial.projection_weight += 0.1 * torch::randn({8, 8});
  const HeadParameters parameters = MamlHeadToParameters(initial);
  HeadParameters copies;
  for (const auto& [name, tensor] : parameters) copies[name] = tensor.clone();
  absl::StatusOr<std::unique_ptr<MamlMethod>> method =
      MamlMethod::Create(parameters, Spec(5));
  ASSERT_TRUE(method.ok());

  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        AdaptationState state;
        state.labels = {"x", "y", "z"};
        state.support_embeddings = torch::randn({9, 8}) * (t + 1);
        state.support_labels =
            torch::tensor({0, 0, 0, 1, 1, 1, 2, 2, 2}, torch::kInt64);
        SetMamlOptions({.steps = 1 + (i % 7), .step_size = 0.1 * (t % 2)},
                       &state);
        if (!(*method)->Build(&state).ok() ||
            !(*method)->Score(state, torch::randn({3, 8})).ok()) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  const HeadParameters after = MamlHeadToParameters((*method)->head());
  for (const auto& [name, tensor] : copies) {
    const torch::Tensor now = after.at(name).contiguous();
    ASSERT_EQ(now.sizes(), tensor.sizes()) << name;
    EXPECT_EQ(std::memcmp(now.data_ptr(), tensor.data_ptr(),
                          tensor.numel() * tensor.element_size()),
              0)
        << name;
    EXPECT_FALSE(now.requires_grad()) << name;
  }
}

}  // namespace
}  // namespace fewshot::core
