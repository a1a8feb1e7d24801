// Tests turning request examples into one model input batch.
#include "server/proto_conversion.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/match.h"
#include "core/data/image_decoder.h"
#include "core/data/preprocessing.h"
#include "tests/core/png_test_util.h"
#include "tests/tensor_example.h"

namespace fewshot::server {
namespace {

const core::Preprocessing kPreprocessing;
const core::ImageLimits kImageLimits;

TEST(ProtoConversionTest, QueriesBecomeOneBatchInOrder) {
  google::protobuf::RepeatedPtrField<v1::Example> queries;
  *queries.Add() = testing::MarkedTensorExample(0.25f, /*marker=*/3);
  *queries.Add() = testing::ConstantTensorExample(-1.5f);

  absl::StatusOr<torch::Tensor> inputs =
      QueriesToInputs(queries, kPreprocessing, kImageLimits);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  EXPECT_EQ(inputs->sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_FLOAT_EQ(inputs->index({0, 0, 0, 3}).item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(inputs->index({0, 0, 5, 5}).item<float>(), 0.25f);
  EXPECT_TRUE(torch::all(inputs->index({1}) == -1.5f).item<bool>());
}

TEST(ProtoConversionTest, ImagesArePreprocessedAsInTraining) {
  // A 56 x 56 gray image: dark ink (0) on the left half, white on the right.
  std::vector<unsigned char> pixels(56 * 56, 255);
  for (int row = 0; row < 56; ++row) {
    for (int column = 0; column < 28; ++column) pixels[row * 56 + column] = 0;
  }
  v1::LabeledExample labeled;
  labeled.set_label("left");
  labeled.mutable_example()->set_image(
      testing::EncodePng(pixels, 56, 56, /*channels=*/1));
  google::protobuf::RepeatedPtrField<v1::LabeledExample> support;
  *support.Add() = labeled;
  *support.Add() = labeled;

  absl::StatusOr<torch::Tensor> inputs =
      SupportToInputs(support, kPreprocessing, kImageLimits);
  ASSERT_TRUE(inputs.ok()) << inputs.status();
  absl::StatusOr<core::GrayImage> image =
      core::DecodeImage(labeled.example().image(), kImageLimits);
  ASSERT_TRUE(image.ok()) << image.status();
  const torch::Tensor expected = core::ImageToInput(*image, kPreprocessing);
  EXPECT_EQ(inputs->sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(inputs->index({0}), expected));
  EXPECT_TRUE(torch::equal(inputs->index({1}), expected));
}

TEST(ProtoConversionTest, OneExampleHasNoBatchDimension) {
  absl::StatusOr<torch::Tensor> input =
      ExampleToInput(testing::ConstantTensorExample(0.5f), kPreprocessing,
                     kImageLimits, "query");
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->sizes(), (std::vector<int64_t>{1, 28, 28}));
}

TEST(ProtoConversionTest, ATensorOfTheWrongSizeIsRefused) {
  google::protobuf::RepeatedPtrField<v1::Example> queries;
  *queries.Add() = testing::ConstantTensorExample(0.0f);
  v1::Example* short_example = queries.Add();
  short_example->mutable_tensor()->add_values(1.0f);

  absl::StatusOr<torch::Tensor> inputs =
      QueriesToInputs(queries, kPreprocessing, kImageLimits);
  EXPECT_EQ(inputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(inputs.status().message(),
            "queries[1].tensor.values has 1 values; expected 784");
}

TEST(ProtoConversionTest, AnUndecodableImageNamesItsField) {
  google::protobuf::RepeatedPtrField<v1::LabeledExample> support;
  v1::LabeledExample* labeled = support.Add();
  labeled->set_label("a");
  labeled->mutable_example()->set_image("not an image");

  absl::StatusOr<torch::Tensor> inputs =
      SupportToInputs(support, kPreprocessing, kImageLimits);
  EXPECT_EQ(inputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(inputs.status().message(),
                               "support[0].example.image cannot be used: "))
      << inputs.status();
}

}  // namespace
}  // namespace fewshot::server
