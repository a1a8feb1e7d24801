// fewshot-train: meta-trains the Conv-4 encoder on Omniglot's background
// alphabets with Prototypical Networks episodes and writes a model bundle.
//
//   fewshot-train --output=models/omniglot-conv4 --episodes=3000
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/adapt/prototypical.h"
#include "core/bundle/model_bundle.h"
#include "core/data/omniglot.h"
#include "core/train/meta_trainer.h"
#include "core/util/logging.h"
#include "core/util/torch_threads.h"
#include "tools/omniglot_flags.h"
#include "tools/progress_bar.h"

ABSL_FLAG(std::string, output, "models/omniglot-conv4",
          "Bundle folder to write");
ABSL_FLAG(std::string, name, "omniglot-conv4", "Model name in the bundle");
ABSL_FLAG(std::string, version, "",
          "Model version (default: the UTC time of the end of training)");
ABSL_FLAG(int, ways, 60, "Classes per training episode");
ABSL_FLAG(int, shots, 5, "Support examples per class");
ABSL_FLAG(int, queries, 5, "Query examples per class");
ABSL_FLAG(int64_t, episodes, 3000, "Training episodes");
ABSL_FLAG(double, lr, 1e-3, "Initial Adam learning rate");
ABSL_FLAG(int64_t, lr_step, 1000, "Episodes between learning-rate decays");
ABSL_FLAG(double, lr_decay, 0.5, "Learning-rate factor at each decay");
ABSL_FLAG(uint64_t, seed, 1, "Seed for weights and episodes");
ABSL_FLAG(bool, rotations, true,
          "Add 90/180/270-degree rotations as extra classes");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "Checkpoint folder (default: <cache_dir>/checkpoints/<name>)");
ABSL_FLAG(int64_t, checkpoint_every, 250, "Episodes between checkpoints");
ABSL_FLAG(bool, resume, false, "Continue from the checkpoint, if any");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads");

namespace fewshot::tools {
namespace {

int Run(int argc, char** argv) {
  const std::string command = absl::StrJoin(argv, argv + argc, " ");
  absl::SetProgramUsageMessage(
      "Meta-trains an encoder on Omniglot and writes a model bundle.");
  absl::ParseCommandLine(argc, argv);

  const absl::Status threads =
      core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads), 1);
  if (!threads.ok()) {
    std::cerr << "fewshot-train: " << threads << "\n";
    return 2;
  }

  // Load the background alphabets.
  const core::OmniglotOptions data =
      OmniglotOptionsFromFlags(core::Preprocessing{});
  const absl::Time load_start = absl::Now();
  absl::StatusOr<core::ImageDataset> train_set =
      core::LoadOmniglot(core::OmniglotSplit::kBackground, data);
  if (!train_set.ok()) {
    std::cerr << "fewshot-train: " << train_set.status() << "\n";
    return 1;
  }
  FEWSHOT_LOG(INFO) << "loaded " << train_set->num_classes()
                    << " background classes, " << train_set->num_images()
                    << " images in " << absl::Now() - load_start;

  // Train.
  core::MetaTrainerOptions options;
  options.shape = {absl::GetFlag(FLAGS_ways), absl::GetFlag(FLAGS_shots),
                   absl::GetFlag(FLAGS_queries)};
  options.episodes = absl::GetFlag(FLAGS_episodes);
  options.learning_rate = absl::GetFlag(FLAGS_lr);
  options.lr_step = absl::GetFlag(FLAGS_lr_step);
  options.lr_decay = absl::GetFlag(FLAGS_lr_decay);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.rotations = absl::GetFlag(FLAGS_rotations);
  options.checkpoint_dir =
      absl::GetFlag(FLAGS_checkpoint_dir).empty()
          ? data.cache_dir + "/checkpoints/" + absl::GetFlag(FLAGS_name)
          : absl::GetFlag(FLAGS_checkpoint_dir);
  options.checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  options.resume = absl::GetFlag(FLAGS_resume);
  options.preprocessing = data.preprocessing;

  ProgressBar bar(options.episodes);
  core::MetaTrainer trainer(&*train_set, options);
  absl::StatusOr<core::TrainingResult> result =
      trainer.Run([&](const core::TrainingProgress& p) {
        bar.Update(p.episode, p.episodes_per_second,
                   absl::StrFormat("loss %.4f acc %.2f%% lr %.2g",
                                   p.running_loss, 100 * p.running_accuracy,
                                   p.learning_rate));
      });
  bar.Finish();
  if (!result.ok()) {
    std::cerr << "fewshot-train: " << result.status() << "\n";
    return 1;
  }

  // Write the bundle.
  core::ModelBundle bundle;
  bundle.encoder = result->encoder;
  core::BundleMetadata& metadata = bundle.metadata;
  metadata.name = absl::GetFlag(FLAGS_name);
  metadata.version = absl::GetFlag(FLAGS_version).empty()
                         ? absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(),
                                            absl::UTCTimeZone())
                         : absl::GetFlag(FLAGS_version);
  metadata.preprocessing = options.preprocessing;
  metadata.encoder = options.encoder;
  metadata.embedding_size = result->encoder->EmbeddingSize(
      options.preprocessing.height, options.preprocessing.width);
  metadata.methods = {core::PrototypicalMethod::kName};
  metadata.training_split = "omniglot/background";
  metadata.training_command = command;
  metadata.training_episodes = result->episodes;
  metadata.training_seconds = result->seconds;
  const absl::Status saved =
      core::SaveModelBundle(bundle, absl::GetFlag(FLAGS_output));
  if (!saved.ok()) {
    std::cerr << "fewshot-train: " << saved << "\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "trained %d episodes in %s (%.1f s); running accuracy %.2f%%; "
      "bundle %s version %s\n",
      result->episodes, FormatDuration(result->seconds), result->seconds,
      100 * result->final_running_accuracy, absl::GetFlag(FLAGS_output),
      metadata.version);
  return 0;
}

}  // namespace
}  // namespace fewshot::tools

int main(int argc, char** argv) { return fewshot::tools::Run(argc, argv); }
