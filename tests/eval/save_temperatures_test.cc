// Runs the fewshot-eval program with --save_temperatures on a copy of the
// bundled model and checks that it stores one temperature per method and
// shot count, that the report's served temperature is the stored one, and
// that the flag is refused where it cannot work.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/bundle/model_bundle.h"
#include "tests/program_runner.h"
#include "tests/test_environment.h"

namespace fewshot::tools {
namespace {

namespace fs = std::filesystem;

class SaveTemperaturesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::FreshTestDir("save_temperatures_test_");
    fs::copy(testing::ModelDir(), dir_ / "model", fs::copy_options::recursive);

    // Start from known temperatures: none, except a marker on maml.
    absl::StatusOr<core::BundleMetadata> metadata =
        core::ReadBundleMetadata(ModelCopy());
    ASSERT_TRUE(metadata.ok()) << metadata.status();
    for (core::MethodSpec& method : metadata->methods) {
      method.temperatures_by_shots.clear();
      if (method.name == "maml") method.temperatures_by_shots = {{3, 0.5}};
    }
    ASSERT_TRUE(core::WriteBundleMetadata(*metadata, ModelCopy()).ok());
  }

  std::string ModelCopy() const { return (dir_ / "model").string(); }

  void TearDown() override { fs::remove_all(dir_); }

  // Runs fewshot-eval on the copied model with `flags`; returns its exit
  // code.
  int RunEval(const std::string& flags) {
    return testing::RunProgram(
        "fewshot-eval",
        absl::StrCat("--model_dir=", ModelCopy(), " --threads=1 ", flags),
        dir_ / "eval.log");
  }

  std::string Log() const { return testing::ReadTextFile(dir_ / "eval.log"); }

  fs::path dir_;
};

TEST_F(SaveTemperaturesTest, StoresOneTemperaturePerMethodAndShotCount) {
  ASSERT_EQ(RunEval(absl::StrCat(
                "--validation_classes=100 --methods=protonet,attention "
                "--shapes=5x1,20x1,5x5 --episodes=4 --calibration_episodes=8 "
                "--calibrate --save_temperatures --report_json=",
                (dir_ / "report.json").string())),
            0)
      << Log();

  absl::StatusOr<core::BundleMetadata> metadata =
      core::ReadBundleMetadata(ModelCopy());
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  for (const char* name : {"protonet", "attention"}) {
    const core::MethodSpec* spec = metadata->FindMethod(name);
    ASSERT_NE(spec, nullptr) << name;
    ASSERT_EQ(spec->temperatures_by_shots.size(), 2u) << name;
    EXPECT_EQ(spec->temperatures_by_shots[0].shots, 1);
    EXPECT_EQ(spec->temperatures_by_shots[1].shots, 5);
    for (const core::ShotTemperature& point : spec->temperatures_by_shots) {
      EXPECT_TRUE(std::isfinite(point.temperature) && point.temperature > 0);
      // A fit, not the default.
      EXPECT_NE(point.temperature, 1.0) << name << " " << point.shots;
    }
  }
  // maml was not asked for and keeps what it had.
  const std::vector<core::ShotTemperature>& maml =
      metadata->FindMethod("maml")->temperatures_by_shots;
  ASSERT_EQ(maml.size(), 1u);
  EXPECT_EQ(maml[0].shots, 3);

  // The report measured the test episodes at the stored temperatures.
  std::ifstream in(dir_ / "report.json");
  const nlohmann::json report = nlohmann::json::parse(in);
  const double stored_one_shot =
      metadata->FindMethod("protonet")->temperatures_by_shots[0].temperature;
  int checked = 0;
  for (const nlohmann::json& result : report.at("results")) {
    if (result.at("method") != "protonet" || result.at("shots") != 1) continue;
    EXPECT_DOUBLE_EQ(
        result.at("calibration").at("served_temperature").get<double>(),
        stored_one_shot);
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST_F(SaveTemperaturesTest, IsRefusedWithoutValidationClassesOrOverGrpc) {
  EXPECT_NE(RunEval("--shapes=5x1 --episodes=2 --save_temperatures"), 0);
  EXPECT_NE(Log().find("--validation_classes"), std::string::npos) << Log();

  EXPECT_NE(RunEval("--shapes=5x1 --episodes=2 --validation_classes=100 "
                    "--save_temperatures --server=127.0.0.1:1"),
            0);
  EXPECT_NE(Log().find("in-process run"), std::string::npos) << Log();

  // Nothing was written.
  absl::StatusOr<core::BundleMetadata> metadata =
      core::ReadBundleMetadata(ModelCopy());
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_TRUE(metadata->FindMethod("protonet")->temperatures_by_shots.empty());
}

}  // namespace
}  // namespace fewshot::tools
