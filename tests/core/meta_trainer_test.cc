// Tests meta-training on a tiny synthetic data set: the loss falls,
// checkpoints resume exactly, training can start from earlier weights, and
// bad options are refused; alone and with two data-parallel workers
// (threads with their own c10d process groups over loopback TCP).
#include "core/train/meta_trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include "core/train/gradient_averager.h"

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

// What one data-parallel worker saw and produced.
struct WorkerRun {
  absl::StatusOr<TrainingResult> result = absl::UnknownError("not run");
  std::vector<double> losses;
  int64_t first_episode = -1;
};

// Trains with one worker thread per entry of `options` (rank = index),
// each with its own averager (Gloo over loopback TCP; the threads meet
// through an in-process store).
std::vector<WorkerRun> TrainOnWorkers(const ImageDataset& dataset,
                                      std::vector<MetaTrainerOptions> options) {
  const int world_size = static_cast<int>(options.size());
  const auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<WorkerRun> runs(world_size);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      DistributedOptions distributed;
      distributed.rank = rank;
      distributed.world_size = world_size;
      distributed.rendezvous_timeout = absl::Seconds(30);
      distributed.step_timeout = absl::Seconds(30);
      absl::StatusOr<std::unique_ptr<GradientAverager>> averager =
          GradientAverager::CreateWithStore(distributed, store);
      WorkerRun& run = runs[rank];
      if (!averager.ok()) {
        run.result = averager.status();
        return;
      }
      options[rank].averager = averager->get();
      run.result = MetaTrainer(&dataset, options[rank])
                       .Run([&](const TrainingProgress& p) {
                         if (run.first_episode < 0) {
                           run.first_episode = p.episode;
                         }
                         run.losses.push_back(p.loss);
                       });
    });
  }
  for (std::thread& thread : threads) thread.join();
  return runs;
}

// Expects every parameter and buffer of `a` and `b` to be bit-identical.
void ExpectIdenticalWeights(const Conv4& a, const Conv4& b) {
  const auto b_parameters = b->named_parameters();
  for (const auto& item : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), b_parameters[item.key()]))
        << item.key();
  }
  const auto b_buffers = b->named_buffers();
  for (const auto& item : a->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), b_buffers[item.key()]))
        << item.key();
  }
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

TEST(MetaTrainerTest, StartsFromACopyOfTheInitialEncoder) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  MetaTrainerOptions first = SmallOptions();
  first.episodes = 6;
  absl::StatusOr<TrainingResult> earlier = MetaTrainer(&dataset, first).Run();
  ASSERT_TRUE(earlier.ok()) << earlier.status();
  std::vector<torch::Tensor> before;
  for (const torch::Tensor& p : earlier->encoder->parameters()) {
    before.push_back(p.clone());
  }

  // A step far too small to move the weights: the result is the initial
  // encoder's weights, not the seed's.
  MetaTrainerOptions still = SmallOptions();
  still.seed = 2;
  still.episodes = 1;
  still.learning_rate = 1e-20;
  still.initial_encoder = earlier->encoder;
  absl::StatusOr<TrainingResult> kept = MetaTrainer(&dataset, still).Run();
  ASSERT_TRUE(kept.ok()) << kept.status();
  MetaTrainerOptions fresh_options = still;
  fresh_options.initial_encoder = nullptr;
  absl::StatusOr<TrainingResult> fresh =
      MetaTrainer(&dataset, fresh_options).Run();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  const auto earlier_parameters = earlier->encoder->named_parameters();
  const auto fresh_parameters = fresh->encoder->named_parameters();
  for (const auto& item : kept->encoder->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), earlier_parameters[item.key()],
                                /*rtol=*/0, /*atol=*/1e-12))
        << item.key();
    EXPECT_FALSE(torch::allclose(item.value(), fresh_parameters[item.key()]))
        << item.key();
  }

  // Real training moves the copy, never the initial encoder itself.
  MetaTrainerOptions moving = still;
  moving.learning_rate = 1e-3;
  moving.episodes = 3;
  absl::StatusOr<TrainingResult> moved = MetaTrainer(&dataset, moving).Run();
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(torch::equal(moved->encoder->parameters()[0], before[0]));
  const std::vector<torch::Tensor> after = earlier->encoder->parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(after[i], before[i])) << i;
  }
}

