// Tests incremental edits of a Prototypical Networks state against
// hand-computed prototypes and against building from scratch.
#include "core/adapt/adaptation_edits.h"

#include <gtest/gtest.h>

#include "core/adapt/prototypical.h"

namespace fewshot::core {
namespace {

// cat: (0,0), (2,4) -> prototype (1,2); dog: (10,10) -> (10,10).
AdaptationState CatDogState() {
  AdaptationState state;
  state.labels = {"cat", "dog"};
  state.support_embeddings =
      torch::tensor({{0.0f, 0.0f}, {2.0f, 4.0f}, {10.0f, 10.0f}});
  state.support_labels = torch::tensor({0, 0, 1}, torch::kInt64);
  StampNewState(/*now_unix_ms=*/1000, &state);
  return state;
}

// The prototypes of `state` as built from all its rows at once.
torch::Tensor FromScratch(const AdaptationState& state) {
  return ComputePrototypes(state.support_embeddings, state.support_labels,
                           state.num_classes());
}

TEST(AdaptationEditsTest, StampGivesRowIdsAndTimes) {
  const AdaptationState state = CatDogState();
  EXPECT_EQ(state.example_ids, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(state.next_example_id, 3);
  EXPECT_EQ(state.created_unix_ms, 1000);
  EXPECT_EQ(state.updated_unix_ms, 1000);
}

TEST(AdaptationEditsTest, AddExamplesUpdatesPrototypesIncrementally) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());

  // cat gains (4,2): mean of (0,0),(2,4),(4,2) = (2,2). owl is new: (5,-5).
  absl::StatusOr<std::vector<int64_t>> ids =
      AddExamples(method, torch::tensor({{4.0f, 2.0f}, {5.0f, -5.0f}}),
                  {"cat", "owl"}, /*max_classes=*/10, 2000, &state);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int64_t>{3, 4}));
  ASSERT_EQ(state.labels, (std::vector<std::string>{"cat", "dog", "owl"}));
  const torch::Tensor expected =
      torch::tensor({{2.0f, 2.0f}, {10.0f, 10.0f}, {5.0f, -5.0f}});
  EXPECT_TRUE(torch::allclose(state.derived.at("prototypes"), expected));
  EXPECT_TRUE(
      torch::allclose(state.derived.at("prototypes"), FromScratch(state)));
  EXPECT_EQ(state.ClassCounts(), (std::vector<int64_t>{3, 1, 1}));
  EXPECT_EQ(state.updated_unix_ms, 2000);
  EXPECT_EQ(state.revision, 1);
}

TEST(AdaptationEditsTest, AddExamplesRefusesTooManyClassesAndKeepsState) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());
  absl::StatusOr<std::vector<int64_t>> ids =
      AddExamples(method, torch::tensor({{1.0f, 1.0f}}), {"owl"},
                  /*max_classes=*/2, 2000, &state);
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(state.num_classes(), 2);
  EXPECT_EQ(state.support_labels.numel(), 3);
}

TEST(AdaptationEditsTest, RemoveExamplesRefitsOnlyThatClass) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());

  // Removing cat's (0,0) (id 0) leaves cat at (2,4).
  ASSERT_TRUE(RemoveExamples(method, {0}, 3000, &state).ok());
  EXPECT_EQ(state.example_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(torch::allclose(state.derived.at("prototypes"),
                              torch::tensor({{2.0f, 4.0f}, {10.0f, 10.0f}})));
  EXPECT_TRUE(
      torch::allclose(state.derived.at("prototypes"), FromScratch(state)));
}

TEST(AdaptationEditsTest, RemoveExamplesRefusesToEmptyAClass) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());
  const absl::Status status = RemoveExamples(method, {2}, 3000, &state);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("dog"), absl::string_view::npos);
  EXPECT_EQ(state.support_labels.numel(), 3);
}

TEST(AdaptationEditsTest, RemoveExamplesRefusesUnknownId) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());
  EXPECT_EQ(RemoveExamples(method, {42}, 3000, &state).code(),
            absl::StatusCode::kNotFound);
}

TEST(AdaptationEditsTest, RemoveClassRenumbersAndDropsPrototype) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());
  ASSERT_TRUE(AddExamples(method, torch::tensor({{5.0f, -5.0f}}), {"owl"}, 10,
                          2000, &state)
                  .ok());

  ASSERT_TRUE(RemoveClass(method, "cat", 3000, &state).ok());
  ASSERT_EQ(state.labels, (std::vector<std::string>{"dog", "owl"}));
  EXPECT_TRUE(
      torch::equal(state.support_labels, torch::tensor({0, 1}, torch::kInt64)));
  EXPECT_EQ(state.example_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(torch::allclose(state.derived.at("prototypes"),
                              torch::tensor({{10.0f, 10.0f}, {5.0f, -5.0f}})));
  EXPECT_TRUE(
      torch::allclose(state.derived.at("prototypes"), FromScratch(state)));
}

TEST(AdaptationEditsTest, RemoveClassKeepsAtLeastTwo) {
  PrototypicalMethod method;
  AdaptationState state = CatDogState();
  ASSERT_TRUE(method.Build(&state).ok());
  EXPECT_EQ(RemoveClass(method, "cat", 3000, &state).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RemoveClass(method, "emu", 3000, &state).code(),
            absl::StatusCode::kNotFound);
}

TEST(AdaptationEditsTest, ManyIncrementalAddsMatchFromScratch) {
  PrototypicalMethod method;
  torch::manual_seed(7);
  AdaptationState state;
  state.labels = {"a", "b"};
  state.support_embeddings = torch::randn({2, 16});
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  StampNewState(0, &state);
  ASSERT_TRUE(method.Build(&state).ok());
  for (int step = 0; step < 20; ++step) {
    const std::string label = std::string(1, static_cast<char>('a' + step % 5));
    ASSERT_TRUE(AddExamples(method, torch::randn({3, 16}), {label, "a", label},
                            10, step, &state)
                    .ok());
  }
  EXPECT_TRUE(torch::allclose(state.derived.at("prototypes"),
                              FromScratch(state), /*rtol=*/1e-5,
                              /*atol=*/1e-5));
}

}  // namespace
}  // namespace fewshot::core
