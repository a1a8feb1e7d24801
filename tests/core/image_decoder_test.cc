// Tests PNG decoding: formats, alpha, limits and bad input.
#include "core/data/image_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/png_test_util.h"

namespace fewshot::core {
namespace {

using ::fewshot::testing::EncodePng;

TEST(ImageDecoderTest, DecodesGrayscale) {
  const std::string png = EncodePng({0, 255, 128, 64}, 2, 2, 1);
  absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 2);
  EXPECT_EQ(image->height, 2);
  ASSERT_EQ(image->pixels.size(), 4u);
  EXPECT_FLOAT_EQ(image->pixels[0], 0.0f);
  EXPECT_FLOAT_EQ(image->pixels[1], 1.0f);
  EXPECT_NEAR(image->pixels[2], 128 / 255.0f, 1e-6);
}

TEST(ImageDecoderTest, ConvertsColourToLuminance) {
  // Pure white and pure black stay white and black; red is darker than
  // green, as luminance weights say.
  const std::string png = EncodePng(
      {255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0}, 4, 1, 3);
  absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->pixels.size(), 4u);
  EXPECT_FLOAT_EQ(image->pixels[0], 1.0f);
  EXPECT_FLOAT_EQ(image->pixels[1], 0.0f);
  EXPECT_LT(image->pixels[2], image->pixels[3]);
}

TEST(ImageDecoderTest, CompositesTransparencyOverWhite) {
  // A fully transparent black pixel becomes white.
  const std::string png = EncodePng({0, 0, 0, 255}, 2, 1, 2);
  absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
  ASSERT_TRUE(image.ok()) << image.status();
  ASSERT_EQ(image->pixels.size(), 2u);
  EXPECT_FLOAT_EQ(image->pixels[0], 1.0f);
  EXPECT_FLOAT_EQ(image->pixels[1], 0.0f);
}

TEST(ImageDecoderTest, RejectsEmptyInput) {
  absl::StatusOr<GrayImage> image = DecodeImage("", ImageLimits{});
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageDecoderTest, RejectsNonPng) {
  absl::StatusOr<GrayImage> image =
      DecodeImage("GIF89a not a png at all", ImageLimits{});
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), ::testing::HasSubstr("not a PNG"));
}

TEST(ImageDecoderTest, RejectsTruncatedPng) {
  std::string png = EncodePng(std::vector<unsigned char>(64 * 64, 7), 64, 64,
                              1);
  png.resize(png.size() / 2);
  absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageDecoderTest, RejectsTooManyBytes) {
  const std::string png = EncodePng({1, 2, 3, 4}, 2, 2, 1);
  ImageLimits limits;
  limits.max_bytes = 10;
  absl::StatusOr<GrayImage> image = DecodeImage(png, limits);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), ::testing::HasSubstr("limit"));
}

TEST(ImageDecoderTest, RejectsTooManyPixelsBeforeDecoding) {
  const std::string png =
      EncodePng(std::vector<unsigned char>(100 * 100, 0), 100, 100, 1);
  ImageLimits limits;
  limits.max_pixels = 99 * 99;
  absl::StatusOr<GrayImage> image = DecodeImage(png, limits);
  EXPECT_EQ(image.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(image.status().message(), ::testing::HasSubstr("100x100"));
}

}  // namespace
}  // namespace fewshot::core
