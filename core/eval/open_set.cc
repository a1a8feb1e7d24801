// False-reject and false-accept rates over thresholds, and the equal error
// point.
#include "core/eval/open_set.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"

namespace fewshot::core {
namespace {

// Rates at `threshold` from ascending confidence lists.
OpenSetPoint RatesOfSorted(const std::vector<double>& known,
                           const std::vector<double>& unknown,
                           double threshold) {
  OpenSetPoint point;
  point.threshold = threshold;
  const auto rejected_known =
      std::lower_bound(known.begin(), known.end(), threshold) - known.begin();
  const auto rejected_unknown =
      std::lower_bound(unknown.begin(), unknown.end(), threshold) -
      unknown.begin();
  if (!known.empty()) {
    point.false_reject_rate =
        static_cast<double>(rejected_known) / static_cast<double>(known.size());
  }
  if (!unknown.empty()) {
    point.false_accept_rate =
        static_cast<double>(unknown.size() - rejected_unknown) /
        static_cast<double>(unknown.size());
  }
  return point;
}

}  // namespace

OpenSetPoint RatesAtThreshold(const std::vector<double>& known_confidences,
                              const std::vector<double>& unknown_confidences,
                              double threshold) {
  std::vector<double> known = known_confidences;
  std::vector<double> unknown = unknown_confidences;
  std::sort(known.begin(), known.end());
  std::sort(unknown.begin(), unknown.end());
  return RatesOfSorted(known, unknown, threshold);
}

absl::StatusOr<OpenSetCurve> MeasureOpenSet(
    const std::vector<double>& known_confidences,
    const std::vector<double>& unknown_confidences,
    const std::vector<double>& thresholds) {
  if (known_confidences.empty() || unknown_confidences.empty()) {
    return absl::InvalidArgumentError(
        "open-set measurement needs at least one known and one unknown "
        "query confidence");
  }
  std::vector<double> known = known_confidences;
  std::vector<double> unknown = unknown_confidences;
  std::sort(known.begin(), known.end());
  std::sort(unknown.begin(), unknown.end());

  OpenSetCurve curve;
  for (double threshold : thresholds) {
    curve.points.push_back(RatesOfSorted(known, unknown, threshold));
  }

  // The false-reject rate only grows and the false-accept rate only falls
  // as the threshold rises, so the closest pair lies at one of the
  // confidences seen.
  std::vector<double> candidates = known;
  candidates.insert(candidates.end(), unknown.begin(), unknown.end());
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()),
                   candidates.end());
  double best_gap = 2.0;
  for (double threshold : candidates) {
    const OpenSetPoint point = RatesOfSorted(known, unknown, threshold);
    const double gap =
        std::abs(point.false_reject_rate - point.false_accept_rate);
    if (gap < best_gap) {
      best_gap = gap;
      curve.equal_error_threshold = threshold;
      curve.equal_error_rate =
          (point.false_reject_rate + point.false_accept_rate) / 2.0;
    }
  }
  return curve;
}

}  // namespace fewshot::core
