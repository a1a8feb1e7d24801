// Summarises the latencies of a set of calls: count, mean, maximum and
// nearest-rank percentiles, for fewshot-bench.
//
// Example:
//   LatencySummary summary = SummarizeLatencies({1.0, 2.0, 3.0, 4.0});
//   // summary.p50 == 2.0, summary.p99 == 4.0
#ifndef FEWSHOT_CLIENT_LATENCY_STATS_H_
#define FEWSHOT_CLIENT_LATENCY_STATS_H_

#include <cstdint>
#include <vector>

namespace fewshot::client {

// Latencies of a set of calls, in the unit they were given in (fewshot-bench
// uses milliseconds). Every field is zero when there were no calls.
struct LatencySummary {
  int64_t count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p95 = 0;
  double p99 = 0;
  double max = 0;
};

// NearestRankPercentile returns the smallest value of `sorted` such that at
// least `quantile` of all values are less than or equal to it; a quantile at
// or below 0 gives the smallest value.
// REQUIRES: `sorted` is non-empty and ascending; `quantile` <= 1.
double NearestRankPercentile(const std::vector<double>& sorted,
                             double quantile);

// SummarizeLatencies sorts `values` and summarises them.
LatencySummary SummarizeLatencies(std::vector<double> values);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_LATENCY_STATS_H_
