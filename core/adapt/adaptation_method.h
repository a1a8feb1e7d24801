// The seam between adaptation families. A method turns support embeddings
// into state and scores query embeddings against that state; it never
// touches the encoder unless it says so.
#ifndef FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_
#define FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/adapt/adaptation_state.h"
#include "core/adapt/temperature_schedule.h"

namespace fewshot::core {

// Implementations are immutable after construction and thread-safe.
class AdaptationMethod {
 public:
  virtual ~AdaptationMethod() = default;

  // The name clients use to pick the method, e.g. "protonet".
  virtual const std::string& name() const = 0;

  // Fills `state->derived` from its labels, support embeddings and support
  // labels. REQUIRES: every class index has at least one support row.
  virtual absl::Status Build(AdaptationState* state) const = 0;

  // True when Build() takes gradient steps instead of a few tensor
  // operations over the support embeddings, so that a server runs it on a
  // worker rather than on the thread that serves the request.
  virtual bool BuildTrains() const { return false; }

  // Updates `state->derived` after support rows [first_new_row, n) were
  // appended (their classes may be new, appended to `state->labels`).
  // Costs O(new rows), not O(all rows). REQUIRES: `state->derived` was
  // built by this method for the rows before first_new_row.
  virtual absl::Status Extend(AdaptationState* state,
                              int64_t first_new_row) const = 0;

  // Recomputes `state->derived` for class indices `classes` only, after
  // some of their support rows were removed. REQUIRES: each of them still
  // has a row.
  virtual absl::Status Refit(AdaptationState* state,
                             const std::vector<int64_t>& classes) const = 0;

  // Drops class index `removed` from `state->derived` after its rows and
  // label were removed and the later class indices shifted down by one.
  virtual absl::Status DropClass(AdaptationState* state,
                                 int64_t removed) const = 0;

  // Scores are divided by its temperature for a state before the softmax
  // that turns them into probabilities (calibrated values from the bundle;
  // 1 by default).
  virtual const TemperatureSchedule& temperatures() const = 0;

  // Returns float [q, num_classes] scores for query embeddings [q, D];
  // higher means more likely. Softmax of a row divided by
  // temperatures().For(state) gives probabilities.
  virtual absl::StatusOr<torch::Tensor> Score(
      const AdaptationState& state, const torch::Tensor& queries) const = 0;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_
