// JSON and Markdown forms of an evaluation report.
#include "tools/eval_report.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fewshot::tools {
namespace {

using Json = nlohmann::ordered_json;

Json LatencyToJson(const client::LatencySummary& latency) {
  return Json{{"count", latency.count},
              {"mean", latency.mean},
              {"p50", latency.p50},
              {"p99", latency.p99},
              {"max", latency.max}};
}

std::string Shape(int ways, int shots) {
  return absl::StrFormat("%d-way %d-shot", ways, shots);
}

std::string Percent(double fraction) {
  return absl::StrFormat("%.2f%%", 100 * fraction);
}

// One accuracy table over the results with `within_alphabet`; empty when
// there are none.
std::string AccuracyTable(const EvaluationReport& report,
                          bool within_alphabet) {
  std::string table;
  for (const ShapeFigures& figures : report.results) {
    if (figures.within_alphabet != within_alphabet) continue;
    if (table.empty()) {
      table =
          "| Method | Shape | Episodes | Accuracy ± 95% CI | Adapt p50 / p99 "
          "| Score p50 / p99 |\n|---|---|---|---|---|---|\n";
    }
    absl::StrAppendFormat(
        &table,
        "| %s | %s, %d queries | %d | %s ± %s | %.2f / %.2f ms | %.2f / %.2f "
        "ms |\n",
        figures.method, Shape(figures.ways, figures.shots), figures.queries,
        figures.episodes, Percent(figures.accuracy), Percent(figures.ci95),
        figures.adapt_ms.p50, figures.adapt_ms.p99, figures.score_ms.p50,
        figures.score_ms.p99);
  }
  return table;
}

}  // namespace

std::string ReportToJson(const EvaluationReport& report) {
  Json results = Json::array();
  for (const ShapeFigures& figures : report.results) {
    Json entry{{"method", figures.method},
               {"ways", figures.ways},
               {"shots", figures.shots},
               {"queries", figures.queries},
               {"episodes", figures.episodes},
               {"within_alphabet", figures.within_alphabet},
               {"accuracy", figures.accuracy},
               {"ci95", figures.ci95},
               {"adapt_ms", LatencyToJson(figures.adapt_ms)},
               {"score_ms", LatencyToJson(figures.score_ms)}};
    if (figures.calibration.has_value()) {
      const CalibrationFigures& calibration = *figures.calibration;
      entry["calibration"] = {
          {"temperature", calibration.temperature},
          {"validation_episodes", calibration.validation_episodes},
          {"ece_before", calibration.ece_before},
          {"ece_after", calibration.ece_after},
          {"served_temperature", calibration.served_temperature},
          {"ece_served", calibration.ece_served}};
    }
    results.push_back(std::move(entry));
  }
  Json open_set = Json::array();
  for (const OpenSetFigures& figures : report.open_set) {
    Json points = Json::array();
    for (const core::OpenSetPoint& point : figures.curve.points) {
      points.push_back({{"threshold", point.threshold},
                        {"false_reject_rate", point.false_reject_rate},
                        {"false_accept_rate", point.false_accept_rate}});
    }
    open_set.push_back(
        {{"method", figures.method},
         {"ways", figures.ways},
         {"shots", figures.shots},
         {"queries", figures.queries},
         {"unknown_ways", figures.unknown_ways},
         {"episodes", figures.episodes},
         {"known_queries", figures.known_queries},
         {"unknown_queries", figures.unknown_queries},
         {"equal_error_rate", figures.curve.equal_error_rate},
         {"equal_error_threshold", figures.curve.equal_error_threshold},
         {"thresholds", std::move(points)}});
  }
  const Json document{
      {"command", report.command},
      {"started_at", report.started_at},
      {"model",
       {{"name", report.model_name}, {"version", report.model_version}}},
      {"target", report.target},
      {"protocol", report.protocol},
      {"evaluated_split", report.evaluated_split},
      {"validation_split", report.validation_split},
      {"split_seed", report.split_seed},
      {"validation_classes", report.validation_classes},
      {"seed", report.seed},
      {"results", std::move(results)},
      {"open_set", std::move(open_set)}};
  return document.dump(2) + "\n";
}

