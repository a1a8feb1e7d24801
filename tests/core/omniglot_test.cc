// Tests loading the real Omniglot archives and the decoded cache.
#include "core/data/omniglot.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/core/omniglot_test_options.h"

namespace fewshot::core {
namespace {

using ::fewshot::testing::TestOmniglotOptions;

TEST(OmniglotTest, BackgroundSplitHasItsCharacters) {
  absl::StatusOr<ImageDataset> dataset =
      LoadOmniglot(OmniglotSplit::kBackground, TestOmniglotOptions());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->num_classes(), 964);
  EXPECT_EQ(dataset->num_images(), 19280);
  EXPECT_EQ(dataset->images.sizes().vec(),
            (std::vector<int64_t>{19280, 28, 28}));
  for (int c = 0; c < dataset->num_classes(); ++c) {
    ASSERT_EQ(dataset->class_size(c), 20) << dataset->class_names[c];
  }
}

TEST(OmniglotTest, EvaluationSplitSharesNoAlphabetWithBackground) {
  absl::StatusOr<ImageDataset> background =
      LoadOmniglot(OmniglotSplit::kBackground, TestOmniglotOptions());
  absl::StatusOr<ImageDataset> evaluation =
      LoadOmniglot(OmniglotSplit::kEvaluation, TestOmniglotOptions());
  ASSERT_TRUE(background.ok()) << background.status();
  ASSERT_TRUE(evaluation.ok()) << evaluation.status();
  EXPECT_EQ(evaluation->num_classes(), 659);

  auto alphabets = [](const ImageDataset& dataset) {
    std::set<std::string> names;
    for (const std::string& name : dataset.class_names) {
      names.insert(name.substr(0, name.find('/')));
    }
    return names;
  };
  const std::set<std::string> train = alphabets(*background);
  const std::set<std::string> test = alphabets(*evaluation);
  EXPECT_EQ(train.size(), 30u);
  EXPECT_EQ(test.size(), 20u);
  for (const std::string& alphabet : test) {
    EXPECT_EQ(train.count(alphabet), 0u) << alphabet;
  }
}

TEST(OmniglotTest, InkIsHighAndPaperIsLow) {
  absl::StatusOr<ImageDataset> dataset =
      LoadOmniglot(OmniglotSplit::kEvaluation, TestOmniglotOptions());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  // Strokes cover a small part of each drawing: after inversion most
  // pixels are near 0 and the brightest are near 255.
  const torch::Tensor first = dataset->images[0].to(torch::kFloat32);
  EXPECT_LT(first.mean().item<float>(), 64.0f);
  EXPECT_GT(first.max().item<float>(), 200.0f);
}

TEST(OmniglotTest, CacheGivesTheSameData) {
  OmniglotOptions cached = TestOmniglotOptions();
  OmniglotOptions uncached = TestOmniglotOptions();
  uncached.cache_dir.clear();
  absl::StatusOr<ImageDataset> from_cache =
      LoadOmniglot(OmniglotSplit::kEvaluation, cached);
  absl::StatusOr<ImageDataset> from_zip =
      LoadOmniglot(OmniglotSplit::kEvaluation, uncached);
  ASSERT_TRUE(from_cache.ok()) << from_cache.status();
  ASSERT_TRUE(from_zip.ok()) << from_zip.status();
  EXPECT_TRUE(torch::equal(from_cache->images, from_zip->images));
  EXPECT_EQ(from_cache->class_names, from_zip->class_names);
}

TEST(OmniglotTest, MissingFolderIsNotFoundWithAHint) {
  OmniglotOptions options = TestOmniglotOptions();
  options.data_dir = "/nonexistent/omniglot";
  absl::StatusOr<ImageDataset> dataset =
      LoadOmniglot(OmniglotSplit::kBackground, options);
  EXPECT_EQ(dataset.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(dataset.status().message().find(kOmniglotDirEnv),
            std::string::npos);
}

}  // namespace
}  // namespace fewshot::core
