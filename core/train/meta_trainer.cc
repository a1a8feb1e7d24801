// The episodic meta-training loop with checkpoints, alone or data-parallel.
#include "core/train/meta_trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/adapt/prototypical.h"
#include "core/train/gradient_averager.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

// Seeds LibTorch's global generator and draws the initial weights under one
// process-wide lock, so that trainers running on threads of one process
// (data-parallel workers in tests) each get exactly the weights their seed
// gives.
Conv4 SeededEncoder(const MetaTrainerOptions& options) {
  ABSL_CONST_INIT static absl::Mutex mutex(absl::kConstInit);
  absl::MutexLock lock(&mutex);
  torch::manual_seed(options.seed);
  return Conv4(options.encoder);
}

// Copies the parameters and buffers of `from` into `to`. Returns
// INVALID_ARGUMENT when the two networks differ in their layers' shapes.
absl::Status CopyWeights(const Conv4& from, Conv4& to) {
  const auto source_parameters = from->named_parameters();
  const auto source_buffers = from->named_buffers();
  const auto target_parameters = to->named_parameters();
  const auto target_buffers = to->named_buffers();
  const bool same_layout =
      source_parameters.size() == target_parameters.size() &&
      source_buffers.size() == target_buffers.size();
  auto mismatch = [&](const std::string& name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the initial encoder (", from->options().hidden_channels, " channels, ",
        from->options().blocks,
        " blocks) does not fit the encoder being trained (",
        to->options().hidden_channels, " channels, ", to->options().blocks,
        " blocks)", name.empty() ? "" : "; first difference at ", name));
  };
  if (!same_layout) return mismatch("");

  torch::NoGradGuard no_grad;
  auto copy_each = [&](const auto& sources,
                       const auto& targets) -> absl::Status {
    for (const auto& item : targets) {
      const torch::Tensor* source = sources.find(item.key());
      if (source == nullptr || !source->sizes().equals(item.value().sizes())) {
        return mismatch(item.key());
      }
      item.value().copy_(*source);
    }
    return absl::OkStatus();
  };
  FEWSHOT_RETURN_IF_ERROR(copy_each(source_parameters, target_parameters));
  return copy_each(source_buffers, target_buffers);
}

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
      return absl::DataLossError(absl::StrCat("cannot finish checkpoint file ",
                                              file, ": ", error.message()));
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

// Fails with FAILED_PRECONDITION on every worker when any worker's
// training options differ from rank 0's.
absl::Status CheckSameOptions(GradientAverager& averager,
                              const MetaTrainerOptions& options) {
  const std::vector<double> mine = {
      static_cast<double>(options.episodes),
      static_cast<double>(options.shape.ways),
      static_cast<double>(options.shape.shots),
      static_cast<double>(options.shape.queries),
      static_cast<double>(options.seed),
      options.learning_rate,
      static_cast<double>(options.lr_step),
      options.lr_decay,
      options.rotations ? 1.0 : 0.0,
      static_cast<double>(options.encoder.hidden_channels),
      static_cast<double>(options.encoder.blocks)};
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor rank0s, CallTorch("options", [&] {
                             return torch::tensor(mine, torch::kFloat64);
                           }));
  FEWSHOT_RETURN_IF_ERROR(averager.BroadcastParameters({rank0s}));
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor differs, CallTorch("options", [&] {
        const bool same =
            torch::equal(rank0s, torch::tensor(mine, torch::kFloat64));
        return torch::tensor({same ? 0.0 : 1.0}, torch::kFloat64);
      }));
  FEWSHOT_RETURN_IF_ERROR(averager.AverageGradients({}, {differs}));
  if (differs.item<double>() > 0.0) {
    return absl::FailedPreconditionError(
        "the workers' training options differ (episodes, episode shape, "
        "seed, learning-rate schedule, rotations or encoder size); start "
        "every rank with the same flags");
  }
  return absl::OkStatus();
}

