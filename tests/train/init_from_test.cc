// Runs the fewshot-train program with --init_from on a copy of the bundled
// model: it starts from that bundle's encoder and adds its training record
// to its own, and it refuses a bundle whose training classes could be
// among this run's test or validation classes.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/bundle/model_bundle.h"
#include "tests/program_runner.h"
#include "tests/test_environment.h"

namespace fewshot::tools {
namespace {

namespace fs = std::filesystem;

class InitFromTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("init_from_test_");
    fs::copy(testing::ModelDir(), Base(), fs::copy_options::recursive);
  }

  void TearDown() override { fs::remove_all(dir_); }

  std::string Base() const { return (dir_ / "base").string(); }
  std::string Output() const { return (dir_ / "out").string(); }

  // Runs fewshot-train from the copied bundle with `flags`; returns its
  // exit code.
  int RunTrain(const std::string& flags) {
    return testing::RunProgram(
        "fewshot-train",
        absl::StrCat("--init_from=", Base(), " --output=", Output(),
                     " --checkpoint_dir=", (dir_ / "ck").string(),
                     " --threads=1 ", flags),
        dir_ / "train.log");
  }

  std::string Log() const { return testing::ReadTextFile(dir_ / "train.log"); }

  fs::path dir_;
};

TEST_F(InitFromTest, StartsFromTheBundleAndAddsItsTrainingRecord) {
  absl::StatusOr<core::ModelBundle> base = core::LoadModelBundle(Base());
  ASSERT_TRUE(base.ok()) << base.status();

  // A learning rate far too small to move the weights: the new encoder's
  // parameters are the base bundle's, not a seed's.
  ASSERT_EQ(RunTrain("--validation_classes=100 --episodes=2 --ways=5 "
                     "--shots=1 --queries=1 --lr=1e-20 --seed=2"),
            0)
      << Log();
  absl::StatusOr<core::ModelBundle> trained = core::LoadModelBundle(Output());
  ASSERT_TRUE(trained.ok()) << trained.status();
  const auto base_parameters = base->encoder->named_parameters();
  for (const auto& item : trained->encoder->named_parameters()) {
    EXPECT_TRUE(torch::allclose(item.value(), base_parameters[item.key()],
                                /*rtol=*/0, /*atol=*/1e-12))
        << item.key();
  }

  const core::BundleMetadata& was = base->metadata;
  const core::BundleMetadata& now = trained->metadata;
  EXPECT_EQ(now.training_episodes, was.training_episodes + 2);
  EXPECT_GT(now.training_seconds, was.training_seconds);
  EXPECT_LT(now.training_seconds, was.training_seconds + 600);
  EXPECT_EQ(now.training_command.rfind(was.training_command + " ; then: ", 0),
            0u)
      << now.training_command;
  EXPECT_NE(now.training_command.find("--init_from="), std::string::npos);
  EXPECT_EQ(now.training_split, was.training_split);
  EXPECT_EQ(now.training_split_seed, std::optional<uint64_t>(1));
  EXPECT_EQ(now.training_validation_classes, std::optional<int>(100));
}

TEST_F(InitFromTest, RefusesABundleTrainedOnOtherClasses) {
  // The bundled model held out 100 validation classes.
  EXPECT_EQ(RunTrain("--validation_classes=0 --episodes=2"), 2);
  EXPECT_NE(Log().find("--validation_classes=100"), std::string::npos) << Log();

  EXPECT_EQ(RunTrain("--validation_classes=100 "
                     "--protocol=character --episodes=2"),
            2);
  EXPECT_NE(Log().find("omniglot/alphabet/train"), std::string::npos) << Log();

  EXPECT_EQ(RunTrain("--validation_classes=100 --split_seed=7 "
                     "--episodes=2"),
            2);
  EXPECT_NE(Log().find("--split_seed=1"), std::string::npos) << Log();
  EXPECT_FALSE(fs::exists(Output()));
}

}  // namespace
}  // namespace fewshot::tools
