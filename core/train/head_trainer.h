// Meta-trains the head of a learned adaptation method ("maml" or
// "attention") on embeddings of a frozen encoder. The heads of one bundle
// share its encoder, so head training never changes the encoder: the
// training classes are embedded once, and episodes are drawn from those
// embeddings. Each episode's loss is the method's query cross-entropy; for
// maml it is differentiated through the inner fine-tuning steps (second
// order). Adam, seeded; the head with the best validation accuracy wins.
//
// Example:
//   absl::StatusOr<EmbeddedClasses> train =
//       EmbedClasses(encoder, train_set, /*rotations=*/true);
//   absl::StatusOr<HeadTrainingResult> result =
//       TrainHead(*train, &*validation, options, on_progress);
#ifndef FEWSHOT_CORE_TRAIN_HEAD_TRAINER_H_
#define FEWSHOT_CORE_TRAIN_HEAD_TRAINER_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bundle/model_bundle.h"
#include "core/data/episodic_sampler.h"
#include "core/data/image_dataset.h"
#include "core/model/encoder.h"

namespace fewshot::core {

// Every image of a set of classes, embedded. Rows of class c are
// class_begin[c] .. class_begin[c + 1].
struct EmbeddedClasses {
  torch::Tensor embeddings;  // float [n, D]
  std::vector<int64_t> class_begin;

  int64_t num_classes() const {
    return static_cast<int64_t>(class_begin.size()) - 1;
  }
};

// Embeds every image of `dataset` with `encoder`; with `rotations`, each
// class rotated by 90, 180 and 270 degrees becomes three more classes.
absl::StatusOr<EmbeddedClasses> EmbedClasses(const Encoder& encoder,
                                             const ImageDataset& dataset,
                                             bool rotations);

struct HeadTrainerOptions {
  // "maml" or "attention".
  std::string method;
  EpisodeShape shape{.ways = 5, .shots = 1, .queries = 15};
  int64_t episodes = 2000;
  double learning_rate = 1e-3;
  uint64_t seed = 1;
  // Validation: this many fixed episodes every `validate_every` episodes.
  int validation_episodes = 100;
  int64_t validate_every = 250;
  // maml: inner steps in training (and the bundle default), and the
  // initial step size of the meta-learned schedule.
  int maml_steps = 5;
  double maml_initial_step_size = 0.01;
  // attention: the size A of the query and key projections.
  int attention_size = 64;
};

struct HeadTrainingProgress {
  int64_t episode = 0;
  double running_loss = 0.0;
  double running_accuracy = 0.0;
  // The latest validation accuracy, or -1 before the first.
  double validation_accuracy = -1.0;
};

struct HeadTrainingResult {
  // The head's tensors and its bundle entry (parameters file, hyper-
  // parameters; temperature 1).
  HeadParameters head;
  MethodSpec spec;
  int64_t episodes = 0;
  double seconds = 0.0;
  // The episode whose head was kept and its validation accuracy (-1
  // without validation data: the last head is kept).
  int64_t best_episode = 0;
  double best_validation_accuracy = -1.0;
  double final_running_accuracy = 0.0;
};

// Mean query accuracy of `head` (for options.method) over `episodes`
// episodes of `data` drawn with `seed`. options.method "protonet" ignores
// `head` and gives the Prototypical Networks baseline on the same episodes.
absl::StatusOr<double> EvaluateHead(const HeadParameters& head,
                                    const EmbeddedClasses& data,
                                    const HeadTrainerOptions& options,
                                    int episodes, uint64_t seed);

// `validation` may be null. INVALID_ARGUMENT for an unknown method or a
// shape the data cannot supply.
absl::StatusOr<HeadTrainingResult> TrainHead(
    const EmbeddedClasses& train, const EmbeddedClasses* validation,
    const HeadTrainerOptions& options,
    const std::function<void(const HeadTrainingProgress&)>& on_progress);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_TRAIN_HEAD_TRAINER_H_
