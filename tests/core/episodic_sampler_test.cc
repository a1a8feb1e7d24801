// Tests episode shapes, class counts, disjoint support and query,
// determinism and rotations.
#include "core/data/episodic_sampler.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/core/synthetic_dataset.h"

namespace fewshot::core {
namespace {

using ::fewshot::testing::MakeTracedDataset;

// Preprocessing that keeps byte values: input = byte / 255.
Preprocessing IdentityPreprocessing() { return Preprocessing{}; }

// The traced id (class * per_class + index) of each row of `images`.
std::vector<int> TracedIds(const torch::Tensor& images) {
  std::vector<int> ids;
  for (int64_t i = 0; i < images.size(0); ++i) {
    ids.push_back(static_cast<int>(
        std::lround(images[i][0][0][0].item<float>() * 255.0f)));
  }
  return ids;
}

TEST(EpisodicSamplerTest, ShapesAndLabelsAreClassMajor) {
  const ImageDataset dataset = MakeTracedDataset(10, 20);
  EpisodicSampler sampler(&dataset, {.ways = 5, .shots = 2, .queries = 3},
                          IdentityPreprocessing(), /*seed=*/3);
  ASSERT_TRUE(sampler.Validate().ok());

  const Episode episode = sampler.Sample(0);
  EXPECT_EQ(episode.support.sizes().vec(),
            (std::vector<int64_t>{10, 1, 28, 28}));
  EXPECT_EQ(episode.query.sizes().vec(),
            (std::vector<int64_t>{15, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(
      episode.support_labels,
      torch::tensor({0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(episode.query_labels.bincount(),
                           torch::full({5}, 3, torch::kInt64)));
}

TEST(EpisodicSamplerTest, ClassesAreDistinctAndImagesMatchTheirLabel) {
  const int per_class = 20;
  const ImageDataset dataset = MakeTracedDataset(12, per_class);
  EpisodicSampler sampler(&dataset, {.ways = 6, .shots = 3, .queries = 4},
                          IdentityPreprocessing(), /*seed=*/11);
  for (int64_t index = 0; index < 20; ++index) {
    const Episode episode = sampler.Sample(index);
    ASSERT_EQ(episode.classes.size(), 6u);
    EXPECT_EQ(std::set<int64_t>(episode.classes.begin(),
                                episode.classes.end())
                  .size(),
              6u);

    const std::vector<int> support = TracedIds(episode.support);
    const std::vector<int> query = TracedIds(episode.query);
    for (size_t i = 0; i < support.size(); ++i) {
      const int label = episode.support_labels[i].item<int>();
      EXPECT_EQ(support[i] / per_class, episode.classes[label]);
    }
    for (size_t i = 0; i < query.size(); ++i) {
      const int label = episode.query_labels[i].item<int>();
      EXPECT_EQ(query[i] / per_class, episode.classes[label]);
    }
  }
}

TEST(EpisodicSamplerTest, SupportAndQueryNeverOverlap) {
  const ImageDataset dataset = MakeTracedDataset(8, 20);
  EpisodicSampler sampler(&dataset, {.ways = 4, .shots = 5, .queries = 15},
                          IdentityPreprocessing(), /*seed=*/5);
  for (int64_t index = 0; index < 30; ++index) {
    const Episode episode = sampler.Sample(index);
    const std::vector<int> support = TracedIds(episode.support);
    const std::vector<int> query = TracedIds(episode.query);
    std::set<int> all(support.begin(), support.end());
    all.insert(query.begin(), query.end());
    EXPECT_EQ(all.size(), support.size() + query.size())
        << "episode " << index << " reuses an image";
  }
}

TEST(EpisodicSamplerTest, SameSeedSameEpisodes) {
  const ImageDataset dataset = MakeTracedDataset(10, 20);
  const EpisodeShape shape{.ways = 5, .shots = 1, .queries = 5};
  EpisodicSampler first(&dataset, shape, IdentityPreprocessing(), 42);
  EpisodicSampler second(&dataset, shape, IdentityPreprocessing(), 42);
  for (int64_t index : {0, 1, 17}) {
    EXPECT_TRUE(torch::equal(first.Sample(index).support,
                             second.Sample(index).support));
    EXPECT_TRUE(torch::equal(first.Sample(index).query,
                             second.Sample(index).query));
  }
}

TEST(EpisodicSamplerTest, DifferentSeedsOrIndicesDiffer) {
  const ImageDataset dataset = MakeTracedDataset(30, 20);
  const EpisodeShape shape{.ways = 5, .shots = 1, .queries = 5};
  EpisodicSampler first(&dataset, shape, IdentityPreprocessing(), 1);
  EpisodicSampler second(&dataset, shape, IdentityPreprocessing(), 2);
  EXPECT_FALSE(torch::equal(first.Sample(0).query, second.Sample(0).query));
  EXPECT_FALSE(torch::equal(first.Sample(0).query, first.Sample(1).query));
}

TEST(EpisodicSamplerTest, RotationsQuadrupleClassesAndRotateImages) {
  ImageDataset dataset = MakeTracedDataset(3, 4, /*size=*/2);
  // Make images asymmetric: mark the top-left pixel.
  dataset.images.select(1, 0).select(1, 0).fill_(255);
  SamplerOptions options;
  options.rotations = true;
  EpisodicSampler sampler(&dataset, {.ways = 12, .shots = 1, .queries = 1},
                          IdentityPreprocessing(), 9, options);
  ASSERT_TRUE(sampler.Validate().ok());
  EXPECT_EQ(sampler.num_virtual_classes(), 12);

  const Episode episode = sampler.Sample(0);
  for (int i = 0; i < 12; ++i) {
    const int quarter_turns = static_cast<int>(episode.classes[i] % 4);
    const torch::Tensor marked =
        episode.support[i][0].eq(1.0f).nonzero().squeeze(0);
    // rot90 counter-clockwise moves the top-left corner to the bottom-left,
    // then bottom-right, then top-right.
    const std::vector<std::vector<int64_t>> corner = {
        {0, 0}, {1, 0}, {1, 1}, {0, 1}};
    EXPECT_TRUE(torch::equal(marked, torch::tensor(corner[quarter_turns])))
        << "class " << episode.classes[i];
  }
}

TEST(EpisodicSamplerTest, WithinGroupDrawsFromOneGroup) {
  const ImageDataset dataset = MakeTracedDataset(12, 20);
  SamplerOptions options;
  options.within_group = true;
  options.class_group = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2};
  EpisodicSampler sampler(&dataset, {.ways = 4, .shots = 1, .queries = 1},
                          IdentityPreprocessing(), 4, options);
  ASSERT_TRUE(sampler.Validate().ok());
  for (int64_t index = 0; index < 20; ++index) {
    const Episode episode = sampler.Sample(index);
    std::set<int> groups;
    for (int64_t c : episode.classes) groups.insert(options.class_group[c]);
    EXPECT_EQ(groups.size(), 1u);
    EXPECT_NE(*groups.begin(), 2) << "group 2 has too few classes";
  }
}

TEST(EpisodicSamplerTest, ValidateRejectsImpossibleShapes) {
  const ImageDataset dataset = MakeTracedDataset(4, 6);
  EXPECT_EQ(EpisodicSampler(&dataset, {.ways = 5, .shots = 1, .queries = 1},
                            IdentityPreprocessing(), 1)
                .Validate()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EpisodicSampler(&dataset, {.ways = 2, .shots = 5, .queries = 5},
                            IdentityPreprocessing(), 1)
                .Validate()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EpisodicSampler(&dataset, {.ways = 1, .shots = 1, .queries = 1},
                            IdentityPreprocessing(), 1)
                .Validate()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
