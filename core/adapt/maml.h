// Optimisation-based adaptation in the spirit of Proto-MAML and ANIL: the
// support embeddings go through a meta-learned linear projection, a linear
// classifier head starts from the class prototypes of the projected support
// (weights 2p, bias -|p|^2, so that it first scores like Prototypical
// Networks), and then takes a few gradient steps of cross-entropy on the
// support set with meta-learned per-step learning rates.
//
// The meta-learned tensors are shared by every request and never written:
// each adaptation fine-tunes its own copy, kept in the state. Because the
// fine-tuning depends on every support row, Extend, Refit and DropClass
// re-run it from the prototypes, at O(steps * rows * classes * P) each.
//
// Example:
//   absl::StatusOr<std::unique_ptr<MamlMethod>> maml =
//       MamlMethod::Create(bundle.heads.at("maml"), *spec);
//   SetMamlOptions({.steps = 10}, &state);
//   absl::Status built = (*maml)->Build(&state);
#ifndef FEWSHOT_CORE_ADAPT_MAML_H_
#define FEWSHOT_CORE_ADAPT_MAML_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"
#include "core/bundle/model_bundle.h"

namespace fewshot::core {

// Bounds of the per-request options.
inline constexpr int kMaxMamlSteps = 100;
inline constexpr double kMaxMamlStepSize = 10.0;
// Inner steps when neither the request nor the bundle says.
inline constexpr int kDefaultMamlSteps = 5;

// Per-request fine-tuning settings; 0 means the bundle's default (steps)
// or the meta-learned schedule (step size).
struct MamlOptions {
  int steps = 0;
  double step_size = 0.0;
};

// INVALID_ARGUMENT naming the bound unless 0 <= steps <= kMaxMamlSteps and
// 0 <= step_size <= kMaxMamlStepSize.
absl::Status ValidateMamlOptions(const MamlOptions& options);

// Records `options` in `state` so that Build and later edits use them.
// REQUIRES: ValidateMamlOptions(options) is OK.
void SetMamlOptions(const MamlOptions& options, AdaptationState* state);

// The meta-learned tensors. Names in the head file: "projection.weight",
// "projection.bias", "log_step_sizes".
struct MamlHead {
  torch::Tensor projection_weight;  // [P, D]
  torch::Tensor projection_bias;    // [P]
  torch::Tensor log_step_sizes;     // [K]: step k uses exp(log_step_sizes[k])
};

// A fresh head for an embedding size D: identity projection, every step
// size `step_size`, `schedule_length` steps.
MamlHead InitialMamlHead(int64_t embedding_size, int64_t schedule_length,
                         double step_size);

HeadParameters MamlHeadToParameters(const MamlHead& head);
// INVALID_ARGUMENT when a tensor is missing or the shapes disagree.
absl::StatusOr<MamlHead> MamlHeadFromParameters(const HeadParameters& head);

// features = embeddings [n, D] projected to [n, P].
torch::Tensor ProjectMaml(const MamlHead& head,
                          const torch::Tensor& embeddings);

// A linear classifier: logits = features * weight^T + bias.
struct LinearHead {
  torch::Tensor weight;  // [C, P]
  torch::Tensor bias;    // [C]
};

// The per-step learning rates [steps]: `step_size` for every step when it
// is > 0, else the meta-learned schedule, whose last rate repeats past its
// end. Differentiable in head.log_step_sizes.
torch::Tensor MamlStepSizes(const MamlHead& head, int steps, double step_size);

// Starts from the prototypes of `features` [n, P] (labels int64 [n] in
// 0..num_classes-1) and takes one cross-entropy gradient step per entry of
// `step_sizes`. With `create_graph` the result stays differentiable through
// the steps (second order, for meta-training); otherwise it is detached.
// Must run with gradients enabled.
LinearHead FineTuneLinearHead(const torch::Tensor& features,
                              const torch::Tensor& labels, int64_t num_classes,
                              const torch::Tensor& step_sizes,
                              bool create_graph);

class MamlMethod final : public AdaptationMethod {
 public:
  static constexpr char kName[] = "maml";

  // `spec.hyperparameters["steps"]` sets the default step count.
  // INVALID_ARGUMENT when the head or the hyper-parameters are bad.
  static absl::StatusOr<std::unique_ptr<MamlMethod>> Create(
      const HeadParameters& parameters, const MethodSpec& spec);

  const std::string& name() const override { return name_; }
  const TemperatureSchedule& temperatures() const override {
    return temperatures_;
  }
  int default_steps() const { return default_steps_; }
  // The shared meta-learned tensors (never written after Create).
  const MamlHead& head() const { return head_; }

  absl::Status Build(AdaptationState* state) const override;
  bool BuildTrains() const override { return true; }
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
  MamlMethod(MamlHead head, int default_steps, TemperatureSchedule temperatures)
      : head_(std::move(head)),
        default_steps_(default_steps),
        temperatures_(std::move(temperatures)) {}

  const std::string name_ = kName;
  const MamlHead head_;
  const int default_steps_;
  const TemperatureSchedule temperatures_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_MAML_H_
