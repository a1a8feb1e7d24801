// Tests the output formats of fewshot-bench's load mode: format names, and
// the CSV and JSON of a row with errors.
#include "client/bench_report.h"

#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace fewshot::client {
namespace {

// One Predict row at concurrency 8 with three RESOURCE_EXHAUSTED.
BenchReport OneRowReport() {
  BenchReport report;
  report.support_size = 25;
  report.adaptation_bytes = 9792;
  BenchRow row;
  row.rpc = "predict";
  row.concurrency = 8;
  row.ok = 97;
  row.throughput = 485.5;
  row.latency_ms.p50 = 1.5;
  row.latency_ms.p90 = 2;
  row.latency_ms.p95 = 2.5;
  row.latency_ms.p99 = 4;
  row.latency_ms.mean = 1.75;
  row.errors[absl::StatusCode::kResourceExhausted] = 3;
  report.rows.push_back(row);
  return report;
}

TEST(ParseReportFormatTest, KnowsThreeFormats) {
  EXPECT_EQ(*ParseReportFormat("table"), ReportFormat::kTable);
  EXPECT_EQ(*ParseReportFormat("csv"), ReportFormat::kCsv);
  EXPECT_EQ(*ParseReportFormat("json"), ReportFormat::kJson);
  EXPECT_EQ(ParseReportFormat("xml").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FormatReportTest, CsvHasHeaderAndOneLinePerRow) {
  EXPECT_EQ(FormatReport(OneRowReport(), ReportFormat::kCsv),
            "rpc,concurrency,rate,ok,throughput,p50_ms,p90_ms,p95_ms,p99_ms,"
            "mean_ms,errors,adaptation_bytes\n"
            "predict,8,0,97,485.500,1.500,2.000,2.500,4.000,1.750,"
            "RESOURCE_EXHAUSTED:3,9792\n");
}

TEST(FormatReportTest, JsonCountsErrorsByCode) {
  const std::string json = FormatReport(OneRowReport(), ReportFormat::kJson);

  EXPECT_NE(json.find("\"adaptation_bytes\": 9792"), std::string::npos);
  EXPECT_NE(json.find("\"errors\": {\"RESOURCE_EXHAUSTED\": 3}"),
            std::string::npos);
  EXPECT_NE(json.find("\"p95_ms\": 2.500"), std::string::npos);
}

TEST(FormatReportTest, TableShowsSizeAndErrors) {
  const std::string table = FormatReport(OneRowReport(), ReportFormat::kTable);

  EXPECT_NE(table.find("9792 bytes"), std::string::npos);
  EXPECT_NE(table.find("RESOURCE_EXHAUSTED:3"), std::string::npos);
}

}  // namespace
}  // namespace fewshot::client
