// Tests head meta-training on small synthetic embeddings: episodes are
// seeded, training improves validation accuracy over the initial head, the
// result carries its bundle entry, and bad options are refused.
#include "core/train/head_trainer.h"

#include <gtest/gtest.h>

#include "core/adapt/attention.h"
#include "core/adapt/maml.h"

namespace fewshot::core {
namespace {

// `classes` classes of `per_class` points in 8-d: a class centre in the
// first 4 dimensions plus much larger noise in the last 4, so a head must
// learn to ignore the noisy half.
EmbeddedClasses Clusters(int classes, int per_class, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor centres = torch::randn({classes, 4});
  std::vector<torch::Tensor> rows;
  EmbeddedClasses data;
  data.class_begin.push_back(0);
  for (int c = 0; c < classes; ++c) {
    const torch::Tensor signal =
        centres[c].unsqueeze(0) + 0.2 * torch::randn({per_class, 4});
    const torch::Tensor noise = 3.0 * torch::randn({per_class, 4});
    rows.push_back(torch::cat({signal, noise}, 1));
    data.class_begin.push_back(data.class_begin.back() + per_class);
  }
  data.embeddings = torch::cat(rows);
  return data;
}

HeadTrainerOptions Options(const std::string& method) {
  HeadTrainerOptions options;
  options.method = method;
  options.shape = {.ways = 5, .shots = 1, .queries = 5};
  options.episodes = 300;
  options.learning_rate = 1e-2;
  options.validation_episodes = 100;
  options.validate_every = 100;
  options.maml_steps = 2;
  options.attention_size = 8;
  return options;
}

class HeadTrainerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HeadTrainerTest, TrainingBeatsTheInitialHead) {
  const EmbeddedClasses train = Clusters(40, 10, 1);
  const EmbeddedClasses validation = Clusters(20, 10, 2);
  const HeadTrainerOptions options = Options(GetParam());
  absl::StatusOr<HeadTrainingResult> result =
      TrainHead(train, &validation, options, nullptr);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->spec.name, GetParam());
  EXPECT_EQ(result->spec.parameters_file, "heads/" + GetParam() + ".pt");
  EXPECT_GT(result->best_episode, 0);

  // Score the kept head and the untrained one on fresh validation episodes.
  torch::manual_seed(options.seed);
  const HeadParameters initial =
      GetParam() == "maml"
          ? MamlHeadToParameters(InitialMamlHead(8, 2, 0.01))
          : AttentionHeadToParameters(InitialAttentionHead(8, 8));
  absl::StatusOr<double> before =
      EvaluateHead(initial, validation, options, 200, 77);
  absl::StatusOr<double> after =
      EvaluateHead(result->head, validation, options, 200, 77);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_GT(*after, *before + 0.05) << *before << " -> " << *after;
}

TEST_P(HeadTrainerTest, SameSeedGivesTheSameHead) {
  const EmbeddedClasses train = Clusters(20, 8, 3);
  HeadTrainerOptions options = Options(GetParam());
  options.episodes = 20;
  absl::StatusOr<HeadTrainingResult> first =
      TrainHead(train, nullptr, options, nullptr);
  absl::StatusOr<HeadTrainingResult> second =
      TrainHead(train, nullptr, options, nullptr);
  ASSERT_TRUE(first.ok() && second.ok());
  for (const auto& [name, tensor] : first->head) {
    EXPECT_TRUE(torch::equal(tensor, second->head.at(name))) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, HeadTrainerTest,
                         ::testing::Values("maml", "attention"));

TEST(HeadTrainerOptionsTest, BadOptionsAreRefused) {
  const EmbeddedClasses train = Clusters(4, 3, 1);
  HeadTrainerOptions options = Options("protonet");
  EXPECT_EQ(TrainHead(train, nullptr, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options("maml");  // 5 ways from 4 classes.
  EXPECT_EQ(TrainHead(train, nullptr, options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
