// Model-based adaptation in the style of Matching Networks: learned key and
// query projections of the embeddings, one self-attention layer over the
// support set that adds set context to every key, and for each query an
// attention distribution over the support rows: a softmax of the scaled
// cosine similarities of the projected query and keys. A class's score is
// the log of the attention mass on its rows, so the softmax of the scores
// is that mass itself.
//
// Every key depends on the whole support set (through the self-attention),
// so Extend, Refit and DropClass recompute all keys: O(rows^2 * A).
//
// Example:
//   absl::StatusOr<std::unique_ptr<AttentionMethod>> attention =
//       AttentionMethod::Create(bundle.heads.at("attention"), *spec);
#ifndef FEWSHOT_CORE_ADAPT_ATTENTION_H_
#define FEWSHOT_CORE_ADAPT_ATTENTION_H_

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

// The meta-learned tensors. Names in the head file: "query.weight",
// "key.weight", "context.weight", "log_scale".
struct AttentionHead {
  torch::Tensor query_weight;    // [A, D]
  torch::Tensor key_weight;      // [A, D]
  torch::Tensor context_weight;  // [A, A]
  // [1]: the cosine similarities are multiplied by exp(log_scale).
  torch::Tensor log_scale;
};

// A fresh head for embedding size D and attention size A, seeded by the
// caller's generator state: one random projection for both queries and
// keys, no context, scale 10.
AttentionHead InitialAttentionHead(int64_t embedding_size,
                                   int64_t attention_size);

HeadParameters AttentionHeadToParameters(const AttentionHead& head);
// INVALID_ARGUMENT when a tensor is missing or the shapes disagree.
absl::StatusOr<AttentionHead> AttentionHeadFromParameters(
    const HeadParameters& head);

// Keys [n, A] of the support embeddings [n, D], with set context.
torch::Tensor AttentionKeys(const AttentionHead& head,
                            const torch::Tensor& support);

// Scores [q, num_classes]: log of the attention mass each query [q, D]
// puts on each class's rows (keys [n, A], labels int64 [n]).
// Differentiable, so training uses it too.
torch::Tensor AttentionScores(const AttentionHead& head,
                              const torch::Tensor& keys,
                              const torch::Tensor& labels, int64_t num_classes,
                              const torch::Tensor& queries);

class AttentionMethod final : public AdaptationMethod {
 public:
  static constexpr char kName[] = "attention";

  // INVALID_ARGUMENT when the head is bad.
  static absl::StatusOr<std::unique_ptr<AttentionMethod>> Create(
      const HeadParameters& parameters, const MethodSpec& spec);

  const std::string& name() const override { return name_; }
  const TemperatureSchedule& temperatures() const override {
    return temperatures_;
  }
  const AttentionHead& head() const { return head_; }

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
  AttentionMethod(AttentionHead head, TemperatureSchedule temperatures)
      : head_(std::move(head)), temperatures_(std::move(temperatures)) {}

  const std::string name_ = kName;
  const AttentionHead head_;
  const TemperatureSchedule temperatures_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ATTENTION_H_
