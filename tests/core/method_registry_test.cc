// Tests that methods are created from a bundle's heads and settings, and
// that asking for a method the bundle lacks names what it carries.
#include "core/adapt/method_registry.h"

#include <gtest/gtest.h>

#include "core/adapt/attention.h"
#include "core/adapt/maml.h"

namespace fewshot::core {
namespace {

ModelBundle MultiHeadBundle() {
  ModelBundle bundle;
  bundle.metadata.name = "multi";
  bundle.metadata.methods = {
      MethodSpec{.name = "protonet", .temperature = 2.0},
      MethodSpec{.name = "maml",
                 .parameters_file = "heads/maml.pt",
                 .hyperparameters = {{"steps", 4}},
                 .temperatures_by_shots = {{1, 1.5}, {5, 0.5}}}};
  bundle.heads["maml"] = MamlHeadToParameters(InitialMamlHead(4, 2, 0.1));
  return bundle;
}

TEST(MethodRegistryTest, CreatesTheBundleMethodsWithTheirSettings) {
  const ModelBundle bundle = MultiHeadBundle();
  absl::StatusOr<std::unique_ptr<AdaptationMethod>> protonet =
      CreateMethodFromBundle("", bundle);
  ASSERT_TRUE(protonet.ok()) << protonet.status();
  EXPECT_EQ((*protonet)->name(), "protonet");
  EXPECT_DOUBLE_EQ((*protonet)->temperatures().At(1), 2.0);
  EXPECT_DOUBLE_EQ((*protonet)->temperatures().At(5), 2.0);

  absl::StatusOr<std::unique_ptr<AdaptationMethod>> maml =
      CreateMethodFromBundle("maml", bundle);
  ASSERT_TRUE(maml.ok()) << maml.status();
  EXPECT_EQ((*maml)->name(), "maml");
  EXPECT_EQ(static_cast<const MamlMethod&>(**maml).default_steps(), 4);
  EXPECT_DOUBLE_EQ((*maml)->temperatures().At(1), 1.5);
  EXPECT_DOUBLE_EQ((*maml)->temperatures().At(5), 0.5);
}

TEST(MethodRegistryTest, MissingMethodListsWhatTheBundleCarries) {
  const absl::Status status =
      CreateMethodFromBundle("attention", MultiHeadBundle()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("protonet, maml"), std::string::npos)
      << status;
}

TEST(MethodRegistryTest, ListedMethodWithoutItsHeadIsInvalid) {
  ModelBundle bundle = MultiHeadBundle();
  bundle.heads.clear();
  EXPECT_EQ(CreateMethodFromBundle("maml", bundle).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MethodRegistryTest, CreateMethodStillMakesProtonet) {
  absl::StatusOr<std::unique_ptr<AdaptationMethod>> method = CreateMethod("");
  ASSERT_TRUE(method.ok());
  EXPECT_EQ((*method)->name(), "protonet");
  EXPECT_DOUBLE_EQ((*method)->temperatures().At(1), 1.0);
  EXPECT_EQ(CreateMethod("maml").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
