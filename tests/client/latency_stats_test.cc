// Tests the latency summary of fewshot-bench: nearest-rank percentiles,
// mean and maximum, and the empty case.
#include "client/latency_stats.h"

#include <vector>

#include "gtest/gtest.h"

namespace fewshot::client {
namespace {

TEST(NearestRankPercentileTest, PicksSmallestValueCoveringQuantile) {
  const std::vector<double> sorted = {10, 20, 30, 40};

  EXPECT_EQ(NearestRankPercentile(sorted, 0.0), 10);
  EXPECT_EQ(NearestRankPercentile(sorted, 0.25), 10);
  EXPECT_EQ(NearestRankPercentile(sorted, 0.5), 20);
  EXPECT_EQ(NearestRankPercentile(sorted, 0.51), 30);
  EXPECT_EQ(NearestRankPercentile(sorted, 0.99), 40);
  EXPECT_EQ(NearestRankPercentile(sorted, 1.0), 40);
}

TEST(SummarizeLatenciesTest, OneToHundred) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);

  const LatencySummary summary = SummarizeLatencies(values);

  EXPECT_EQ(summary.count, 100);
  EXPECT_DOUBLE_EQ(summary.mean, 50.5);
  EXPECT_EQ(summary.p50, 50);
  EXPECT_EQ(summary.p90, 90);
  EXPECT_EQ(summary.p95, 95);
  EXPECT_EQ(summary.p99, 99);
  EXPECT_EQ(summary.max, 100);
}

TEST(SummarizeLatenciesTest, SingleValueIsEveryPercentile) {
  const LatencySummary summary = SummarizeLatencies({7.5});

  EXPECT_EQ(summary.count, 1);
  EXPECT_EQ(summary.p50, 7.5);
  EXPECT_EQ(summary.p99, 7.5);
  EXPECT_EQ(summary.max, 7.5);
}

TEST(SummarizeLatenciesTest, EmptyIsAllZero) {
  const LatencySummary summary = SummarizeLatencies({});

  EXPECT_EQ(summary.count, 0);
  EXPECT_EQ(summary.mean, 0);
  EXPECT_EQ(summary.p50, 0);
  EXPECT_EQ(summary.p99, 0);
}

}  // namespace
}  // namespace fewshot::client
