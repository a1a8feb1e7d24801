// Proto-MAML style fine-tuning of a linear head, and its AdaptationMethod.
#include "core/adapt/maml.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/adapt/prototypical.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr char kProjectionWeight[] = "projection.weight";
constexpr char kProjectionBias[] = "projection.bias";
constexpr char kLogStepSizes[] = "log_step_sizes";

// What the state keeps: the request's options and the fine-tuned head.
constexpr char kSteps[] = "maml.steps";
constexpr char kStepSize[] = "maml.step_size";
constexpr char kWeight[] = "maml.weight";
constexpr char kBias[] = "maml.bias";

absl::StatusOr<torch::Tensor> Derived(const AdaptationState& state,
                                      const char* name) {
  const auto found = state.derived.find(name);
  if (found == state.derived.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "adaptation state has no ", name, "; build it with maml first"));
  }
  return found->second;
}

}  // namespace

absl::Status ValidateMamlOptions(const MamlOptions& options) {
  if (options.steps < 0 || options.steps > kMaxMamlSteps) {
    return absl::InvalidArgumentError(
        absl::StrCat("maml.steps is ", options.steps, "; it must be in [0, ",
                     kMaxMamlSteps, "] (0 = the model's default)"));
  }
  if (!(options.step_size >= 0.0 && options.step_size <= kMaxMamlStepSize)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maml.step_size is ", options.step_size, "; it must be in [0, ",
        kMaxMamlStepSize, "] (0 = the meta-learned schedule)"));
  }
  return absl::OkStatus();
}

void SetMamlOptions(const MamlOptions& options, AdaptationState* state) {
  state->derived[kSteps] = torch::tensor({int64_t{options.steps}});
  state->derived[kStepSize] =
      torch::tensor({static_cast<float>(options.step_size)});
}

MamlHead InitialMamlHead(int64_t embedding_size, int64_t schedule_length,
                         double step_size) {
  MamlHead head;
  head.projection_weight = torch::eye(embedding_size);
  head.projection_bias = torch::zeros({embedding_size});
  head.log_step_sizes =
      torch::full({schedule_length}, static_cast<float>(std::log(step_size)));
  return head;
}

HeadParameters MamlHeadToParameters(const MamlHead& head) {
  return {{kProjectionWeight, head.projection_weight},
          {kProjectionBias, head.projection_bias},
          {kLogStepSizes, head.log_step_sizes}};
}

absl::StatusOr<MamlHead> MamlHeadFromParameters(const HeadParameters& head) {
  MamlHead out;
  for (const auto& [name, tensor] :
       {std::pair<const char*, torch::Tensor*>{kProjectionWeight,
                                               &out.projection_weight},
        {kProjectionBias, &out.projection_bias},
        {kLogStepSizes, &out.log_step_sizes}}) {
    const auto found = head.find(name);
    if (found == head.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("maml head has no tensor '", name, "'"));
    }
    *tensor = found->second.detach().to(torch::kFloat32).contiguous();
  }
  if (out.projection_weight.dim() != 2 || out.projection_bias.dim() != 1 ||
      out.projection_bias.size(0) != out.projection_weight.size(0) ||
      out.log_step_sizes.dim() != 1 || out.log_step_sizes.size(0) < 1) {
    return absl::InvalidArgumentError(
        "maml head shapes disagree: want projection.weight [P, D], "
        "projection.bias [P] and log_step_sizes [K >= 1]");
  }
  return out;
}

torch::Tensor ProjectMaml(const MamlHead& head,
                          const torch::Tensor& embeddings) {
  return torch::addmm(head.projection_bias, embeddings,
                      head.projection_weight.t());
}

torch::Tensor MamlStepSizes(const MamlHead& head, int steps, double step_size) {
  if (step_size > 0.0) {
    return torch::full({steps}, static_cast<float>(step_size));
  }
  const int64_t learned = head.log_step_sizes.size(0);
  const torch::Tensor index =
      torch::arange(steps, torch::kInt64).clamp_max(learned - 1);
  return head.log_step_sizes.index_select(0, index).exp();
}

LinearHead FineTuneLinearHead(const torch::Tensor& features,
                              const torch::Tensor& labels, int64_t num_classes,
                              const torch::Tensor& step_sizes,
                              bool create_graph) {
  const torch::Tensor prototypes =
      ComputePrototypes(features, labels, num_classes);
  torch::Tensor weight = 2.0 * prototypes;
  torch::Tensor bias = -prototypes.pow(2).sum(1);
  if (!create_graph) {
    weight = weight.detach().requires_grad_(true);
    bias = bias.detach().requires_grad_(true);
  }
  const torch::Tensor support = create_graph ? features : features.detach();
  for (int64_t step = 0; step < step_sizes.size(0); ++step) {
    const torch::Tensor logits = torch::addmm(bias, support, weight.t());
    const torch::Tensor loss = torch::cross_entropy_loss(logits, labels);
    const std::vector<torch::Tensor> grads =
        torch::autograd::grad({loss}, {weight, bias}, /*grad_outputs=*/{},
                              /*retain_graph=*/create_graph,
                              /*create_graph=*/create_graph);
    const torch::Tensor rate = step_sizes[step];
    weight = weight - rate * grads[0];
    bias = bias - rate * grads[1];
    if (!create_graph) {
      weight = weight.detach().requires_grad_(true);
      bias = bias.detach().requires_grad_(true);
    }
  }
  if (!create_graph) {
    weight = weight.detach();
    bias = bias.detach();
  }
  return {std::move(weight), std::move(bias)};
}

