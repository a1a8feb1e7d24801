// Tests the data set invariants and its binary cache.
#include "core/data/image_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/core/synthetic_dataset.h"

namespace fewshot::core {
namespace {

using ::fewshot::testing::MakeTracedDataset;

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          (name + "_" + std::to_string(::getpid()) + ".bin"))
      .string();
}

TEST(ImageDatasetTest, CacheRoundTrip) {
  const ImageDataset dataset = MakeTracedDataset(5, 3);
  const std::string path = TempPath("roundtrip");
  ASSERT_TRUE(SaveDatasetCache(dataset, path, "fp1").ok());

  absl::StatusOr<ImageDataset> loaded = LoadDatasetCache(path, "fp1");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(torch::equal(loaded->images, dataset.images));
  EXPECT_EQ(loaded->class_begin, dataset.class_begin);
  EXPECT_EQ(loaded->class_names, dataset.class_names);
  std::filesystem::remove(path);
}

TEST(ImageDatasetTest, CacheWithOtherFingerprintIsRefused) {
  const std::string path = TempPath("fingerprint");
  ASSERT_TRUE(SaveDatasetCache(MakeTracedDataset(2, 2), path, "old").ok());
  EXPECT_EQ(LoadDatasetCache(path, "new").status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove(path);
}

TEST(ImageDatasetTest, TruncatedCacheIsRefused) {
  const std::string path = TempPath("truncated");
  ASSERT_TRUE(SaveDatasetCache(MakeTracedDataset(4, 4), path, "fp").ok());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
  EXPECT_EQ(LoadDatasetCache(path, "fp").status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::filesystem::remove(path);
}

TEST(ImageDatasetTest, ConcurrentWritersOfOneCacheAllSucceed) {
  // Workers training side by side build the same cache at once; a few
  // rounds of 8 writers make their writes overlap.
  const ImageDataset dataset = MakeTracedDataset(100, 20);
  const std::string path = TempPath("concurrent");
  for (int round = 0; round < 5; ++round) {
    std::vector<absl::Status> results(8);
    std::vector<std::thread> writers;
    for (absl::Status& result : results) {
      writers.emplace_back(
          [&] { result = SaveDatasetCache(dataset, path, "fp"); });
    }
    for (std::thread& writer : writers) writer.join();
    for (const absl::Status& result : results) {
      EXPECT_TRUE(result.ok()) << result;
    }
  }

  absl::StatusOr<ImageDataset> loaded = LoadDatasetCache(path, "fp");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(torch::equal(loaded->images, dataset.images));
  const std::filesystem::path folder =
      std::filesystem::path(path).parent_path();
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos)
        << "left behind: " << entry.path();
  }
  std::filesystem::remove(path);
}

TEST(ImageDatasetTest, MissingCacheIsNotFound) {
  EXPECT_EQ(LoadDatasetCache(TempPath("missing"), "fp").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ImageDatasetTest, ValidateFindsBrokenIndex) {
  ImageDataset dataset = MakeTracedDataset(3, 2);
  EXPECT_TRUE(ValidateDataset(dataset).ok());
  dataset.class_begin[1] = 0;  // Class 0 now has no images.
  EXPECT_EQ(ValidateDataset(dataset).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
