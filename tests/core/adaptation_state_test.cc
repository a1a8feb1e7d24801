// Tests the counting and sizing helpers of AdaptationState.
#include "core/adapt/adaptation_state.h"

#include <gtest/gtest.h>

namespace fewshot::core {
namespace {

TEST(AdaptationStateTest, CountsExamplesPerClass) {
  AdaptationState state;
  state.labels = {"a", "b", "c"};
  state.support_labels = torch::tensor({0, 2, 2, 0, 2}, torch::kInt64);
  EXPECT_EQ(state.ClassCounts(), (std::vector<int64_t>{2, 0, 3}));
}

TEST(AdaptationStateTest, ByteSizeGrowsWithEmbeddings) {
  AdaptationState small;
  small.labels = {"a", "b"};
  small.support_embeddings = torch::zeros({2, 64});
  small.support_labels = torch::tensor({0, 1}, torch::kInt64);
  AdaptationState large = small;
  large.support_embeddings = torch::zeros({20, 64});
  EXPECT_GE(small.ByteSize(), 2 * 64 * 4);
  EXPECT_EQ(large.ByteSize() - small.ByteSize(), 18 * 64 * 4);
}

}  // namespace
}  // namespace fewshot::core
