// Implements the latency summary of fewshot-bench: nearest-rank percentiles
// over a sorted copy of the values.
#include "client/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

namespace fewshot::client {
namespace {

// Slack for quantile * size landing a rounding error above an integer.
constexpr double kRankEpsilon = 1e-9;

}  // namespace

double NearestRankPercentile(const std::vector<double>& sorted,
                             double quantile) {
  const double rank =
      std::ceil(quantile * static_cast<double>(sorted.size()) - kRankEpsilon);
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

LatencySummary SummarizeLatencies(std::vector<double> values) {
  LatencySummary summary;
  if (values.empty()) return summary;

  std::sort(values.begin(), values.end());
  summary.count = static_cast<int64_t>(values.size());
  summary.mean = std::accumulate(values.begin(), values.end(), 0.0) /
                 static_cast<double>(values.size());
  summary.p50 = NearestRankPercentile(values, 0.50);
  summary.p90 = NearestRankPercentile(values, 0.90);
  summary.p95 = NearestRankPercentile(values, 0.95);
  summary.p99 = NearestRankPercentile(values, 0.99);
  summary.max = values.back();
  return summary;
}

}  // namespace fewshot::client