absl::StatusOr<std::unique_ptr<MamlMethod>> MamlMethod::Create(
    const HeadParameters& parameters, const MethodSpec& spec) {
  FEWSHOT_ASSIGN_OR_RETURN(MamlHead head, MamlHeadFromParameters(parameters));
  int steps = kDefaultMamlSteps;
  const auto found = spec.hyperparameters.find("steps");
  if (found != spec.hyperparameters.end()) {
    steps = static_cast<int>(found->second);
    if (steps != found->second || steps < 1 || steps > kMaxMamlSteps) {
      return absl::InvalidArgumentError(absl::StrCat(
          "maml hyper-parameter steps is ", found->second,
          "; it must be a whole number in [1, ", kMaxMamlSteps, "]"));
    }
  }
  return std::unique_ptr<MamlMethod>(new MamlMethod(
      std::move(head), steps, TemperatureSchedule::FromSpec(spec)));
}

absl::Status MamlMethod::Build(AdaptationState* state) const {
  const std::vector<int64_t> counts = state->ClassCounts();
  for (size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class '", state->labels[c], "' has no support examples"));
    }
  }
  if (!state->support_embeddings.defined() ||
      state->support_embeddings.dim() != 2 ||
      state->support_embeddings.size(1) != head_.projection_weight.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("support embeddings must be [n, ",
                     head_.projection_weight.size(1), "] for maml"));
  }
  // Options the request gave (or an earlier build resolved).
  FEWSHOT_ASSIGN_OR_RETURN(
      MamlOptions options, CallTorch("reading the maml options", [&] {
        MamlOptions read;
        if (const auto s = state->derived.find(kSteps);
            s != state->derived.end()) {
          read.steps = static_cast<int>(s->second.item<int64_t>());
        }
        if (const auto s = state->derived.find(kStepSize);
            s != state->derived.end()) {
          read.step_size = s->second.item<float>();
        }
        return read;
      }));
  FEWSHOT_RETURN_IF_ERROR(ValidateMamlOptions(options));
  if (options.steps == 0) options.steps = default_steps_;

  FEWSHOT_ASSIGN_OR_RETURN(
      LinearHead tuned, CallTorch("fine-tuning the maml head", [&] {
        const torch::Tensor features = [&] {
          torch::NoGradGuard no_grad;
          return ProjectMaml(head_, state->support_embeddings);
        }();
        torch::Tensor step_sizes = [&] {
          torch::NoGradGuard no_grad;
          return MamlStepSizes(head_, options.steps, options.step_size);
        }();
        torch::AutoGradMode enable_grad(true);
        return FineTuneLinearHead(features, state->support_labels,
                                  state->num_classes(), step_sizes,
                                  /*create_graph=*/false);
      }));
  SetMamlOptions(options, state);
  state->derived[kWeight] = std::move(tuned.weight);
  state->derived[kBias] = std::move(tuned.bias);
  return absl::OkStatus();
}

absl::Status MamlMethod::Extend(AdaptationState* state,
                                int64_t /*first_new_row*/) const {
  return Build(state);
}

absl::Status MamlMethod::Refit(AdaptationState* state,
                               const std::vector<int64_t>& /*classes*/) const {
  return Build(state);
}

absl::Status MamlMethod::DropClass(AdaptationState* state,
                                   int64_t /*removed*/) const {
  return Build(state);
}

absl::StatusOr<torch::Tensor> MamlMethod::Score(
    const AdaptationState& state, const torch::Tensor& queries) const {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor weight, Derived(state, kWeight));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor bias, Derived(state, kBias));
  if (queries.dim() != 2 ||
      queries.size(1) != head_.projection_weight.size(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query embeddings must be [q, ", head_.projection_weight.size(1), "]"));
  }
  if (weight.dim() != 2 || weight.size(0) != state.num_classes() ||
      weight.size(1) != head_.projection_weight.size(0) || bias.dim() != 1 ||
      bias.size(0) != state.num_classes()) {
    return absl::FailedPreconditionError(
        "adaptation state's maml head does not fit its classes or this "
        "model's projection; adapt again");
  }
  return CallTorch("scoring queries with maml", [&] {
    torch::NoGradGuard no_grad;
    return torch::addmm(bias, ProjectMaml(head_, queries), weight.t());
  });
}

}  // namespace fewshot::core
