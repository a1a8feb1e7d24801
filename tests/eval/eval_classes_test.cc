// Runs the fewshot-eval program with --classes: by default it measures the
// test classes; --classes=validation measures the validation classes for
// model selection, and is refused where its figures could be taken for test
// figures or where validation classes are missing. Either is refused when
// the bundle may have trained on those classes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/program_runner.h"
#include "tests/test_environment.h"

namespace fewshot::tools {
namespace {

namespace fs = std::filesystem;

class EvalClassesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("eval_classes_test_");
    fs::copy(testing::ModelDir(), dir_ / "model", fs::copy_options::recursive);
  }

  void TearDown() override { fs::remove_all(dir_); }

  // Runs four 5-way 1-shot protonet episodes with `flags`; returns the exit
  // code.
  int RunEval(const std::string& flags) {
    return testing::RunProgram(
        "fewshot-eval",
        absl::StrCat("--model_dir=", (dir_ / "model").string(),
                     " --methods=protonet --shapes=5x1 --episodes=4 "
                     "--threads=1 --report_json=",
                     Report().string(), " ", flags),
        dir_ / "eval.log");
  }

  fs::path Report() const { return dir_ / "report.json"; }
  std::string Log() const { return testing::ReadTextFile(dir_ / "eval.log"); }
  std::string BundleJson() const {
    return testing::ReadTextFile(dir_ / "model" / "bundle.json");
  }

  fs::path dir_;
};

TEST_F(EvalClassesTest, MeasuresTheValidationClassesWhenAsked) {
  ASSERT_EQ(RunEval("--classes=validation --validation_classes=100"), 0)
      << Log();
  std::ifstream in(Report());
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report.at("evaluated_split"), "omniglot/alphabet/validation");
  EXPECT_EQ(report.at("results").at(0).at("episodes"), 4);
  EXPECT_NE(Log().find("classes omniglot/alphabet/validation (100)"),
            std::string::npos)
      << Log();
}

TEST_F(EvalClassesTest, MeasuresTheTestClassesByDefault) {
  ASSERT_EQ(RunEval("--validation_classes=100"), 0) << Log();
  std::ifstream in(Report());
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report.at("evaluated_split"), "omniglot/alphabet/test");
}

TEST_F(EvalClassesTest, IsRefusedWhereItsFiguresCouldPassForTestFigures) {
  const std::string bundle_before = BundleJson();

  EXPECT_EQ(RunEval("--classes=validation --validation_classes=100 --record"),
            1);
  EXPECT_NE(Log().find("model selection only"), std::string::npos) << Log();
  EXPECT_EQ(RunEval("--classes=validation --validation_classes=100 "
                    "--calibrate"),
            1);
  EXPECT_NE(Log().find("model selection only"), std::string::npos) << Log();
  EXPECT_EQ(BundleJson(), bundle_before);

  EXPECT_EQ(RunEval("--classes=validation"), 1);
  EXPECT_NE(Log().find("needs --validation_classes above 0"), std::string::npos)
      << Log();
  EXPECT_EQ(RunEval("--classes=train --validation_classes=100"), 1);
  EXPECT_NE(Log().find("use test or validation"), std::string::npos) << Log();
  EXPECT_FALSE(fs::exists(Report()));
}

TEST_F(EvalClassesTest, RefusesClassesTheBundleMayHaveTrainedOn) {
  // The bundled model trained on the alphabet protocol's training classes,
  // less 100 validation classes drawn with seed 1.
  EXPECT_EQ(RunEval("--protocol=character"), 1);
  EXPECT_NE(Log().find("trained on omniglot/alphabet/train"), std::string::npos)
      << Log();
  EXPECT_EQ(RunEval("--classes=validation --validation_classes=50"), 1);
  EXPECT_NE(Log().find("--validation_classes=100 and this run has "
                       "--validation_classes=50"),
            std::string::npos)
      << Log();
  EXPECT_EQ(RunEval("--classes=validation --validation_classes=100 "
                    "--split_seed=2"),
            1);
  EXPECT_NE(Log().find("--split_seed=1 and this run has --split_seed=2"),
            std::string::npos)
      << Log();
  EXPECT_FALSE(fs::exists(Report()));

  // The alphabet test classes are the same whatever the seed.
  EXPECT_EQ(RunEval("--split_seed=2"), 0) << Log();
}

}  // namespace
}  // namespace fewshot::tools
