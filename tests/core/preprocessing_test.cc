// Tests resizing, inversion and normalisation.
#include "core/data/preprocessing.h"

#include <gtest/gtest.h>

namespace fewshot::core {
namespace {

GrayImage MakeImage(int width, int height, std::vector<float> pixels) {
  GrayImage image;
  image.width = width;
  image.height = height;
  image.pixels = std::move(pixels);
  return image;
}

TEST(PreprocessingTest, AreaResizeAveragesBlocks) {
  // 4x4 -> 2x2: each output is the mean of a 2x2 block.
  const GrayImage image = MakeImage(
      4, 4, {0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0.5, 0.5, 0, 1, 0.5, 0.5});
  const GrayImage out = ResizeArea(image, 2, 2);
  ASSERT_EQ(out.pixels.size(), 4u);
  EXPECT_FLOAT_EQ(out.pixels[0], 0.0f);
  EXPECT_FLOAT_EQ(out.pixels[1], 1.0f);
  EXPECT_FLOAT_EQ(out.pixels[2], 0.75f);
  EXPECT_FLOAT_EQ(out.pixels[3], 0.5f);
}

TEST(PreprocessingTest, AreaResizeWeighsPartialOverlap) {
  // 3 -> 2 columns: output 0 covers pixel 0 and half of pixel 1.
  const GrayImage image = MakeImage(3, 1, {0.0f, 1.0f, 0.0f});
  const GrayImage out = ResizeArea(image, 1, 2);
  ASSERT_EQ(out.pixels.size(), 2u);
  EXPECT_NEAR(out.pixels[0], 1.0f / 3.0f, 1e-6);
  EXPECT_NEAR(out.pixels[1], 1.0f / 3.0f, 1e-6);
}

TEST(PreprocessingTest, UniformImageStaysUniformAtAnySize) {
  const GrayImage image = MakeImage(105, 105, std::vector<float>(105 * 105,
                                                                0.25f));
  const GrayImage out = ResizeArea(image, 28, 28);
  for (float v : out.pixels) EXPECT_NEAR(v, 0.25f, 1e-5);
}

TEST(PreprocessingTest, InvertsAndNormalises) {
  Preprocessing preprocessing;
  preprocessing.height = 1;
  preprocessing.width = 2;
  preprocessing.mean = 0.5f;
  preprocessing.stddev = 0.5f;
  const GrayImage image = MakeImage(2, 1, {1.0f, 0.0f});  // White, black.
  const torch::Tensor input = ImageToInput(image, preprocessing);
  ASSERT_EQ(input.sizes().vec(), (std::vector<int64_t>{1, 1, 2}));
  // White paper -> 0 -> (0 - 0.5) / 0.5 = -1; black ink -> 1 -> 1.
  EXPECT_FLOAT_EQ(input[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(input[0][0][1].item<float>(), 1.0f);
}

TEST(PreprocessingTest, BytesPathMatchesDirectPath) {
  Preprocessing preprocessing;
  const GrayImage image = MakeImage(
      3, 2, {0.1f, 0.9f, 0.5f, 0.3f, 0.7f, 0.2f});
  const torch::Tensor direct = ImageToInput(image, preprocessing);
  const torch::Tensor via_bytes =
      NormalizeBytes(ImageToBytes(image, preprocessing), preprocessing);
  EXPECT_TRUE(torch::equal(direct, via_bytes));
}

TEST(PreprocessingTest, ValidationRejectsBadRecipes) {
  Preprocessing bad_size;
  bad_size.height = 0;
  EXPECT_EQ(ValidatePreprocessing(bad_size).code(),
            absl::StatusCode::kInvalidArgument);
  Preprocessing bad_stddev;
  bad_stddev.stddev = 0.0f;
  EXPECT_EQ(ValidatePreprocessing(bad_stddev).code(),
            absl::StatusCode::kInvalidArgument);
  Preprocessing colour;
  colour.channels = 3;
  EXPECT_EQ(ValidatePreprocessing(colour).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidatePreprocessing(Preprocessing{}).ok());
}

}  // namespace
}  // namespace fewshot::core
