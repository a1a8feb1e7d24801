// The reports of fewshot-eval: what was measured (model, protocol, split,
// seeds, the exact command) and the figures (accuracy with its 95% CI and
// adapt/score latency per method and shape, calibration, open-set
// rejection), written as JSON for machines and as Markdown for people.
//
// Example:
//   EvaluationReport report;
//   report.model_name = "omniglot-conv4";
//   report.results.push_back(shape_figures);
//   absl::Status written = WriteTextFile("eval.md", ReportToMarkdown(report));
#ifndef FEWSHOT_TOOLS_EVAL_REPORT_H_
#define FEWSHOT_TOOLS_EVAL_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/latency_stats.h"
#include "core/eval/open_set.h"

namespace fewshot::tools {

// Temperature scaling of one method and shape.
struct CalibrationFigures {
  // Fitted on episodes of the validation classes.
  double temperature = 1.0;
  int validation_episodes = 0;
  // On the test episodes, at temperature 1 and at `temperature`.
  double ece_before = 0.0;
  double ece_after = 0.0;
  // The temperature the model serves for this shape (from the temperatures
  // stored in its bundle) and the test episodes' ECE at it.
  double served_temperature = 1.0;
  double ece_served = 0.0;
};

// One method on one episode shape.
struct ShapeFigures {
  std::string method;
  int ways = 0;
  int shots = 0;
  int queries = 0;
  int episodes = 0;
  // Every class of an episode from one alphabet.
  bool within_alphabet = false;
  double accuracy = 0.0;  // Mean over episodes, in [0, 1].
  double ci95 = 0.0;      // Half-width of the 95% confidence interval.
  // Per episode, in milliseconds: adapting on the support set and scoring
  // the queries (over gRPC: the Adapt and the Predict call).
  client::LatencySummary adapt_ms;
  client::LatencySummary score_ms;
  std::optional<CalibrationFigures> calibration;
};

// Open-set rejection of one method and shape.
struct OpenSetFigures {
  std::string method;
  int ways = 0;
  int shots = 0;
  int queries = 0;
  int unknown_ways = 0;
  int episodes = 0;
  int64_t known_queries = 0;
  int64_t unknown_queries = 0;
  core::OpenSetCurve curve;
};

struct EvaluationReport {
  std::string command;
  // When the run started, RFC 3339 UTC.
  std::string started_at;
  std::string model_name;
  std::string model_version;
  // "in-process", or the gRPC target the episodes were sent to.
  std::string target;
  std::string protocol;  // e.g. "alphabet"
  // The classes of the episodes, e.g. "omniglot/alphabet/test".
  std::string evaluated_split;
  std::string validation_split;  // Empty without validation classes.
  uint64_t split_seed = 0;
  int validation_classes = 0;
  uint64_t seed = 0;  // Episode seed.
  std::vector<ShapeFigures> results;
  std::vector<OpenSetFigures> open_set;
};

// The report as a JSON document (2-space indented, ends with a newline).
std::string ReportToJson(const EvaluationReport& report);

// The report as a Markdown page with one table per kind of figure.
std::string ReportToMarkdown(const EvaluationReport& report);

// Writes `contents` to `path`, replacing it. INVALID_ARGUMENT naming the
// path when it cannot be written.
absl::Status WriteTextFile(const std::string& path,
                           const std::string& contents);

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_EVAL_REPORT_H_
