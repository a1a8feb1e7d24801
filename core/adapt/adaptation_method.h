// The seam between adaptation families. A method turns support embeddings
// into state and scores query embeddings against that state; it never
// touches the encoder unless it says so.
#ifndef FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_
#define FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/adapt/adaptation_state.h"

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

  // Returns float [q, num_classes] scores for query embeddings [q, D];
  // higher means more likely. Softmax of a row gives probabilities.
  virtual absl::StatusOr<torch::Tensor> Score(
      const AdaptationState& state, const torch::Tensor& queries) const = 0;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ADAPTATION_METHOD_H_
