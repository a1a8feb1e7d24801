// Episodic meta-training of maml and attention heads on frozen embeddings.
#include "core/train/head_trainer.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/adapt/attention.h"
#include "core/adapt/maml.h"
#include "core/adapt/prototypical.h"
#include "core/data/preprocessing.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr int64_t kEmbedBatch = 512;
// Smoothing of the running loss and accuracy.
constexpr double kRunningDecay = 0.98;

struct EmbeddedEpisode {
  torch::Tensor support;         // [ways * shots, D]
  torch::Tensor support_labels;  // [ways * shots]
  torch::Tensor query;           // [ways * queries, D]
  torch::Tensor query_labels;    // [ways * queries]
};

absl::Status CheckShape(const EmbeddedClasses& data,
                        const EpisodeShape& shape) {
  if (shape.ways < 2 || shape.shots < 1 || shape.queries < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "episodes need ways >= 2, shots >= 1 and queries >= 1; got ",
        shape.ways, "/", shape.shots, "/", shape.queries));
  }
  if (data.num_classes() < shape.ways) {
    return absl::InvalidArgumentError(
        absl::StrCat("the data has ", data.num_classes(),
                     " classes; episodes need ", shape.ways));
  }
  for (int64_t c = 0; c < data.num_classes(); ++c) {
    if (data.class_begin[c + 1] - data.class_begin[c] <
        shape.shots + shape.queries) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", c, " has fewer than shots + queries = ",
                       shape.shots + shape.queries, " examples"));
    }
  }
  return absl::OkStatus();
}

// Episode `index` of (data, shape, seed); depends on nothing else.
EmbeddedEpisode SampleEpisode(const EmbeddedClasses& data,
                              const EpisodeShape& shape, uint64_t seed,
                              int64_t index) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull +
                      static_cast<uint64_t>(index));
  std::vector<int64_t> classes(data.num_classes());
  std::iota(classes.begin(), classes.end(), 0);
  std::shuffle(classes.begin(), classes.end(), rng);
  classes.resize(shape.ways);

  std::vector<int64_t> support_rows, query_rows;
  for (const int64_t c : classes) {
    std::vector<int64_t> rows(data.class_begin[c + 1] - data.class_begin[c]);
    std::iota(rows.begin(), rows.end(), data.class_begin[c]);
    std::shuffle(rows.begin(), rows.end(), rng);
    support_rows.insert(support_rows.end(), rows.begin(),
                        rows.begin() + shape.shots);
    query_rows.insert(query_rows.end(), rows.begin() + shape.shots,
                      rows.begin() + shape.shots + shape.queries);
  }
  const torch::Tensor ways = torch::arange(shape.ways, torch::kInt64);
  return {data.embeddings.index_select(0, torch::tensor(support_rows)),
          ways.repeat_interleave(shape.shots),
          data.embeddings.index_select(0, torch::tensor(query_rows)),
          ways.repeat_interleave(shape.queries)};
}

// The head's query scores [ways * queries, ways] for one episode; with
// `create_graph` differentiable in the head (second order for maml).
torch::Tensor MamlEpisodeScores(const MamlHead& head,
                                const EmbeddedEpisode& episode, int ways,
                                int steps, bool create_graph) {
  const LinearHead tuned = FineTuneLinearHead(
      ProjectMaml(head, episode.support), episode.support_labels, ways,
      MamlStepSizes(head, steps, /*step_size=*/0.0), create_graph);
  return torch::addmm(tuned.bias, ProjectMaml(head, episode.query),
                      tuned.weight.t());
}

torch::Tensor AttentionEpisodeScores(const AttentionHead& head,
                                     const EmbeddedEpisode& episode, int ways) {
  return AttentionScores(head, AttentionKeys(head, episode.support),
                         episode.support_labels, ways, episode.query);
}

double Accuracy(const torch::Tensor& scores, const torch::Tensor& labels) {
  return scores.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
}

}  // namespace

