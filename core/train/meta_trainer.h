// Episodic meta-training of the Conv-4 encoder with the Prototypical
// Networks loss, with step-decayed Adam, periodic checkpoints and exact
// resume (episode i always draws the same episode), from random weights
// or an earlier run's, in one process or data-parallel over several (see
// GradientAverager).
#ifndef FEWSHOT_CORE_TRAIN_META_TRAINER_H_
#define FEWSHOT_CORE_TRAIN_META_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/episodic_sampler.h"
#include "core/data/image_dataset.h"
#include "core/model/conv4.h"

namespace fewshot::core {

class GradientAverager;

struct MetaTrainerOptions {
  EpisodeShape shape{.ways = 60, .shots = 5, .queries = 5};
  int64_t episodes = 2000;
  double learning_rate = 1e-3;
  // The learning rate is multiplied by lr_decay every lr_step episodes.
  int64_t lr_step = 2000;
  double lr_decay = 0.5;
  uint64_t seed = 1;
  bool rotations = true;
  // Checkpoint folder and period; empty folder disables checkpoints.
  std::string checkpoint_dir;
  int64_t checkpoint_every = 500;
  // Continue from the checkpoint in checkpoint_dir, if there is one.
  bool resume = false;
  // Start from a copy of these weights (an earlier run's encoder, same
  // size as `encoder`) with a fresh optimiser, instead of seeded random
  // ones. A checkpoint found by `resume` takes precedence. With several
  // workers, rank 0's starting point is the one every worker takes.
  Conv4 initial_encoder{nullptr};
  Conv4Options encoder;
  Preprocessing preprocessing;
  // Data-parallel training: null trains in this process alone. Otherwise
  // every worker runs the same options with its own averager; at step i,
  // worker r trains on episode i * world_size + r, the gradients are
  // averaged over the workers and every worker takes the same step, so the
  // weights stay identical. Rank 0 alone reads and writes checkpoints and
  // gives its starting point to the others. Not owned; must outlive Run().
  GradientAverager* averager = nullptr;
};

// What the trainer reports after every step. A step trains on one episode
// per worker; loss and accuracy are means over the workers.
struct TrainingProgress {
  int64_t episode = 0;  // Steps done so far (1-based).
  int64_t total_episodes = 0;
  double loss = 0.0;  // This step's loss.
  double running_loss = 0.0;
  double running_accuracy = 0.0;  // Exponential moving average.
  double learning_rate = 0.0;
  double episodes_per_second = 0.0;  // Steps per second, per worker.
  double elapsed_seconds = 0.0;
};

struct TrainingResult {
  Conv4 encoder{nullptr};
  int64_t episodes = 0;
  double seconds = 0.0;  // Including time before a resume.
  double final_running_accuracy = 0.0;
};

class MetaTrainer {
 public:
  // REQUIRES: `train_set` outlives the trainer.
  MetaTrainer(const ImageDataset* train_set, MetaTrainerOptions options);

  // Trains to options.episodes, calling `progress` (may be empty) after
  // every step. Returns INVALID_ARGUMENT for an impossible episode shape
  // or an initial encoder of another size,
  // INTERNAL when the loss stops being finite, FAILED_PRECONDITION when
  // data-parallel workers run different options, and the averager's
  // errors (DEADLINE_EXCEEDED, UNAVAILABLE) when a worker stalls or
  // leaves.
  absl::StatusOr<TrainingResult> Run(
      const std::function<void(const TrainingProgress&)>& progress = {});

 private:
  const ImageDataset* train_set_;
  MetaTrainerOptions options_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_TRAIN_META_TRAINER_H_