// Gives every worker rank 0's starting point: progress, weights, batch-norm
// statistics and, after a resume, the optimiser state.
absl::Status ShareStart(GradientAverager& averager, Conv4& encoder,
                        torch::optim::Adam& optimizer,
                        CheckpointProgress& start) {
  std::string optimizer_state;
  if (averager.rank() == 0 && start.episode > 0) {
    std::ostringstream out;
    FEWSHOT_RETURN_IF_ERROR(CallTorch("saving optimizer state", [&] {
                              torch::save(optimizer, out);
                              return 0;
                            }).status());
    optimizer_state = out.str();
  }
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<torch::Tensor> header, CallTorch("start", [&] {
        return std::vector<torch::Tensor>{
            torch::tensor({static_cast<double>(start.episode), start.seconds,
                           start.running_loss, start.running_accuracy},
                          torch::kFloat64),
            torch::tensor({static_cast<int64_t>(optimizer_state.size())},
                          torch::kInt64)};
      }));
  FEWSHOT_RETURN_IF_ERROR(averager.BroadcastParameters(header));
  start.episode = static_cast<int64_t>(header[0][0].item<double>());
  start.seconds = header[0][1].item<double>();
  start.running_loss = header[0][2].item<double>();
  start.running_accuracy = header[0][3].item<double>();

  std::vector<torch::Tensor> weights = encoder->parameters();
  for (const torch::Tensor& buffer : encoder->buffers()) {
    weights.push_back(buffer);
  }
  FEWSHOT_RETURN_IF_ERROR(averager.BroadcastParameters(weights));

  const int64_t state_size = header[1][0].item<int64_t>();
  if (state_size == 0) return absl::OkStatus();
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor bytes, CallTorch("start", [&] {
                             torch::Tensor out =
                                 torch::empty({state_size}, torch::kUInt8);
                             if (averager.rank() == 0) {
                               std::memcpy(out.data_ptr<uint8_t>(),
                                           optimizer_state.data(), state_size);
                             }
                             return out;
                           }));
  FEWSHOT_RETURN_IF_ERROR(averager.BroadcastParameters({bytes}));
  if (averager.rank() == 0) return absl::OkStatus();
  std::istringstream in(std::string(
      reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), state_size));
  return CallTorch("loading rank 0's optimizer state",
                   [&] {
                     torch::load(optimizer, in);
                     return 0;
                   })
      .status();
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

  GradientAverager* const averager = options_.averager;
  const int rank = averager == nullptr ? 0 : averager->rank();
  const int world_size = averager == nullptr ? 1 : averager->world_size();
  if (averager != nullptr) {
    FEWSHOT_RETURN_IF_ERROR(CheckSameOptions(*averager, options_));
  }

  // Build the model from the initial weights or the seed, then resume if
  // asked and possible (rank 0 only; it gives its starting point to the
  // other workers).
  Conv4 encoder = SeededEncoder(options_);
  if (options_.initial_encoder) {
    FEWSHOT_RETURN_IF_ERROR(CopyWeights(options_.initial_encoder, encoder));
  }
  encoder->train();
  torch::optim::Adam optimizer(
      encoder->parameters(), torch::optim::AdamOptions(options_.learning_rate));
  CheckpointProgress start;
  if (options_.resume && !options_.checkpoint_dir.empty() && rank == 0) {
    absl::StatusOr<CheckpointProgress> loaded =
        LoadCheckpoint(options_.checkpoint_dir, encoder, optimizer);
    if (loaded.ok()) {
      start = *loaded;
      FEWSHOT_LOG(INFO) << "resuming at episode " << start.episode;
    } else if (!absl::IsNotFound(loaded.status())) {
      return loaded.status();
    }
  }
  if (averager != nullptr) {
    FEWSHOT_RETURN_IF_ERROR(ShareStart(*averager, encoder, optimizer, start));
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

    // One step: each worker embeds its episode's support and query
    // together, scores them and computes the gradients; the workers average
    // the gradients (and batch-norm statistics, loss and accuracy), then all
    // take the same optimiser step.
    const Episode batch = sampler.Sample(episode * world_size + rank);
    absl::StatusOr<torch::Tensor> metrics = CallTorch("training step", [&] {
      const int64_t support_rows = batch.support.size(0);
      const torch::Tensor embeddings =
          encoder->forward(torch::cat({batch.support, batch.query}));
      const torch::Tensor prototypes =
          ComputePrototypes(embeddings.slice(0, 0, support_rows),
                            batch.support_labels, options_.shape.ways);
      const torch::Tensor logits =
          PrototypicalLogits(embeddings.slice(0, support_rows), prototypes);
      const torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits, batch.query_labels);
      optimizer.zero_grad();
      loss.backward();
      const torch::Tensor accuracy =
          logits.argmax(1).eq(batch.query_labels).to(torch::kFloat64).mean();
      return torch::stack({loss.detach().to(torch::kFloat64), accuracy});
    });
    if (!metrics.ok()) return metrics.status();
    if (averager != nullptr) {
      std::vector<torch::Tensor> also_average = encoder->buffers();
      also_average.push_back(*metrics);
      FEWSHOT_RETURN_IF_ERROR(
          averager->AverageGradients(encoder->parameters(), also_average));
    }
    absl::StatusOr<std::pair<double, double>> step =
        CallTorch("optimizer step", [&] {
          optimizer.step();
          return std::make_pair((*metrics)[0].item<double>(),
                                (*metrics)[1].item<double>());
        });
    if (!step.ok()) return step.status();
    if (!std::isfinite(step->first)) {
      return absl::InternalError(
          absl::StrCat("loss became ", step->first, " at episode ", episode + 1,
                       "; lower --lr or check the data"));
    }

    // Bookkeeping, progress and checkpoints.
    const bool first = episode == 0;
    report.episode = episode + 1;
    report.loss = step->first;
    report.running_loss = first ? step->first
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
    if (!options_.checkpoint_dir.empty() && rank == 0 &&
        (last || report.episode % options_.checkpoint_every == 0)) {
      FEWSHOT_RETURN_IF_ERROR(
          SaveCheckpoint(options_.checkpoint_dir, encoder, optimizer,
                         {report.episode, report.elapsed_seconds,
                          report.running_loss, report.running_accuracy}));
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