absl::StatusOr<EmbeddedClasses> EmbedClasses(const Encoder& encoder,
                                             const ImageDataset& dataset,
                                             bool rotations) {
  EmbeddedClasses out;
  out.class_begin.push_back(0);
  std::vector<torch::Tensor> parts;
  const int turns = rotations ? 4 : 1;
  for (int turn = 0; turn < turns; ++turn) {
    const torch::Tensor images =
        turn == 0 ? dataset.images
                  : torch::rot90(dataset.images, turn, {1, 2}).contiguous();
    for (int64_t begin = 0; begin < images.size(0); begin += kEmbedBatch) {
      const int64_t end = std::min(begin + kEmbedBatch, images.size(0));
      FEWSHOT_ASSIGN_OR_RETURN(
          torch::Tensor embedded,
          encoder.Embed(NormalizeBytes(images.slice(0, begin, end),
                                       encoder.preprocessing())));
      parts.push_back(std::move(embedded));
    }
    const int64_t offset = out.class_begin.back();
    for (int c = 0; c < dataset.num_classes(); ++c) {
      out.class_begin.push_back(offset + dataset.class_begin[c + 1]);
    }
  }
  FEWSHOT_ASSIGN_OR_RETURN(out.embeddings, CallTorch("joining embeddings", [&] {
                             return torch::cat(parts);
                           }));
  return out;
}

absl::StatusOr<double> EvaluateHead(const HeadParameters& head,
                                    const EmbeddedClasses& data,
                                    const HeadTrainerOptions& options,
                                    int episodes, uint64_t seed) {
  FEWSHOT_RETURN_IF_ERROR(CheckShape(data, options.shape));
  const bool protonet = options.method == PrototypicalMethod::kName;
  const bool maml = options.method == MamlMethod::kName;
  MamlHead maml_head;
  AttentionHead attention_head;
  if (protonet) {
    // No head: the baseline that the heads start from.
  } else if (maml) {
    FEWSHOT_ASSIGN_OR_RETURN(maml_head, MamlHeadFromParameters(head));
  } else {
    FEWSHOT_ASSIGN_OR_RETURN(attention_head, AttentionHeadFromParameters(head));
  }
  return CallTorch("evaluating the head", [&] {
    double correct = 0.0;
    for (int e = 0; e < episodes; ++e) {
      const EmbeddedEpisode episode =
          SampleEpisode(data, options.shape, seed, e);
      torch::Tensor scores;
      if (protonet) {
        scores = PrototypicalLogits(
            episode.query,
            ComputePrototypes(episode.support, episode.support_labels,
                              options.shape.ways));
      } else if (maml) {
        scores = MamlEpisodeScores(maml_head, episode, options.shape.ways,
                                   options.maml_steps, false);
      } else {
        scores =
            AttentionEpisodeScores(attention_head, episode, options.shape.ways)
                .detach();
      }
      correct += Accuracy(scores, episode.query_labels);
    }
    return correct / std::max(episodes, 1);
  });
}

