// Prototypical Networks (Snell et al., 2017): each class is the mean of its
// support embeddings, and a query scores each class by the negative squared
// Euclidean distance to that mean. The state keeps per-class sums and
// counts beside the prototypes, so that added examples update them in
// O(new examples) and a removal recomputes only the affected classes.
#ifndef FEWSHOT_CORE_ADAPT_PROTOTYPICAL_H_
#define FEWSHOT_CORE_ADAPT_PROTOTYPICAL_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/adapt/adaptation_method.h"

namespace fewshot::core {

// Class means: embeddings [n, D], labels int64 [n] in 0..num_classes-1 ->
// prototypes [num_classes, D]. Differentiable, so training uses it too.
torch::Tensor ComputePrototypes(const torch::Tensor& embeddings,
                                const torch::Tensor& labels,
                                int64_t num_classes);

// Squared Euclidean distances between rows: a [n, D], b [m, D] -> [n, m].
torch::Tensor SquaredEuclideanDistances(const torch::Tensor& a,
                                        const torch::Tensor& b);

// Scores (logits) of queries against prototypes: -distance, [q, classes].
torch::Tensor PrototypicalLogits(const torch::Tensor& queries,
                                 const torch::Tensor& prototypes);

class PrototypicalMethod final : public AdaptationMethod {
 public:
  static constexpr char kName[] = "protonet";

  explicit PrototypicalMethod(
      TemperatureSchedule temperatures = TemperatureSchedule())
      : temperatures_(std::move(temperatures)) {}

  const std::string& name() const override { return name_; }
  const TemperatureSchedule& temperatures() const override {
    return temperatures_;
  }
  absl::Status Build(AdaptationState* state) const override;
  absl::Status Extend(AdaptationState* state,
                      int64_t first_new_row) const override;
  absl::Status Refit(AdaptationState* state,
                     const std::vector<int64_t>& classes) const override;
  absl::Status DropClass(AdaptationState* state,
                         int64_t removed) const override;
  absl::StatusOr<torch::Tensor> Score(
      const AdaptationState& state,
      const torch::Tensor& queries) const override;

 private:
  const std::string name_ = kName;
  const TemperatureSchedule temperatures_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_PROTOTYPICAL_H_
