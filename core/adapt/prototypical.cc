// Prototypical Networks math and its AdaptationMethod.
#include "core/adapt/prototypical.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr char kPrototypes[] = "prototypes";
constexpr char kClassSums[] = "class_sums";
constexpr char kClassCounts[] = "class_counts";

// The per-class sums [C, D] and counts [C] of `embeddings` [n, D] with
// class indices `labels` [n].
std::pair<torch::Tensor, torch::Tensor> ClassSumsAndCounts(
    const torch::Tensor& embeddings, const torch::Tensor& labels,
    int64_t num_classes) {
  torch::Tensor sums =
      torch::zeros({num_classes, embeddings.size(1)}, embeddings.options())
          .index_add(0, labels, embeddings);
  torch::Tensor counts =
      torch::zeros({num_classes}, embeddings.options())
          .index_add(0, labels, torch::ones_like(labels, embeddings.options()));
  return {std::move(sums), std::move(counts)};
}

// The derived tensor `name` of `state`, or FAILED_PRECONDITION.
absl::StatusOr<torch::Tensor> DerivedTensor(const AdaptationState& state,
                                            const char* name) {
  const auto found = state.derived.find(name);
  if (found == state.derived.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "adaptation state has no ", name, "; build it with protonet first"));
  }
  return found->second;
}

// -|q - p|^2 for every query row q [Q, D] and prototype row p [C, D] with
// plain loops: for a served call's few queries this is far cheaper than
// the dozen LibTorch operators of the matrix form, and it is exact rather
// than |q|^2 - 2qp + |p|^2. Both inputs must be float32 CPU tensors.
torch::Tensor NegatedDistancesByLoops(const torch::Tensor& queries,
                                      const torch::Tensor& prototypes) {
  const torch::Tensor q_rows = queries.contiguous();
  const torch::Tensor p_rows = prototypes.contiguous();
  const int64_t query_count = q_rows.size(0);
  const int64_t class_count = p_rows.size(0);
  const int64_t dims = q_rows.size(1);
  torch::Tensor logits = torch::empty({query_count, class_count});

  const float* q_data = q_rows.data_ptr<float>();
  const float* p_data = p_rows.data_ptr<float>();
  float* out = logits.data_ptr<float>();
  for (int64_t q = 0; q < query_count; ++q) {
    const float* query = q_data + q * dims;
    for (int64_t c = 0; c < class_count; ++c) {
      const float* prototype = p_data + c * dims;
      float distance = 0.0f;
      for (int64_t d = 0; d < dims; ++d) {
        const float difference = query[d] - prototype[d];
        distance += difference * difference;
      }
      out[q * class_count + c] = -distance;
    }
  }
  return logits;
}

// True when `queries` against `prototypes` is small enough, and plain
// enough, for NegatedDistancesByLoops to beat the matrix form.
bool ScoreByLoops(const torch::Tensor& queries,
                  const torch::Tensor& prototypes) {
  constexpr int64_t kMaxMultiplies = 1 << 15;
  const bool plain = queries.device().is_cpu() &&
                     prototypes.device().is_cpu() &&
                     queries.scalar_type() == torch::kFloat32 &&
                     prototypes.scalar_type() == torch::kFloat32;
  return plain && queries.size(0) * prototypes.numel() <= kMaxMultiplies;
}

// Stores sums, counts and the prototypes they give into `state`.
void SetDerived(torch::Tensor sums, torch::Tensor counts,
                AdaptationState* state) {
  state->derived[kPrototypes] = sums / counts.unsqueeze(1);
  state->derived[kClassSums] = std::move(sums);
  state->derived[kClassCounts] = std::move(counts);
}

}  // namespace

torch::Tensor ComputePrototypes(const torch::Tensor& embeddings,
                                const torch::Tensor& labels,
                                int64_t num_classes) {
  const auto [sums, counts] =
      ClassSumsAndCounts(embeddings, labels, num_classes);
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
  absl::StatusOr<bool> built = CallTorch("computing prototypes", [&] {
    torch::NoGradGuard no_grad;
    auto [sums, class_counts] = ClassSumsAndCounts(
        state->support_embeddings, state->support_labels, state->num_classes());
    SetDerived(std::move(sums), std::move(class_counts), state);
    return true;
  });
  return built.status();
}

absl::Status PrototypicalMethod::Extend(AdaptationState* state,
                                        int64_t first_new_row) const {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor sums,
                           DerivedTensor(*state, kClassSums));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor counts,
                           DerivedTensor(*state, kClassCounts));
  absl::StatusOr<bool> extended = CallTorch("extending prototypes", [&] {
    torch::NoGradGuard no_grad;

    // Grow the tables by the new classes, then add only the new rows.
    const int64_t new_classes = state->num_classes() - sums.size(0);
    if (new_classes > 0) {
      sums = torch::cat(
          {sums, torch::zeros({new_classes, sums.size(1)}, sums.options())});
      counts =
          torch::cat({counts, torch::zeros({new_classes}, counts.options())});
    }
    const torch::Tensor rows =
        state->support_embeddings.slice(/*dim=*/0, first_new_row);
    const torch::Tensor labels =
        state->support_labels.slice(/*dim=*/0, first_new_row);
    sums = sums.index_add(0, labels, rows);
    counts =
        counts.index_add(0, labels, torch::ones_like(labels, counts.options()));
    SetDerived(std::move(sums), std::move(counts), state);
    return true;
  });
  return extended.status();
}

absl::Status PrototypicalMethod::Refit(
    AdaptationState* state, const std::vector<int64_t>& classes) const {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor sums,
                           DerivedTensor(*state, kClassSums));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor counts,
                           DerivedTensor(*state, kClassCounts));
  absl::StatusOr<bool> refit = CallTorch("refitting prototypes", [&] {
    torch::NoGradGuard no_grad;
    sums = sums.clone();
    counts = counts.clone();
    for (const int64_t c : classes) {
      const torch::Tensor rows =
          state->support_embeddings.index({state->support_labels == c});
      sums[c] = rows.sum(/*dim=*/0);
      counts[c] = rows.size(0);
    }
    SetDerived(std::move(sums), std::move(counts), state);
    return true;
  });
  return refit.status();
}

absl::Status PrototypicalMethod::DropClass(AdaptationState* state,
                                           int64_t removed) const {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor sums,
                           DerivedTensor(*state, kClassSums));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor counts,
                           DerivedTensor(*state, kClassCounts));
  absl::StatusOr<bool> dropped = CallTorch("dropping a class", [&] {
    const torch::Tensor keep =
        torch::arange(sums.size(0), torch::kInt64) != removed;
    SetDerived(sums.index({keep}), counts.index({keep}), state);
    return true;
  });
  return dropped.status();
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
    if (ScoreByLoops(queries, found->second)) {
      return NegatedDistancesByLoops(queries, found->second);
    }
    return PrototypicalLogits(queries, found->second);
  });
}

}  // namespace fewshot::core
