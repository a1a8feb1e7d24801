// Tests that bundles round-trip and that broken bundles are refused.
#include "core/bundle/model_bundle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fewshot::core {
namespace {

class ModelBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("bundle_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static ModelBundle MakeBundle() {
    torch::manual_seed(3);
    ModelBundle bundle;
    bundle.encoder = Conv4(Conv4Options{});
    bundle.metadata.name = "test-model";
    bundle.metadata.version = "v7";
    bundle.metadata.preprocessing.mean = 0.1f;
    bundle.metadata.preprocessing.stddev = 0.3f;
    bundle.metadata.embedding_size = 64;
    bundle.metadata.methods = {"protonet"};
    bundle.metadata.training_split = "omniglot/background";
    bundle.metadata.training_command = "fewshot-train --episodes=1";
    bundle.metadata.training_episodes = 1;
    bundle.metadata.training_seconds = 2.5;
    bundle.metadata.accuracy.push_back(
        {"protonet", "omniglot/evaluation", 5, 1, 15, 1000, 0.97, 0.004});
    return bundle;
  }

  std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

TEST_F(ModelBundleTest, RoundTripKeepsMetadataAndWeights) {
  const ModelBundle original = MakeBundle();
  ASSERT_TRUE(SaveModelBundle(original, dir()).ok());

  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const BundleMetadata& metadata = loaded->metadata;
  EXPECT_EQ(metadata.name, "test-model");
  EXPECT_EQ(metadata.version, "v7");
  EXPECT_FLOAT_EQ(metadata.preprocessing.mean, 0.1f);
  EXPECT_FLOAT_EQ(metadata.preprocessing.stddev, 0.3f);
  EXPECT_EQ(metadata.methods, std::vector<std::string>{"protonet"});
  EXPECT_EQ(metadata.training_command, "fewshot-train --episodes=1");
  ASSERT_EQ(metadata.accuracy.size(), 1u);
  EXPECT_DOUBLE_EQ(metadata.accuracy[0].accuracy, 0.97);
  EXPECT_EQ(metadata.accuracy[0].ways, 5);

  const auto original_parameters = original.encoder->named_parameters();
  const auto loaded_parameters = loaded->encoder->named_parameters();
  ASSERT_EQ(original_parameters.size(), loaded_parameters.size());
  for (const auto& item : original_parameters) {
    EXPECT_TRUE(torch::equal(item.value(), loaded_parameters[item.key()]))
        << item.key();
  }
  const auto loaded_buffers = loaded->encoder->named_buffers();
  for (const auto& item : original.encoder->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), loaded_buffers[item.key()]))
        << item.key();
  }
}

TEST_F(ModelBundleTest, MissingFolderIsNotFound) {
  EXPECT_EQ(LoadModelBundle(dir()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelBundleTest, MissingWeightsIsNotFound) {
  ASSERT_TRUE(WriteBundleMetadata(MakeBundle().metadata, dir()).ok());
  EXPECT_EQ(LoadModelBundle(dir()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelBundleTest, MalformedMetadataIsInvalid) {
  ASSERT_TRUE(SaveModelBundle(MakeBundle(), dir()).ok());
  std::ofstream(std::filesystem::path(dir()) / kBundleMetadataFile)
      << "{\"name\": ";
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelBundleTest, OtherFormatVersionIsInvalid) {
  ModelBundle bundle = MakeBundle();
  bundle.metadata.format_version = kBundleFormatVersion + 1;
  ASSERT_TRUE(SaveModelBundle(bundle, dir()).ok());
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelBundleTest, EmbeddingSizeMismatchIsInvalid) {
  ModelBundle bundle = MakeBundle();
  bundle.metadata.embedding_size = 65;
  ASSERT_TRUE(SaveModelBundle(bundle, dir()).ok());
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelBundleTest, WeightsOfAnotherShapeAreRefused) {
  ModelBundle bundle = MakeBundle();
  ASSERT_TRUE(SaveModelBundle(bundle, dir()).ok());
  bundle.metadata.encoder.hidden_channels = 32;
  bundle.metadata.embedding_size = 32;
  ASSERT_TRUE(WriteBundleMetadata(bundle.metadata, dir()).ok());
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  EXPECT_FALSE(loaded.ok());
}

}  // namespace
}  // namespace fewshot::core
