// Tests that the optimized encoder (batch norm folded, oneDNN) gives the
// eager network's embeddings, on random and on real character images, and
// that concurrent calls agree with sequential ones.
#include "core/model/encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/bundle/model_bundle.h"
#include "core/data/image_decoder.h"
#include "core/data/preprocessing.h"
#include "tests/test_environment.h"

namespace fewshot::core {
namespace {

// The batch sizes the server sees: one query, a few, a support set, a
// large batch.
const std::vector<int64_t> kBatchSizes = {1, 7, 25, 100};

// Allowed difference, relative to the largest eager embedding value.
constexpr double kRelativeTolerance = 1e-4;

// A Conv4 with random weights and random, non-trivial batch-norm affine
// parameters and running statistics, so that folding has work to do.
Conv4 RandomNetwork(uint64_t seed) {
  torch::manual_seed(seed);
  Conv4 network(Conv4Options{});
  torch::NoGradGuard no_grad;
  for (auto& buffer : network->named_buffers()) {
    if (buffer.key().find("running_mean") != std::string::npos) {
      buffer.value().normal_(0.0, 0.5);
    } else if (buffer.key().find("running_var") != std::string::npos) {
      buffer.value().uniform_(0.2, 3.0);
    }
  }
  for (size_t layer = 1; layer < network->body()->size(); layer += 4) {
    auto* norm = network->body()->ptr(layer)->as<torch::nn::BatchNorm2dImpl>();
    norm->weight.uniform_(0.5, 2.0);
    norm->bias.normal_(0.0, 0.3);
  }
  return network;
}

// Reads every PNG under `dir` (recursively), decoded and preprocessed.
std::vector<torch::Tensor> ReadImages(const std::string& dir,
                                      const Preprocessing& preprocessing) {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.path().extension() == ".png") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<torch::Tensor> images;
  for (const std::string& path : paths) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    absl::StatusOr<GrayImage> image = DecodeImage(bytes.str(), ImageLimits{});
    if (image.ok()) images.push_back(ImageToInput(*image, preprocessing));
  }
  return images;
}

// A batch of `size` images cycling through `images`.
torch::Tensor CycleBatch(const std::vector<torch::Tensor>& images,
                         int64_t size) {
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < size; ++i) rows.push_back(images[i % images.size()]);
  return torch::stack(rows);
}

// Checks that both encoders give the same embeddings for `batch`.
void ExpectSameEmbeddings(const Encoder& eager, const Encoder& optimized,
                          const torch::Tensor& batch) {
  absl::StatusOr<torch::Tensor> expected = eager.Embed(batch);
  absl::StatusOr<torch::Tensor> actual = optimized.Embed(batch);
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(actual.ok()) << actual.status();
  ASSERT_EQ(actual->sizes(), expected->sizes());
  const double scale = expected->abs().max().item<double>();
  ASSERT_GT(scale, 0.0);
  const double difference = (*actual - *expected).abs().max().item<double>();
  EXPECT_LE(difference, kRelativeTolerance * scale)
      << "batch " << batch.size(0) << ", embedding scale " << scale;
}

TEST(EncoderTest, OptimizedIsTheDefault) {
  Encoder optimized(RandomNetwork(1), Preprocessing{});
  Encoder eager(RandomNetwork(1), Preprocessing{}, {.optimize = false});
  EXPECT_TRUE(optimized.optimized());
  EXPECT_FALSE(eager.optimized());
}

TEST(EncoderTest, OptimizedMatchesEagerOnRandomInputs) {
  const Conv4 network = RandomNetwork(2);
  Encoder eager(network, Preprocessing{}, {.optimize = false});
  Encoder optimized(network, Preprocessing{}, {.optimize = true});
  ASSERT_TRUE(optimized.optimized());
  for (int64_t size : kBatchSizes) {
    ExpectSameEmbeddings(eager, optimized, torch::randn({size, 1, 28, 28}));
  }
}

TEST(EncoderTest, OptimizedMatchesEagerOnCharacterImages) {
  const Preprocessing preprocessing;
  const std::vector<torch::Tensor> images =
      ReadImages(fewshot::testing::ExamplesDir() + "/omniglot", preprocessing);
  ASSERT_GE(images.size(), 10u);
  const Conv4 network = RandomNetwork(3);
  Encoder eager(network, preprocessing, {.optimize = false});
  Encoder optimized(network, preprocessing, {.optimize = true});
  for (int64_t size : kBatchSizes) {
    ExpectSameEmbeddings(eager, optimized, CycleBatch(images, size));
  }
}

TEST(EncoderTest, OptimizedMatchesEagerWithBundledWeights) {
  absl::StatusOr<ModelBundle> bundle =
      LoadModelBundle(fewshot::testing::ModelDir());
  if (!bundle.ok()) GTEST_SKIP() << "no model bundle: " << bundle.status();
  const Preprocessing& preprocessing = bundle->metadata.preprocessing;
  const std::vector<torch::Tensor> images =
      ReadImages(fewshot::testing::ExamplesDir() + "/omniglot", preprocessing);
  ASSERT_FALSE(images.empty());
  Encoder eager(bundle->encoder, preprocessing, {.optimize = false});
  Encoder optimized(bundle->encoder, preprocessing, {.optimize = true});
  for (int64_t size : kBatchSizes) {
    ExpectSameEmbeddings(eager, optimized, CycleBatch(images, size));
  }
}

TEST(EncoderTest, OptimizedMatchesEagerOnLargerImages) {
  // 84x76 leaves a 5x4 map per channel, so the flattening order counts.
  Preprocessing preprocessing;
  preprocessing.height = 84;
  preprocessing.width = 76;
  const Conv4 network = RandomNetwork(4);
  Encoder eager(network, preprocessing, {.optimize = false});
  Encoder optimized(network, preprocessing, {.optimize = true});
  ASSERT_EQ(optimized.embedding_size(), 64 * 5 * 4);
  ExpectSameEmbeddings(eager, optimized, torch::rand({3, 1, 84, 76}));
}

TEST(EncoderTest, OptimizedRejectsWrongShape) {
  Encoder optimized(RandomNetwork(5), Preprocessing{});
  absl::StatusOr<torch::Tensor> result =
      optimized.Embed(torch::zeros({2, 1, 32, 32}));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EncoderTest, ConcurrentCallsMatchSequentialOnes) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 10;
  Encoder optimized(RandomNetwork(6), Preprocessing{});

  // One batch per thread, of different sizes, and its sequential result.
  std::vector<torch::Tensor> batches;
  std::vector<torch::Tensor> expected;
  for (int thread = 0; thread < kThreads; ++thread) {
    batches.push_back(torch::randn({kBatchSizes[thread], 1, 28, 28}));
    absl::StatusOr<torch::Tensor> embeddings = optimized.Embed(batches.back());
    ASSERT_TRUE(embeddings.ok()) << embeddings.status();
    expected.push_back(*embeddings);
  }

  // All threads embed their batch at once, several times over.
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int round = 0; round < kRounds; ++round) {
        absl::StatusOr<torch::Tensor> embeddings =
            optimized.Embed(batches[thread]);
        if (!embeddings.ok() ||
            !torch::allclose(*embeddings, expected[thread], /*rtol=*/1e-5,
                             /*atol=*/1e-6)) {
          ++mismatches[thread];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int thread = 0; thread < kThreads; ++thread) {
    EXPECT_EQ(mismatches[thread], 0) << "thread " << thread;
  }
}

}  // namespace
}  // namespace fewshot::core