absl::StatusOr<HeadTrainingResult> TrainHead(
    const EmbeddedClasses& train, const EmbeddedClasses* validation,
    const HeadTrainerOptions& options,
    const std::function<void(const HeadTrainingProgress&)>& on_progress) {
  const bool maml = options.method == MamlMethod::kName;
  if (!maml && options.method != AttentionMethod::kName) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot train a head for method '", options.method,
                     "'; use maml or attention"));
  }
  if (maml && (options.maml_steps < 1 || options.maml_steps > kMaxMamlSteps ||
               !(options.maml_initial_step_size > 0.0))) {
    return absl::InvalidArgumentError(
        absl::StrCat("maml training needs steps in [1, ", kMaxMamlSteps,
                     "] and an initial step size > 0"));
  }
  if (!maml && options.attention_size < 1) {
    return absl::InvalidArgumentError("attention_size must be >= 1");
  }
  FEWSHOT_RETURN_IF_ERROR(CheckShape(train, options.shape));
  if (validation != nullptr) {
    FEWSHOT_RETURN_IF_ERROR(CheckShape(*validation, options.shape));
  }

  const auto start = std::chrono::steady_clock::now();
  torch::manual_seed(options.seed);
  const int64_t size = train.embeddings.size(1);
  MamlHead maml_head;
  AttentionHead attention_head;
  std::vector<torch::Tensor> parameters;
  if (maml) {
    maml_head = InitialMamlHead(size, options.maml_steps,
                                options.maml_initial_step_size);
    parameters = {maml_head.projection_weight, maml_head.projection_bias,
                  maml_head.log_step_sizes};
  } else {
    attention_head = InitialAttentionHead(size, options.attention_size);
    parameters = {attention_head.query_weight, attention_head.key_weight,
                  attention_head.context_weight, attention_head.log_scale};
  }
  for (torch::Tensor& parameter : parameters) parameter.requires_grad_(true);
  auto snapshot = [&] {
    HeadParameters head = maml ? MamlHeadToParameters(maml_head)
                               : AttentionHeadToParameters(attention_head);
    for (auto& [name, tensor] : head) tensor = tensor.detach().clone();
    return head;
  };

  HeadTrainingResult result;
  result.spec.name = options.method;
  result.spec.parameters_file = absl::StrCat("heads/", options.method, ".pt");
  if (maml) {
    result.spec.hyperparameters["steps"] = options.maml_steps;
  } else {
    result.spec.hyperparameters["attention_size"] = options.attention_size;
  }
  result.head = snapshot();

  // Validation picks the best head; the validation seed is fixed so that
  // every check sees the same episodes.
  const uint64_t validation_seed = options.seed + 1000003;
  HeadTrainingProgress progress;
  auto validate = [&](int64_t episode) -> absl::Status {
    if (validation == nullptr) return absl::OkStatus();
    const HeadParameters head = snapshot();
    FEWSHOT_ASSIGN_OR_RETURN(
        double accuracy,
        EvaluateHead(head, *validation, options, options.validation_episodes,
                     validation_seed));
    progress.validation_accuracy = accuracy;
    if (accuracy > result.best_validation_accuracy) {
      result.best_validation_accuracy = accuracy;
      result.best_episode = episode;
      result.head = head;
    }
    return absl::OkStatus();
  };
  FEWSHOT_RETURN_IF_ERROR(validate(0));

  torch::optim::Adam optimizer(
      parameters, torch::optim::AdamOptions(options.learning_rate));
  for (int64_t episode = 1; episode <= options.episodes; ++episode) {
    FEWSHOT_ASSIGN_OR_RETURN(
        double episode_accuracy, CallTorch("training step", [&] {
          const EmbeddedEpisode sampled =
              SampleEpisode(train, options.shape, options.seed, episode);
          const torch::Tensor scores =
              maml ? MamlEpisodeScores(maml_head, sampled, options.shape.ways,
                                       options.maml_steps, true)
                   : AttentionEpisodeScores(attention_head, sampled,
                                            options.shape.ways);
          const torch::Tensor loss =
              maml ? torch::cross_entropy_loss(scores, sampled.query_labels)
                   : torch::nll_loss(scores, sampled.query_labels);
          optimizer.zero_grad();
          loss.backward();
          optimizer.step();
          const double accuracy =
              Accuracy(scores.detach(), sampled.query_labels);
          progress.running_loss =
              episode == 1 ? loss.item<double>()
                           : kRunningDecay * progress.running_loss +
                                 (1 - kRunningDecay) * loss.item<double>();
          return accuracy;
        }));
    progress.running_accuracy =
        episode == 1 ? episode_accuracy
                     : kRunningDecay * progress.running_accuracy +
                           (1 - kRunningDecay) * episode_accuracy;
    progress.episode = episode;
    if (episode % options.validate_every == 0 || episode == options.episodes) {
      FEWSHOT_RETURN_IF_ERROR(validate(episode));
    }
    if (on_progress) on_progress(progress);
  }
  if (validation == nullptr) {
    result.head = snapshot();
    result.best_episode = options.episodes;
  }
  result.episodes = options.episodes;
  result.final_running_accuracy = progress.running_accuracy;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

}  // namespace fewshot::core
