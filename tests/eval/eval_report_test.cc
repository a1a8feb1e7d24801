// Tests the JSON and Markdown reports of fewshot-eval on a small report
// whose figures are known.
#include "tools/eval_report.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fewshot::tools {
namespace {

EvaluationReport SmallReport() {
  EvaluationReport report;
  report.command = "fewshot-eval --shapes=5x1";
  report.started_at = "2026-01-02T03:04:05+00:00";
  report.model_name = "omniglot-conv4";
  report.model_version = "v7";
  report.target = "in-process";
  report.protocol = "character";
  report.evaluated_split = "omniglot/character/test";
  report.validation_split = "omniglot/character/validation";
  report.split_seed = 3;
  report.validation_classes = 100;
  report.seed = 2024;

  ShapeFigures across;
  across.method = "protonet";
  across.ways = 5;
  across.shots = 1;
  across.queries = 15;
  across.episodes = 1000;
  across.accuracy = 0.9679;
  across.ci95 = 0.0028;
  across.adapt_ms = client::SummarizeLatencies({1.0, 2.0, 3.0});
  across.score_ms = client::SummarizeLatencies({4.0});
  across.calibration = CalibrationFigures{.temperature = 1.5,
                                          .validation_episodes = 200,
                                          .ece_before = 0.04,
                                          .ece_after = 0.01,
                                          .served_temperature = 1.25,
                                          .ece_served = 0.02};
  report.results.push_back(across);

  OpenSetFigures open_set;
  open_set.method = "protonet";
  open_set.ways = 5;
  open_set.shots = 1;
  open_set.queries = 15;
  open_set.unknown_ways = 5;
  open_set.episodes = 10;
  open_set.known_queries = 750;
  open_set.unknown_queries = 750;
  open_set.curve.points = {{0.5, 0.01, 0.9}, {0.9999, 0.05, 0.6}};
  open_set.curve.equal_error_rate = 0.2;
  open_set.curve.equal_error_threshold = 0.999;
  report.open_set.push_back(open_set);
  return report;
}

TEST(EvalReportTest, JsonCarriesEveryFigure) {
  const nlohmann::json json =
      nlohmann::json::parse(ReportToJson(SmallReport()));
  EXPECT_EQ(json["command"], "fewshot-eval --shapes=5x1");
  EXPECT_EQ(json["model"]["name"], "omniglot-conv4");
  EXPECT_EQ(json["model"]["version"], "v7");
  EXPECT_EQ(json["protocol"], "character");
  EXPECT_EQ(json["evaluated_split"], "omniglot/character/test");
  EXPECT_EQ(json["split_seed"], 3);
  EXPECT_EQ(json["seed"], 2024);
  ASSERT_EQ(json["results"].size(), 1u);
  const nlohmann::json& result = json["results"][0];
  EXPECT_EQ(result["method"], "protonet");
  EXPECT_EQ(result["ways"], 5);
  EXPECT_EQ(result["within_alphabet"], false);
  EXPECT_DOUBLE_EQ(result["accuracy"].get<double>(), 0.9679);
  EXPECT_DOUBLE_EQ(result["ci95"].get<double>(), 0.0028);
  EXPECT_DOUBLE_EQ(result["adapt_ms"]["p50"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(result["adapt_ms"]["p99"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(result["calibration"]["temperature"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(result["calibration"]["ece_after"].get<double>(), 0.01);
  EXPECT_DOUBLE_EQ(result["calibration"]["served_temperature"].get<double>(),
                   1.25);
  EXPECT_DOUBLE_EQ(result["calibration"]["ece_served"].get<double>(), 0.02);
  ASSERT_EQ(json["open_set"].size(), 1u);
  const nlohmann::json& open_set = json["open_set"][0];
  EXPECT_DOUBLE_EQ(open_set["equal_error_rate"].get<double>(), 0.2);
  ASSERT_EQ(open_set["thresholds"].size(), 2u);
  EXPECT_DOUBLE_EQ(open_set["thresholds"][1]["false_accept_rate"].get<double>(),
                   0.6);
}

TEST(EvalReportTest, MarkdownHasOneTablePerKindOfFigure) {
  EvaluationReport report = SmallReport();
  const std::string page = ReportToMarkdown(report);
  EXPECT_NE(page.find("# Evaluation of omniglot-conv4 (version v7)"),
            std::string::npos);
  EXPECT_NE(page.find("| protonet | 5-way 1-shot, 15 queries | 1000 | 96.79% ± "
                      "0.28% | 2.00 / 3.00 ms | 4.00 / 4.00 ms |"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("| protonet | 5-way 1-shot | 1.500 | 200 | 4.00% | "
                      "1.00% | 1.250 | 2.00% |"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("Equal error rate 20.00% at threshold 0.9990."),
            std::string::npos)
      << page;
  // Thresholds near 1 keep their digits.
  EXPECT_NE(page.find("| 0.9999 | 5.00% | 60.00% |"), std::string::npos)
      << page;
  EXPECT_EQ(page.find("within one alphabet"), std::string::npos);

  // A within-alphabet result gets its own section.
  ShapeFigures within = report.results[0];
  within.within_alphabet = true;
  within.ways = 20;
  within.calibration.reset();
  report.results.push_back(within);
  const std::string with_within = ReportToMarkdown(report);
  const size_t section = with_within.find("## Accuracy within one alphabet");
  ASSERT_NE(section, std::string::npos) << with_within;
  EXPECT_NE(with_within.find("| protonet | 20-way 1-shot", section),
            std::string::npos);
}

TEST(EvalReportTest, WritesAndRefusesUnwritablePaths) {
  const std::string path = ::testing::TempDir() + "/eval_report_test.md";
  ASSERT_TRUE(WriteTextFile(path, "hello\n").ok());
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_EQ(contents.str(), "hello\n");
  std::remove(path.c_str());
  EXPECT_EQ(WriteTextFile("/nonexistent-folder/report.md", "x").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::tools
