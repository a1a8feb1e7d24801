// Runs the fewshot-train program to add a head to a copy of the bundled
// model with validation classes other than the encoder's: it must refuse,
// since the head would then be chosen on classes the encoder trained on.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/program_runner.h"
#include "tests/test_environment.h"

namespace fewshot::tools {
namespace {

namespace fs = std::filesystem;

TEST(HeadSplitTest, RefusesValidationClassesOtherThanTheEncoders) {
  const fs::path dir = testing::FreshTestDir("head_split_test_");
  const fs::path model = dir / "model";
  fs::copy(testing::ModelDir(), model, fs::copy_options::recursive);
  const std::string before = testing::ReadTextFile(model / "bundle.json");

  EXPECT_EQ(testing::RunProgram(
                "fewshot-train",
                absl::StrCat("--method=maml --base_model=", model.string(),
                             " --validation_classes=50 --episodes=2 "
                             "--threads=1"),
                dir / "train.log"),
            2);
  const std::string log = testing::ReadTextFile(dir / "train.log");
  EXPECT_NE(log.find("--validation_classes=100 and this run has "
                     "--validation_classes=50"),
            std::string::npos)
      << log;
  EXPECT_EQ(testing::ReadTextFile(model / "bundle.json"), before);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fewshot::tools
