// Formats the results of a fewshot-bench load run: one row per RPC and
// concurrency level, as an aligned table for people, or CSV or JSON for
// scripts.
//
// Example:
//   absl::StatusOr<ReportFormat> format = ParseReportFormat("csv");
//   std::cout << FormatReport(report, *format);
#ifndef FEWSHOT_CLIENT_BENCH_REPORT_H_
#define FEWSHOT_CLIENT_BENCH_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/latency_stats.h"

namespace fewshot::client {

enum class ReportFormat {
  // Aligned columns, for a terminal.
  kTable,
  // A header line, then one comma-separated line per row.
  kCsv,
  // One JSON object holding every row.
  kJson,
};

// Parses "table", "csv" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view name);

// One RPC measured at one concurrency level.
struct BenchRow {
  // RPC name as given to --rpc, e.g. "predict".
  std::string rpc;
  int concurrency = 1;
  // Requests per second asked for; 0 for closed loop.
  double rate = 0;
  int64_t ok = 0;
  // Successful calls per second.
  double throughput = 0;
  // Latency of successful calls, in milliseconds.
  LatencySummary latency_ms;
  // Failed calls by status code.
  std::map<absl::StatusCode, int64_t> errors;
  // Images each call sends through the encoder (support examples and
  // queries), so that images/s can be compared with a raw forward pass.
  int images_per_call = 1;
  // Seconds from the first call's start to the last call's end.
  double elapsed_s = 0;
  // Fixed-rate rows only: how late calls started, and the latency of
  // successful calls counted from when they were sent (see LoadResult).
  LatencySummary start_lag_ms;
  LatencySummary sent_latency_ms;

  // Successful images per second: throughput * images_per_call.
  double ImagesPerSecond() const { return throughput * images_per_call; }
  // Calls started (successful or not) per second of elapsed_s.
  double StartedPerSecond() const;
};

struct BenchReport {
  // Support examples of the measured adaptation.
  int support_size = 0;
  // GetAdaptation's size_bytes for that adaptation, right after Adapt.
  int64_t adaptation_bytes = 0;
  // How examples were sent: "png" (encoded images) or "tensor"
  // (preprocessed float tensors).
  std::string input = "png";
  std::vector<BenchRow> rows;
};

// The report in `format`, ending with a newline.
std::string FormatReport(const BenchReport& report, ReportFormat format);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_BENCH_REPORT_H_
