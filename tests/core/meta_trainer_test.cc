// Tests meta-training on a tiny synthetic data set: the loss falls,
// checkpoints resume exactly, and bad options are refused.
#include "core/train/meta_trainer.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fewshot::core {
namespace {

// Classes whose images are noisy versions of a class-specific pattern, so
// there is something to learn.
ImageDataset MakePatternDataset(int classes, int per_class) {
  torch::manual_seed(17);
  ImageDataset dataset;
  std::vector<torch::Tensor> images;
  for (int c = 0; c < classes; ++c) {
    const torch::Tensor pattern = torch::rand({1, 28, 28}) * 200;
    const torch::Tensor noise = torch::rand({per_class, 28, 28}) * 55;
    images.push_back((pattern + noise).to(torch::kUInt8));
    dataset.class_names.push_back("c" + std::to_string(c));
    dataset.class_begin.push_back(static_cast<int64_t>(c) * per_class);
  }
  dataset.class_begin.push_back(static_cast<int64_t>(classes) * per_class);
  dataset.images = torch::cat(images);
  return dataset;
}

MetaTrainerOptions SmallOptions() {
  MetaTrainerOptions options;
  options.shape = {.ways = 5, .shots = 2, .queries = 2};
  options.episodes = 30;
  options.lr_step = 1000;
  options.rotations = false;
  options.encoder.hidden_channels = 8;
  return options;
}

std::string TempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) /
      (name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(MetaTrainerTest, LossFallsAndStaysFinite) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  std::vector<double> losses;
  MetaTrainer trainer(&dataset, SmallOptions());
  absl::StatusOr<TrainingResult> result =
      trainer.Run([&](const TrainingProgress& p) { losses.push_back(p.loss); });
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(losses.size(), 30u);
  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += losses[i];
  for (int i = 25; i < 30; ++i) last += losses[i];
  EXPECT_LT(last, first);
  for (double loss : losses) EXPECT_TRUE(std::isfinite(loss));
}

TEST(MetaTrainerTest, ResumeReproducesAnUninterruptedRun) {
  const ImageDataset dataset = MakePatternDataset(10, 8);

  // Straight through.
  MetaTrainerOptions straight = SmallOptions();
  straight.episodes = 12;
  absl::StatusOr<TrainingResult> reference =
      MetaTrainer(&dataset, straight).Run();
  ASSERT_TRUE(reference.ok()) << reference.status();

  // Stop at 6, then resume to 12 from the checkpoint.
  MetaTrainerOptions interrupted = straight;
  interrupted.checkpoint_dir = TempDir("resume");
  interrupted.checkpoint_every = 6;
  interrupted.episodes = 6;
  ASSERT_TRUE(MetaTrainer(&dataset, interrupted).Run().ok());
  interrupted.episodes = 12;
  interrupted.resume = true;
  int64_t first_episode = -1;
  absl::StatusOr<TrainingResult> resumed =
      MetaTrainer(&dataset, interrupted).Run([&](const TrainingProgress& p) {
        if (first_episode < 0) first_episode = p.episode;
      });
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(first_episode, 7);

  const auto expected = reference->encoder->named_parameters();
  for (const auto& item : resumed->encoder->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), expected[item.key()],
                                /*rtol=*/1e-5, /*atol=*/1e-6))
        << item.key();
  }
  std::filesystem::remove_all(interrupted.checkpoint_dir);
}

TEST(MetaTrainerTest, RefusesImpossibleOptions) {
  const ImageDataset dataset = MakePatternDataset(4, 3);
  MetaTrainerOptions options = SmallOptions();
  EXPECT_EQ(MetaTrainer(&dataset, options).Run().status().code(),
            absl::StatusCode::kInvalidArgument);  // 5 ways, 4 classes.
  options.shape = {.ways = 2, .shots = 1, .queries = 1};
  options.learning_rate = 0.0;
  EXPECT_EQ(MetaTrainer(&dataset, options).Run().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MetaTrainerTest, DivergenceIsReported) {
  const ImageDataset dataset = MakePatternDataset(6, 4);
  MetaTrainerOptions options = SmallOptions();
  options.shape = {.ways = 3, .shots = 1, .queries = 1};
  options.learning_rate = 1e30;
  options.episodes = 20;
  absl::StatusOr<TrainingResult> result = MetaTrainer(&dataset, options).Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace fewshot::core
