// Tests that bundles round-trip and that broken bundles are refused.
#include "core/bundle/model_bundle.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fewshot::core {
namespace {

using Json = nlohmann::json;

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
    bundle.metadata.methods = {MethodSpec{.name = "protonet"}};
    bundle.metadata.training_split = "omniglot/background";
    bundle.metadata.training_command = "fewshot-train --episodes=1";
    bundle.metadata.training_episodes = 1;
    bundle.metadata.training_seconds = 2.5;
    bundle.metadata.accuracy.push_back(
        {"protonet", "omniglot/evaluation", 5, 1, 15, 1000, 0.97, 0.004});
    return bundle;
  }

  std::string dir() const { return dir_.string(); }

  // Applies `change` to the saved bundle.json.
  void RewriteMetadata(const std::function<void(Json*)>& change) const {
    const std::filesystem::path path =
        std::filesystem::path(dir()) / kBundleMetadataFile;
    Json json = Json::parse(std::ifstream(path));
    change(&json);
    std::ofstream(path, std::ios::trunc) << json.dump(2);
  }

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
  EXPECT_EQ(metadata.MethodNames(), std::vector<std::string>{"protonet"});
  EXPECT_EQ(metadata.format_version, kBundleFormatVersion);
  EXPECT_DOUBLE_EQ(metadata.methods[0].temperature, 1.0);
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

TEST_F(ModelBundleTest, TrainingSplitSeedAndValidationClassesRoundTrip) {
  ModelBundle original = MakeBundle();
  original.metadata.training_split_seed = 7;
  original.metadata.training_validation_classes = 100;
  ASSERT_TRUE(SaveModelBundle(original, dir()).ok());

  absl::StatusOr<BundleMetadata> loaded = ReadBundleMetadata(dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->training_split_seed, std::optional<uint64_t>(7));
  EXPECT_EQ(loaded->training_validation_classes, std::optional<int>(100));
}

TEST_F(ModelBundleTest, BundleWithoutSplitSeedReadsItAsUnset) {
  ASSERT_TRUE(SaveModelBundle(MakeBundle(), dir()).ok());
  RewriteMetadata([](Json* json) {
    EXPECT_FALSE((*json)["training"].contains("split_seed"));
    EXPECT_FALSE((*json)["training"].contains("validation_classes"));
  });

  absl::StatusOr<BundleMetadata> loaded = ReadBundleMetadata(dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->training_split_seed.has_value());
  EXPECT_FALSE(loaded->training_validation_classes.has_value());
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
  ASSERT_TRUE(SaveModelBundle(MakeBundle(), dir()).ok());
  RewriteMetadata(
      [](Json* json) { (*json)["format_version"] = kBundleFormatVersion + 1; });
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loaded.status().message().find("format_version"),
            std::string::npos);
}

TEST_F(ModelBundleTest, VersionOneBundleWithMethodNamesLoads) {
  ASSERT_TRUE(SaveModelBundle(MakeBundle(), dir()).ok());
  RewriteMetadata([](Json* json) {
    (*json)["format_version"] = 1;
    (*json)["methods"] = Json::array({"protonet"});
  });
  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->metadata.format_version, 1);
  ASSERT_EQ(loaded->metadata.methods.size(), 1u);
  EXPECT_EQ(loaded->metadata.methods[0].name, "protonet");
  EXPECT_TRUE(loaded->metadata.methods[0].parameters_file.empty());
  EXPECT_DOUBLE_EQ(loaded->metadata.methods[0].temperature, 1.0);
  EXPECT_TRUE(loaded->heads.empty());

  // Writing it again upgrades the file to the current version.
  ASSERT_TRUE(WriteBundleMetadata(loaded->metadata, dir()).ok());
  absl::StatusOr<BundleMetadata> again = ReadBundleMetadata(dir());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->format_version, kBundleFormatVersion);
  EXPECT_EQ(again->MethodNames(), std::vector<std::string>{"protonet"});
}

