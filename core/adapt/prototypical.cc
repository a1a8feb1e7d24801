// Prototypical Networks math and its AdaptationMethod.
#include "core/adapt/prototypical.h"

#include "absl/strings/str_cat.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr char kPrototypes[] = "prototypes";

}  // namespace

torch::Tensor ComputePrototypes(const torch::Tensor& embeddings,
                                const torch::Tensor& labels,
                                int64_t num_classes) {
  const torch::Tensor sums =
      torch::zeros({num_classes, embeddings.size(1)}, embeddings.options())
          .index_add(0, labels, embeddings);
  const torch::Tensor counts =
      torch::zeros({num_classes}, embeddings.options())
          .index_add(0, labels, torch::ones_like(labels, embeddings.options()));
  return sums / counts.unsqueeze(1);
}

torch::Tensor SquaredEuclideanDistances(const torch::Tensor& a,
                                        const torch::Tensor& b) {
  // |a|^2 - 2ab + |b|^2, clamped at 0 against rounding.
  const torch::Tensor a_norms = a.pow(2).sum(1, /*keepdim=*/true);
  const torch::Tensor b_norms = b.pow(2).sum(1).unsqueeze(0);
  return (a_norms - 2.0 * a.matmul(b.t()) + b_norms).clamp_min(0.0);
}

torch::Tensor PrototypicalLogits(const torch::Tensor& queries,
                                 const torch::Tensor& prototypes) {
  return -SquaredEuclideanDistances(queries, prototypes);
}

absl::Status PrototypicalMethod::Build(AdaptationState* state) const {
  const std::vector<int64_t> counts = state->ClassCounts();
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class '", state->labels[c], "' has no support examples"));
    }
  }
  absl::StatusOr<torch::Tensor> prototypes =
      CallTorch("computing prototypes", [&] {
        torch::NoGradGuard no_grad;
        return ComputePrototypes(state->support_embeddings,
                                 state->support_labels,
                                 state->num_classes());
      });
  if (!prototypes.ok()) return prototypes.status();
  state->derived[kPrototypes] = *std::move(prototypes);
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> PrototypicalMethod::Score(
    const AdaptationState& state, const torch::Tensor& queries) const {
  const auto found = state.derived.find(kPrototypes);
  if (found == state.derived.end()) {
    return absl::FailedPreconditionError(
        "adaptation state has no prototypes; build it with protonet first");
  }
  if (queries.dim() != 2 || queries.size(1) != found->second.size(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query embeddings must be [q, ", found->second.size(1), "]"));
  }
  return CallTorch("scoring queries", [&] {
    torch::NoGradGuard no_grad;
    return PrototypicalLogits(queries, found->second);
  });
}

}  // namespace fewshot::core
