// Tests the output formats of fewshot-bench's load mode: format names, the
// CSV and JSON of a row with errors, and the per-row derived rates.
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
  row.images_per_call = 10;
  row.elapsed_s = 0.2;
  report.input = "tensor";
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
            "mean_ms,errors,adaptation_bytes,images_per_call,elapsed_s,input\n"
            "predict,8,0,97,485.500,1.500,2.000,2.500,4.000,1.750,"
            "RESOURCE_EXHAUSTED:3,9792,10,0.200,tensor\n");
}

TEST(BenchRowTest, CountsImagesAndStartedCalls) {
  const BenchRow row = OneRowReport().rows.front();

  EXPECT_DOUBLE_EQ(row.ImagesPerSecond(), 4855.0);
  // 97 successful and 3 failed calls in 0.2 s.
  EXPECT_DOUBLE_EQ(row.StartedPerSecond(), 500.0);
}

TEST(BenchRowTest, StartedPerSecondIsZeroWithoutElapsedTime) {
  BenchRow row;
  row.ok = 5;

  EXPECT_EQ(row.StartedPerSecond(), 0.0);
}

TEST(FormatReportTest, JsonCountsErrorsByCode) {
  const std::string json = FormatReport(OneRowReport(), ReportFormat::kJson);

  EXPECT_NE(json.find("\"adaptation_bytes\": 9792"), std::string::npos);
  EXPECT_NE(json.find("\"errors\": {\"RESOURCE_EXHAUSTED\": 3}"),
            std::string::npos);
  EXPECT_NE(json.find("\"p95_ms\": 2.500"), std::string::npos);
  EXPECT_NE(json.find("\"images_per_s\": 4855.0"), std::string::npos);
  EXPECT_NE(json.find("\"started_per_s\": 500.0"), std::string::npos);
  EXPECT_NE(json.find("\"input\": \"tensor\""), std::string::npos);
}

TEST(FormatReportTest, TableShowsSizeAndErrors) {
  const std::string table = FormatReport(OneRowReport(), ReportFormat::kTable);

  EXPECT_NE(table.find("9792 bytes"), std::string::npos);
  EXPECT_NE(table.find("RESOURCE_EXHAUSTED:3"), std::string::npos);
  EXPECT_NE(table.find("sent as tensor"), std::string::npos);
  EXPECT_NE(table.find("4855.0"), std::string::npos);
}

}  // namespace
}  // namespace fewshot::client