TEST(MetaTrainerTest, RefusesAnInitialEncoderOfAnotherSize) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  MetaTrainerOptions options = SmallOptions();
  options.initial_encoder = Conv4(Conv4Options{.hidden_channels = 16});
  absl::StatusOr<TrainingResult> result = MetaTrainer(&dataset, options).Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("16 channels"), std::string::npos)
      << result.status();
}

TEST(MetaTrainerTest, TwoWorkersKeepIdenticalWeightsAndLearn) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  const MetaTrainerOptions options = SmallOptions();
  std::vector<WorkerRun> runs = TrainOnWorkers(dataset, {options, options});
  ASSERT_EQ(runs.size(), 2u);
  for (const WorkerRun& run : runs) {
    ASSERT_TRUE(run.result.ok()) << run.result.status();
    ASSERT_EQ(run.losses.size(), 30u);
  }
  ExpectIdenticalWeights(runs[0].result->encoder, runs[1].result->encoder);
  EXPECT_EQ(runs[0].losses, runs[1].losses);  // Means over both workers.

  double first = 0, last = 0;
  for (int i = 0; i < 5; ++i) first += runs[0].losses[i];
  for (int i = 25; i < 30; ++i) last += runs[0].losses[i];
  EXPECT_LT(last, first);

  // Had each worker drawn the episodes of a lone run, the averaged
  // gradients would be the lone run's, and so would the weights.
  absl::StatusOr<TrainingResult> alone = MetaTrainer(&dataset, options).Run();
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_FALSE(torch::equal(alone->encoder->parameters()[0],
                            runs[0].result->encoder->parameters()[0]));
}

TEST(MetaTrainerTest, TwoWorkersResumeFromRankZerosCheckpoint) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  MetaTrainerOptions straight = SmallOptions();
  straight.episodes = 12;
  std::vector<WorkerRun> reference =
      TrainOnWorkers(dataset, {straight, straight});
  ASSERT_TRUE(reference[1].result.ok()) << reference[1].result.status();

  // Rank 0 checkpoints at 6; rank 1's folder stays empty, so on resume it
  // must get weights, optimiser state and progress from rank 0.
  MetaTrainerOptions rank0 = straight;
  rank0.checkpoint_dir = TempDir("distributed_resume0");
  rank0.checkpoint_every = 6;
  rank0.episodes = 6;
  MetaTrainerOptions rank1 = rank0;
  rank1.checkpoint_dir = TempDir("distributed_resume1");
  for (const WorkerRun& run : TrainOnWorkers(dataset, {rank0, rank1})) {
    ASSERT_TRUE(run.result.ok()) << run.result.status();
  }
  EXPECT_FALSE(std::filesystem::exists(rank1.checkpoint_dir));
  rank0.episodes = rank1.episodes = 12;
  rank0.resume = rank1.resume = true;
  std::vector<WorkerRun> resumed = TrainOnWorkers(dataset, {rank0, rank1});
  for (const WorkerRun& run : resumed) {
    ASSERT_TRUE(run.result.ok()) << run.result.status();
    EXPECT_EQ(run.first_episode, 7);
  }
  ExpectIdenticalWeights(resumed[0].result->encoder,
                         resumed[1].result->encoder);
  const auto expected = reference[1].result->encoder->named_parameters();
  for (const auto& item : resumed[1].result->encoder->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), expected[item.key()],
                                /*rtol=*/1e-5, /*atol=*/1e-6))
        << item.key();
  }
  std::filesystem::remove_all(rank0.checkpoint_dir);
}

TEST(MetaTrainerTest, WorkersWithDifferentOptionsAllFail) {
  const ImageDataset dataset = MakePatternDataset(10, 8);
  MetaTrainerOptions options = SmallOptions();
  MetaTrainerOptions other = options;
  other.episodes = options.episodes + 1;
  for (const WorkerRun& run : TrainOnWorkers(dataset, {options, other})) {
    EXPECT_EQ(run.result.status().code(), absl::StatusCode::kFailedPrecondition)
        << run.result.status();
  }
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
