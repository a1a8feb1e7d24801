// Matching-Networks style attention over the support set, and its
// AdaptationMethod.
#include "core/adapt/attention.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr char kQueryWeight[] = "query.weight";
constexpr char kKeyWeight[] = "key.weight";
constexpr char kContextWeight[] = "context.weight";
constexpr char kLogScale[] = "log_scale";

// What the state keeps: the support keys with set context.
constexpr char kKeys[] = "attention.keys";

// Smallest attention mass a class gets, so that its log stays finite.
constexpr double kMinMass = 1e-30;

}  // namespace

AttentionHead InitialAttentionHead(int64_t embedding_size,
                                   int64_t attention_size) {
  const double spread = 1.0 / std::sqrt(static_cast<double>(embedding_size));
  AttentionHead head;
  head.query_weight = torch::randn({attention_size, embedding_size}) * spread;
  head.key_weight = head.query_weight.clone();
  head.context_weight = torch::zeros({attention_size, attention_size});
  head.log_scale = torch::full({1}, static_cast<float>(std::log(10.0)));
  return head;
}

HeadParameters AttentionHeadToParameters(const AttentionHead& head) {
  return {{kQueryWeight, head.query_weight},
          {kKeyWeight, head.key_weight},
          {kContextWeight, head.context_weight},
          {kLogScale, head.log_scale}};
}

absl::StatusOr<AttentionHead> AttentionHeadFromParameters(
    const HeadParameters& head) {
  AttentionHead out;
  for (const auto& [name, tensor] :
       {std::pair<const char*, torch::Tensor*>{kQueryWeight, &out.query_weight},
        {kKeyWeight, &out.key_weight},
        {kContextWeight, &out.context_weight},
        {kLogScale, &out.log_scale}}) {
    const auto found = head.find(name);
    if (found == head.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention head has no tensor '", name, "'"));
    }
    *tensor = found->second.detach().to(torch::kFloat32).contiguous();
  }
  const torch::Tensor& q = out.query_weight;
  if (q.dim() != 2 || out.key_weight.sizes() != q.sizes() ||
      out.context_weight.dim() != 2 ||
      out.context_weight.size(0) != q.size(0) ||
      out.context_weight.size(1) != q.size(0) || out.log_scale.numel() != 1) {
    return absl::InvalidArgumentError(
        "attention head shapes disagree: want query.weight and key.weight "
        "[A, D], context.weight [A, A] and log_scale [1]");
  }
  return out;
}

torch::Tensor AttentionKeys(const AttentionHead& head,
                            const torch::Tensor& support) {
  const torch::Tensor keys = support.matmul(head.key_weight.t());
  const double scale = 1.0 / std::sqrt(static_cast<double>(keys.size(1)));
  const torch::Tensor mixing =
      torch::softmax(keys.matmul(keys.t()) * scale, /*dim=*/1);
  return keys + mixing.matmul(keys).matmul(head.context_weight.t());
}

torch::Tensor AttentionScores(const AttentionHead& head,
                              const torch::Tensor& keys,
                              const torch::Tensor& labels, int64_t num_classes,
                              const torch::Tensor& queries) {
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  const torch::Tensor logits =
      F::normalize(queries.matmul(head.query_weight.t()), unit)
          .matmul(F::normalize(keys, unit).t())
          .mul(head.log_scale.exp());
  // Per-class sums of exp(logits), shifted by the row maximum.
  const torch::Tensor top = std::get<0>(logits.max(/*dim=*/1,
                                                   /*keepdim=*/true));
  const torch::Tensor weights = (logits - top).exp();
  const torch::Tensor mass =
      torch::zeros({logits.size(0), num_classes}, logits.options())
          .index_add(1, labels, weights);
  return (mass / mass.sum(1, /*keepdim=*/true)).clamp_min(kMinMass).log();
}

absl::StatusOr<std::unique_ptr<AttentionMethod>> AttentionMethod::Create(
    const HeadParameters& parameters, const MethodSpec& spec) {
  FEWSHOT_ASSIGN_OR_RETURN(AttentionHead head,
                           AttentionHeadFromParameters(parameters));
  return std::unique_ptr<AttentionMethod>(new AttentionMethod(
      std::move(head), TemperatureSchedule::FromSpec(spec)));
}

absl::Status AttentionMethod::Build(AdaptationState* state) const {
  const std::vector<int64_t> counts = state->ClassCounts();
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class '", state->labels[c], "' has no support examples"));
    }
  }
  const int64_t size = head_.key_weight.size(1);
  if (!state->support_embeddings.defined() ||
      state->support_embeddings.dim() != 2 ||
      state->support_embeddings.size(1) != size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "support embeddings must be [n, ", size, "] for attention"));
  }
  FEWSHOT_ASSIGN_OR_RETURN(
      state->derived[kKeys], CallTorch("computing attention keys", [&] {
        torch::NoGradGuard no_grad;
        return AttentionKeys(head_, state->support_embeddings);
      }));
  return absl::OkStatus();
}

absl::Status AttentionMethod::Extend(AdaptationState* state,
                                     int64_t /*first_new_row*/) const {
  return Build(state);
}

absl::Status AttentionMethod::Refit(
    AdaptationState* state, const std::vector<int64_t>& /*classes*/) const {
  return Build(state);
}

absl::Status AttentionMethod::DropClass(AdaptationState* state,
                                        int64_t /*removed*/) const {
  return Build(state);
}

absl::StatusOr<torch::Tensor> AttentionMethod::Score(
    const AdaptationState& state, const torch::Tensor& queries) const {
  const auto found = state.derived.find(kKeys);
  if (found == state.derived.end()) {
    return absl::FailedPreconditionError(
        "adaptation state has no attention keys; build it with attention "
        "first");
  }
  const int64_t size = head_.query_weight.size(1);
  if (queries.dim() != 2 || queries.size(1) != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("query embeddings must be [q, ", size, "]"));
  }
  if (found->second.size(0) != state.support_labels.size(0)) {
    return absl::FailedPreconditionError(
        "adaptation state's attention keys do not match its support rows");
  }
  return CallTorch("scoring queries with attention", [&] {
    torch::NoGradGuard no_grad;
    return AttentionScores(head_, found->second, state.support_labels,
                           state.num_classes(), queries);
  });
}

}  // namespace fewshot::core
