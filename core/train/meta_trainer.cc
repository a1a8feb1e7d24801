// The episodic meta-training loop with checkpoints.
#include "core/train/meta_trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/adapt/prototypical.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

constexpr char kEncoderFile[] = "encoder.pt";
constexpr char kOptimizerFile[] = "optimizer.pt";
constexpr char kProgressFile[] = "progress.txt";

// Weight of the newest episode in the running loss and accuracy.
constexpr double kRunningWeight = 0.02;

// Where training stood at a checkpoint.
struct CheckpointProgress {
  int64_t episode = 0;
  double seconds = 0.0;
  double running_loss = 0.0;
  double running_accuracy = 0.0;
};

std::string PathIn(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

// Writes encoder, optimizer and progress, each through a temporary file so
// that a crash mid-write leaves the previous checkpoint usable.
absl::Status SaveCheckpoint(const std::string& dir, Conv4& encoder,
                            torch::optim::Adam& optimizer,
                            const CheckpointProgress& progress) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  FEWSHOT_RETURN_IF_ERROR(
      CallTorch("saving checkpoint", [&] {
        torch::save(encoder, PathIn(dir, kEncoderFile) + ".tmp");
        torch::save(optimizer, PathIn(dir, kOptimizerFile) + ".tmp");
        return 0;
      }).status());
  {
    std::ofstream out(PathIn(dir, kProgressFile) + ".tmp", std::ios::trunc);
    out.precision(17);
    out << progress.episode << ' ' << progress.seconds << ' '
        << progress.running_loss << ' ' << progress.running_accuracy << '\n';
    if (!out) {
      return absl::DataLossError(
          absl::StrCat("cannot write checkpoint progress in ", dir));
    }
  }
  for (const char* file : {kEncoderFile, kOptimizerFile, kProgressFile}) {
    std::filesystem::rename(PathIn(dir, file) + ".tmp", PathIn(dir, file),
                            error);
    if (error) {
      return absl::DataLossError(absl::StrCat(
          "cannot finish checkpoint file ", file, ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

// Loads a checkpoint into `encoder` and `optimizer`. Returns NOT_FOUND when
// `dir` holds none.
absl::StatusOr<CheckpointProgress> LoadCheckpoint(
    const std::string& dir, Conv4& encoder, torch::optim::Adam& optimizer) {
  std::ifstream in(PathIn(dir, kProgressFile));
  if (!in) {
    return absl::NotFoundError(absl::StrCat("no checkpoint in ", dir));
  }
  CheckpointProgress progress;
  if (!(in >> progress.episode >> progress.seconds >> progress.running_loss >>
        progress.running_accuracy)) {
    return absl::DataLossError(
        absl::StrCat("checkpoint progress in ", dir, " is damaged"));
  }
  FEWSHOT_RETURN_IF_ERROR(CallTorch("loading checkpoint", [&] {
                            torch::load(encoder, PathIn(dir, kEncoderFile));
                            torch::load(optimizer, PathIn(dir, kOptimizerFile));
                            return 0;
                          }).status());
  return progress;
}

}  // namespace

MetaTrainer::MetaTrainer(const ImageDataset* train_set,
                         MetaTrainerOptions options)
    : train_set_(train_set), options_(std::move(options)) {}

absl::StatusOr<TrainingResult> MetaTrainer::Run(
    const std::function<void(const TrainingProgress&)>& progress) {
  SamplerOptions sampler_options;
  sampler_options.rotations = options_.rotations;
  const EpisodicSampler sampler(train_set_, options_.shape,
                                options_.preprocessing, options_.seed,
                                sampler_options);
  FEWSHOT_RETURN_IF_ERROR(sampler.Validate());
  if (options_.episodes < 1 || options_.lr_step < 1 ||
      !(options_.learning_rate > 0.0)) {
    return absl::InvalidArgumentError(
        "episodes and lr_step must be >= 1 and learning_rate > 0");
  }

  // Build the model, then resume if asked and possible.
  torch::manual_seed(options_.seed);
  Conv4 encoder(options_.encoder);
  encoder->train();
  torch::optim::Adam optimizer(
      encoder->parameters(),
      torch::optim::AdamOptions(options_.learning_rate));
  CheckpointProgress start;
  if (options_.resume && !options_.checkpoint_dir.empty()) {
    absl::StatusOr<CheckpointProgress> loaded =
        LoadCheckpoint(options_.checkpoint_dir, encoder, optimizer);
    if (loaded.ok()) {
      start = *loaded;
      FEWSHOT_LOG(INFO) << "resuming at episode " << start.episode;
    } else if (!absl::IsNotFound(loaded.status())) {
      return loaded.status();
    }
  }

  TrainingProgress report;
  report.total_episodes = options_.episodes;
  report.running_loss = start.running_loss;
  report.running_accuracy = start.running_accuracy;
  const auto began = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         began)
        .count();
  };

  for (int64_t episode = start.episode; episode < options_.episodes;
       ++episode) {
    // Learning-rate schedule: step decay.
    const double learning_rate =
        options_.learning_rate *
        std::pow(options_.lr_decay,
                 static_cast<double>(episode / options_.lr_step));
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options())
          .lr(learning_rate);
    }

    // One episode: embed support and query together, score, step.
    const Episode batch = sampler.Sample(episode);
    absl::StatusOr<std::pair<double, double>> step =
        CallTorch("training step", [&] {
          const int64_t support_rows = batch.support.size(0);
          const torch::Tensor embeddings =
              encoder->forward(torch::cat({batch.support, batch.query}));
          const torch::Tensor prototypes = ComputePrototypes(
              embeddings.slice(0, 0, support_rows), batch.support_labels,
              options_.shape.ways);
          const torch::Tensor logits = PrototypicalLogits(
              embeddings.slice(0, support_rows), prototypes);
          const torch::Tensor loss =
              torch::nn::functional::cross_entropy(logits, batch.query_labels);
          optimizer.zero_grad();
          loss.backward();
          optimizer.step();
          const double accuracy = logits.argmax(1)
                                      .eq(batch.query_labels)
                                      .to(torch::kFloat64)
                                      .mean()
                                      .item<double>();
          return std::make_pair(loss.item<double>(), accuracy);
        });
    if (!step.ok()) return step.status();
    if (!std::isfinite(step->first)) {
      return absl::InternalError(absl::StrCat(
          "loss became ", step->first, " at episode ", episode + 1,
          "; lower --lr or check the data"));
    }

    // Bookkeeping, progress and checkpoints.
    const bool first = episode == 0;
    report.episode = episode + 1;
    report.loss = step->first;
    report.running_loss =
        first ? step->first
              : (1 - kRunningWeight) * report.running_loss +
                    kRunningWeight * step->first;
    report.running_accuracy =
        first ? step->second
              : (1 - kRunningWeight) * report.running_accuracy +
                    kRunningWeight * step->second;
    report.learning_rate = learning_rate;
    report.elapsed_seconds = start.seconds + elapsed();
    report.episodes_per_second =
        (report.episode - start.episode) / std::max(elapsed(), 1e-9);
    if (progress) progress(report);

    const bool last = report.episode == options_.episodes;
    if (!options_.checkpoint_dir.empty() &&
        (last || report.episode % options_.checkpoint_every == 0)) {
      FEWSHOT_RETURN_IF_ERROR(SaveCheckpoint(
          options_.checkpoint_dir, encoder, optimizer,
          {report.episode, report.elapsed_seconds, report.running_loss,
           report.running_accuracy}));
    }
  }

  encoder->eval();
  TrainingResult result;
  result.encoder = encoder;
  result.episodes = options_.episodes;
  result.seconds = start.seconds + elapsed();
  result.final_running_accuracy = report.running_accuracy;
  return result;
}

}  // namespace fewshot::core
