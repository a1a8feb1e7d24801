// Open-set rejection: how well a threshold t on the top-1 probability
// separates queries of the support set's classes (known) from queries of
// classes outside it (unknown). A known query with confidence < t is falsely
// rejected; an unknown query with confidence >= t is falsely accepted.
//
// Example:
//   OpenSetCurve curve = MeasureOpenSet(known_confidences,
//                                       unknown_confidences,
//                                       {0.5, 0.7, 0.9});
//   // curve.points[i].false_reject_rate, curve.equal_error_threshold
#ifndef FEWSHOT_CORE_EVAL_OPEN_SET_H_
#define FEWSHOT_CORE_EVAL_OPEN_SET_H_

#include <vector>

#include "absl/status/statusor.h"

namespace fewshot::core {

struct OpenSetPoint {
  double threshold = 0.0;
  // Known queries with confidence < threshold, over all known queries.
  double false_reject_rate = 0.0;
  // Unknown queries with confidence >= threshold, over all unknown queries.
  double false_accept_rate = 0.0;
};

struct OpenSetCurve {
  // One point per requested threshold, in the order given.
  std::vector<OpenSetPoint> points;
  // The threshold, among every distinct confidence seen, where the two
  // rates are closest, and their mean there (the equal error rate).
  double equal_error_threshold = 0.0;
  double equal_error_rate = 0.0;
};

// Rejection rates of one threshold.
OpenSetPoint RatesAtThreshold(const std::vector<double>& known_confidences,
                              const std::vector<double>& unknown_confidences,
                              double threshold);

// The table for `thresholds` and the equal error point. Returns
// INVALID_ARGUMENT when either confidence list is empty.
absl::StatusOr<OpenSetCurve> MeasureOpenSet(
    const std::vector<double>& known_confidences,
    const std::vector<double>& unknown_confidences,
    const std::vector<double>& thresholds);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_EVAL_OPEN_SET_H_