TEST_F(ModelBundleTest, HeadsRoundTripWithTheirSettings) {
  ModelBundle bundle = MakeBundle();
  MethodSpec maml{.name = "maml",
                  .parameters_file = "heads/maml.pt",
                  .hyperparameters = {{"steps", 7}},
                  .temperature = 2.5,
                  .temperatures_by_shots = {{1, 1.75}, {5, 0.625}}};
  bundle.metadata.methods.push_back(maml);
  bundle.heads["maml"] = {{"a", torch::randn({3, 2})},
                          {"b.c", torch::arange(4).to(torch::kFloat32)}};
  ASSERT_TRUE(SaveModelBundle(bundle, dir()).ok());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir()) / "heads" /
                                      "maml.pt"));

  absl::StatusOr<ModelBundle> loaded = LoadModelBundle(dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->metadata.MethodNames(),
            (std::vector<std::string>{"protonet", "maml"}));
  const MethodSpec* spec = loaded->metadata.FindMethod("maml");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->parameters_file, "heads/maml.pt");
  EXPECT_DOUBLE_EQ(spec->hyperparameters.at("steps"), 7);
  EXPECT_DOUBLE_EQ(spec->temperature, 2.5);
  ASSERT_EQ(spec->temperatures_by_shots.size(), 2u);
  EXPECT_EQ(spec->temperatures_by_shots[0].shots, 1);
  EXPECT_DOUBLE_EQ(spec->temperatures_by_shots[0].temperature, 1.75);
  EXPECT_EQ(spec->temperatures_by_shots[1].shots, 5);
  EXPECT_DOUBLE_EQ(spec->temperatures_by_shots[1].temperature, 0.625);
  EXPECT_TRUE(
      loaded->metadata.FindMethod("protonet")->temperatures_by_shots.empty());
  ASSERT_EQ(loaded->heads.count("maml"), 1u);
  const HeadParameters& head = loaded->heads.at("maml");
  ASSERT_EQ(head.size(), 2u);
  EXPECT_TRUE(torch::equal(head.at("a"), bundle.heads["maml"]["a"]));
  EXPECT_TRUE(torch::equal(head.at("b.c"), bundle.heads["maml"]["b.c"]));
}

TEST_F(ModelBundleTest, MissingHeadFileIsNotFound) {
  ModelBundle bundle = MakeBundle();
  bundle.metadata.methods.push_back(
      MethodSpec{.name = "maml", .parameters_file = "heads/maml.pt"});
  ASSERT_TRUE(SaveModelBundle(bundle, dir()).ok());
  EXPECT_EQ(LoadModelBundle(dir()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelBundleTest, HeadWithoutMethodIsRefusedOnSave) {
  ModelBundle bundle = MakeBundle();
  bundle.heads["maml"] = {{"a", torch::zeros({1})}};
  EXPECT_EQ(SaveModelBundle(bundle, dir()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ModelBundleTest, BadMethodEntriesAreInvalid) {
  const std::vector<std::function<void(Json*)>> breakages = {
      [](Json* json) { (*json)["methods"] = Json::array(); },
      [](Json* json) { (*json)["methods"][0]["temperature"] = 0.0; },
      [](Json* json) { (*json)["methods"][0]["parameters"] = "../outside.pt"; },
      [](Json* json) {
        (*json)["methods"][0]["temperatures_by_shots"] =
            Json::array({{{"shots", 0}, {"temperature", 1.0}}});
      },
      [](Json* json) {
        (*json)["methods"][0]["temperatures_by_shots"] =
            Json::array({{{"shots", 5}, {"temperature", 1.0}},
                         {{"shots", 1}, {"temperature", 1.0}}});
      },
      [](Json* json) {
        (*json)["methods"][0]["temperatures_by_shots"] =
            Json::array({{{"shots", 1}, {"temperature", -1.0}}});
      },
      [](Json* json) {
        (*json)["methods"].push_back(Json{{"name", "protonet"}});
      }};
  for (size_t i = 0; i < breakages.size(); ++i) {
    ASSERT_TRUE(SaveModelBundle(MakeBundle(), dir()).ok());
    RewriteMetadata(breakages[i]);
    EXPECT_EQ(ReadBundleMetadata(dir()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << "breakage " << i;
  }
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