std::string ReportToMarkdown(const EvaluationReport& report) {
  std::string page = absl::StrFormat("# Evaluation of %s (version %s)\n\n",
                                     report.model_name, report.model_version);
  absl::StrAppendFormat(&page, "- Command: `%s`\n", report.command);
  absl::StrAppendFormat(&page, "- Started: %s; run: %s\n", report.started_at,
                        report.target);
  absl::StrAppendFormat(
      &page, "- Protocol: %s; evaluated classes: %s; split seed %d\n",
      report.protocol, report.evaluated_split, report.split_seed);
  if (!report.validation_split.empty()) {
    absl::StrAppendFormat(&page, "- Validation classes: %s (%d classes)\n",
                          report.validation_split, report.validation_classes);
  }
  absl::StrAppendFormat(&page, "- Episode seed: %d\n", report.seed);

  const std::string across = AccuracyTable(report, false);
  if (!across.empty()) {
    absl::StrAppend(&page, "\n## Accuracy\n\n", across);
  }
  const std::string within = AccuracyTable(report, true);
  if (!within.empty()) {
    absl::StrAppend(&page,
                    "\n## Accuracy within one alphabet\n\n"
                    "Every class of an episode comes from the same "
                    "alphabet.\n\n",
                    within);
  }
  if (report.target == "in-process") {
    absl::StrAppend(&page,
                    "\nLatency is per episode: adapt = embed the support set "
                    "and build the method's state; score = embed and score "
                    "every query.\n");
  } else {
    absl::StrAppend(&page,
                    "\nLatency is per episode, as the client saw it: adapt = "
                    "the Adapt call with the support set; score = the "
                    "Predict call with every query.\n");
  }

  std::string calibration;
  for (const ShapeFigures& figures : report.results) {
    if (!figures.calibration.has_value()) continue;
    if (calibration.empty()) {
      calibration =
          "\n## Calibration\n\nExpected calibration error (15 bins of top-1 "
          "confidence) on the test episodes: before calibration (T = 1), "
          "after dividing the scores by a temperature T fitted on this "
          "shape's validation episodes, and at the temperature the model "
          "serves for this many shots (stored in its bundle by "
          "`fewshot-eval --save_temperatures`).\n\n"
          "| Method | Shape | T | Validation episodes | ECE before | "
          "ECE after | Served T | ECE served |\n"
          "|---|---|---|---|---|---|---|---|\n";
    }
    const CalibrationFigures& figure = *figures.calibration;
    absl::StrAppendFormat(
        &calibration, "| %s | %s%s | %.3f | %d | %s | %s | %.3f | %s |\n",
        figures.method, Shape(figures.ways, figures.shots),
        figures.within_alphabet ? ", within alphabet" : "", figure.temperature,
        figure.validation_episodes, Percent(figure.ece_before),
        Percent(figure.ece_after), figure.served_temperature,
        Percent(figure.ece_served));
  }
  absl::StrAppend(&page, calibration);

  for (const OpenSetFigures& figures : report.open_set) {
    absl::StrAppendFormat(
        &page,
        "\n## Open-set rejection: %s, %s\n\n%d episodes: %d known queries "
        "(of the support set's classes) and %d unknown queries (of %d other "
        "test classes per episode). A query is rejected when its top-1 "
        "probability is below the threshold.\n\nEqual error rate %s at "
        "threshold %.4f.\n\n| Threshold | False reject | False accept |\n"
        "|---|---|---|\n",
        figures.method, Shape(figures.ways, figures.shots), figures.episodes,
        figures.known_queries, figures.unknown_queries, figures.unknown_ways,
        Percent(figures.curve.equal_error_rate),
        figures.curve.equal_error_threshold);
    for (const core::OpenSetPoint& point : figures.curve.points) {
      absl::StrAppendFormat(&page, "| %g | %s | %s |\n", point.threshold,
                            Percent(point.false_reject_rate),
                            Percent(point.false_accept_rate));
    }
  }
  return page;
}

absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write the report to '", path,
                     "'; check that its folder exists and is writable"));
  }
  return absl::OkStatus();
}

}  // namespace fewshot::tools
