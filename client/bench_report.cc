// Implements the table, CSV and JSON output of fewshot-bench's load mode.
// Every string written is an RPC name, a status code name or an input kind,
// none of which needs quoting or escaping.
#include "client/bench_report.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace fewshot::client {
namespace {

// "NAME:count" per error code, joined by `separator`; "-" when none.
std::string ErrorList(const BenchRow& row, absl::string_view separator) {
  if (row.errors.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [code, count] : row.errors) {
    parts.push_back(absl::StrCat(absl::StatusCodeToString(code), ":", count));
  }
  return absl::StrJoin(parts, separator);
}

// The rate column: "closed" for closed loop.
std::string RateText(const BenchRow& row) {
  return row.rate > 0 ? absl::StrFormat("%.1f", row.rate) : "closed";
}

std::string FormatTable(const BenchReport& report) {
  std::string out = absl::StrFormat(
      "adaptation size: %d bytes (GetAdaptation, %d support examples); "
      "examples sent as %s\n",
      report.adaptation_bytes, report.support_size, report.input);
  absl::StrAppendFormat(
      &out, "%-14s %5s %8s %8s %10s %10s %8s %8s %8s %8s  %s\n", "rpc", "conc",
      "rate", "ok", "ok/s", "images/s", "p50", "p90", "p95", "p99", "errors");
  for (const BenchRow& row : report.rows) {
    absl::StrAppendFormat(
        &out, "%-14s %5d %8s %8d %10.1f %10.1f %8.2f %8.2f %8.2f %8.2f  %s\n",
        row.rpc, row.concurrency, RateText(row), row.ok, row.throughput,
        row.ImagesPerSecond(), row.latency_ms.p50, row.latency_ms.p90,
        row.latency_ms.p95, row.latency_ms.p99, ErrorList(row, " "));
  }
  absl::StrAppend(&out, "(latency of successful calls, ms)\n");
  return out;
}

std::string FormatCsv(const BenchReport& report) {
  std::string out =
      "rpc,concurrency,rate,ok,throughput,p50_ms,p90_ms,p95_ms,p99_ms,"
      "mean_ms,errors,adaptation_bytes,images_per_call,elapsed_s,input\n";
  for (const BenchRow& row : report.rows) {
    absl::StrAppendFormat(
        &out, "%s,%d,%g,%d,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%s,%d,%d,%.3f,%s\n",
        row.rpc, row.concurrency, row.rate, row.ok, row.throughput,
        row.latency_ms.p50, row.latency_ms.p90, row.latency_ms.p95,
        row.latency_ms.p99, row.latency_ms.mean, ErrorList(row, ";"),
        report.adaptation_bytes, row.images_per_call, row.elapsed_s,
        report.input);
  }
  return out;
}

std::string FormatJson(const BenchReport& report) {
  std::vector<std::string> rows;
  for (const BenchRow& row : report.rows) {
    std::vector<std::string> errors;
    for (const auto& [code, count] : row.errors) {
      errors.push_back(
          absl::StrFormat("\"%s\": %d", absl::StatusCodeToString(code), count));
    }
    rows.push_back(absl::StrFormat(
        "    {\"rpc\": \"%s\", \"concurrency\": %d, \"rate\": %g, "
        "\"ok\": %d, \"throughput\": %.3f, \"p50_ms\": %.3f, "
        "\"p90_ms\": %.3f, \"p95_ms\": %.3f, \"p99_ms\": %.3f, "
        "\"mean_ms\": %.3f, \"max_ms\": %.3f, \"images_per_call\": %d, "
        "\"images_per_s\": %.1f, \"elapsed_s\": %.3f, "
        "\"started_per_s\": %.1f, \"start_lag_p50_ms\": %.3f, "
        "\"start_lag_p99_ms\": %.3f, \"sent_p50_ms\": %.3f, "
        "\"sent_p99_ms\": %.3f, \"errors\": {%s}}",
        row.rpc, row.concurrency, row.rate, row.ok, row.throughput,
        row.latency_ms.p50, row.latency_ms.p90, row.latency_ms.p95,
        row.latency_ms.p99, row.latency_ms.mean, row.latency_ms.max,
        row.images_per_call, row.ImagesPerSecond(), row.elapsed_s,
        row.StartedPerSecond(), row.start_lag_ms.p50, row.start_lag_ms.p99,
        row.sent_latency_ms.p50, row.sent_latency_ms.p99,
        absl::StrJoin(errors, ", ")));
  }
  return absl::StrFormat(
      "{\n  \"support_size\": %d,\n  \"adaptation_bytes\": %d,\n"
      "  \"input\": \"%s\",\n  \"results\": [\n%s\n  ]\n}\n",
      report.support_size, report.adaptation_bytes, report.input,
      absl::StrJoin(rows, ",\n"));
}

}  // namespace

double BenchRow::StartedPerSecond() const {
  if (elapsed_s <= 0) return 0;
  int64_t started = ok;
  for (const auto& [code, count] : errors) started += count;
  return static_cast<double>(started) / elapsed_s;
}

absl::StatusOr<ReportFormat> ParseReportFormat(absl::string_view name) {
  if (name == "table") return ReportFormat::kTable;
  if (name == "csv") return ReportFormat::kCsv;
  if (name == "json") return ReportFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("format: expected table, csv or json, got \"", name, "\""));
}

std::string FormatReport(const BenchReport& report, ReportFormat format) {
  switch (format) {
    case ReportFormat::kTable:
      return FormatTable(report);
    case ReportFormat::kCsv:
      return FormatCsv(report);
    case ReportFormat::kJson:
      return FormatJson(report);
  }
  return "";
}

}  // namespace fewshot::client
