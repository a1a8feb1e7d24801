// fewshot-train: meta-trains on Omniglot's training classes and writes a
// model bundle. --method=protonet trains the Conv-4 encoder with
// Prototypical Networks episodes and writes a new bundle; --method=maml or
// --method=attention loads an existing bundle, meta-trains that method's
// head on the frozen encoder's embeddings and writes the bundle back with
// the head added (other heads are kept).
//
//   fewshot-train --output=models/omniglot-conv4 --episodes=3000
//   fewshot-train --init_from=models/omniglot-conv4 --validation_classes=100
//       --shots=1 --episodes=2000 --lr=6.25e-5 --seed=2
//       --output=.cache/finished   (one command)
//   fewshot-train --method=maml --base_model=models/omniglot-conv4
//       --ways=5 --shots=1 --queries=15 --episodes=2000
//       --validation_classes=100   (one command)
#include <algorithm>
#include <iostream>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/adapt/prototypical.h"
#include "core/bundle/model_bundle.h"
#include "core/bundle/training_split_check.h"
#include "core/data/omniglot.h"
#include "core/data/omniglot_protocol.h"
#include "core/model/encoder.h"
#include "core/train/head_trainer.h"
#include "core/train/meta_trainer.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_threads.h"
#include "tools/distributed_flags.h"
#include "tools/omniglot_flags.h"
#include "tools/progress_bar.h"

ABSL_FLAG(std::string, method, "protonet",
          "What to train: protonet (the encoder), maml or attention (a head "
          "on --base_model's frozen encoder)");
ABSL_FLAG(std::string, base_model, "models/omniglot-conv4",
          "maml/attention: the bundle whose encoder the head uses");
ABSL_FLAG(std::string, output, "",
          "Bundle folder to write (default: models/omniglot-conv4 for "
          "protonet, --base_model for a head)");
ABSL_FLAG(std::string, name, "omniglot-conv4", "Model name in the bundle");
ABSL_FLAG(std::string, version, "",
          "Model version (default: the UTC time of the end of training)");
ABSL_FLAG(int, ways, 0,
          "Classes per training episode (0: 60 for protonet, 5 for heads)");
ABSL_FLAG(int, shots, 0,
          "Support examples per class (0: 5 for protonet, 1 for heads)");
ABSL_FLAG(int, queries, 0,
          "Query examples per class (0: 5 for protonet, 15 for heads)");
ABSL_FLAG(int, maml_steps, 5, "maml: inner gradient steps");
ABSL_FLAG(double, maml_step_size, 0.01,
          "maml: initial value of every meta-learned step size");
ABSL_FLAG(int, attention_size, 64, "attention: query/key projection size");
ABSL_FLAG(int, validation_episodes, 100,
          "Heads: validation episodes per check (with --validation_classes)");
ABSL_FLAG(int64_t, validate_every, 250, "Heads: episodes between checks");
ABSL_FLAG(int, test_episodes, 0,
          "Heads: after training, report 5-way 1- and 5-shot accuracy of the "
          "head and of protonet on this many test-class episodes (0: skip)");
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
ABSL_FLAG(std::string, init_from, "",
          "protonet: start from this bundle's encoder instead of random "
          "weights, with a fresh optimiser (e.g. to finish with episodes of "
          "another shape). Its protocol, --split_seed and "
          "--validation_classes must be this run's; the new "
          "bundle's training time, episodes and command include the base "
          "bundle's. Use a new --seed so that the episodes differ");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads");

namespace fewshot::tools {
namespace {

// The value of an episode-shape flag, with 0 meaning `fallback`.
int ShapeFlag(const absl::Flag<int>& flag, int fallback) {
  const int value = absl::GetFlag(flag);
  return value == 0 ? fallback : value;
}

// Loads the classes of `role` under the --protocol flags.
absl::StatusOr<core::ImageDataset> LoadRole(
    core::DataRole role, const core::ProtocolOptions& protocol,
    const core::OmniglotOptions& data) {
  const absl::Time start = absl::Now();
  absl::StatusOr<core::ImageDataset> set =
      core::LoadOmniglotRole(role, protocol, data);
  if (set.ok()) {
    FEWSHOT_LOG(INFO) << "loaded " << set->num_classes() << " "
                      << core::DataRoleName(role) << " classes, "
                      << set->num_images() << " images in "
                      << absl::Now() - start;
  }
  return set;
}

// Loads --init_from's bundle, or returns nullopt when the flag is empty.
// Fails when the bundle cannot be read or was trained on other classes
// than this run's: another protocol, split seed or number of validation
// classes would let its weights have seen this run's test or validation
// classes.
absl::StatusOr<std::optional<core::ModelBundle>> LoadInitialBundle(
    const core::ProtocolOptions& protocol) {
  const std::string path = absl::GetFlag(FLAGS_init_from);
  if (path.empty()) return std::nullopt;
  FEWSHOT_ASSIGN_OR_RETURN(core::ModelBundle bundle,
                           core::LoadModelBundle(path));
  FEWSHOT_RETURN_IF_ERROR(
      core::CheckTrainingSplit(bundle.metadata, "--init_from=" + path, protocol,
                               core::HeldOutUse::kTestAndValidation));
  return bundle;
}

// Trains the encoder with Prototypical Networks and writes a new bundle.
int TrainEncoder(const std::string& command,
                 const core::ProtocolOptions& protocol,
                 core::OmniglotOptions data) {
  absl::StatusOr<std::optional<core::ModelBundle>> initial =
      LoadInitialBundle(protocol);
  if (!initial.ok()) {
    std::cerr << "fewshot-train: " << initial.status() << "\n";
    return absl::IsInvalidArgument(initial.status()) ? 2 : 1;
  }
  if (initial->has_value()) {
    data.preprocessing = (*initial)->metadata.preprocessing;
  }

  // Join the data-parallel workers when --world_size is above 1.
  absl::StatusOr<std::unique_ptr<core::GradientAverager>> averager =
      GradientAveragerFromFlags();
  if (!averager.ok()) {
    std::cerr << "fewshot-train: " << averager.status() << "\n";
    return absl::IsInvalidArgument(averager.status()) ? 2 : 1;
  }
  const int rank = *averager == nullptr ? 0 : (*averager)->rank();
  const int world_size = *averager == nullptr ? 1 : (*averager)->world_size();

  absl::StatusOr<core::ImageDataset> train_set =
      LoadRole(core::DataRole::kTrain, protocol, data);
  if (!train_set.ok()) {
    std::cerr << "fewshot-train: " << train_set.status() << "\n";
    return 1;
  }

  // Train.
  core::MetaTrainerOptions options;
  options.shape = {ShapeFlag(FLAGS_ways, 60), ShapeFlag(FLAGS_shots, 5),
                   ShapeFlag(FLAGS_queries, 5)};
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
  options.averager = averager->get();
  if (initial->has_value()) {
    options.encoder = (*initial)->metadata.encoder;
    options.initial_encoder = (*initial)->encoder;
  }

  ProgressBar bar(options.episodes);
  core::MetaTrainer trainer(&*train_set, options);
  absl::StatusOr<core::TrainingResult> result =
      trainer.Run([&](const core::TrainingProgress& p) {
        if (rank != 0) return;
        bar.Update(
            p.episode, p.episodes_per_second,
            absl::StrFormat("loss %.4f acc %.2f%% lr %.2g", p.running_loss,
                            100 * p.running_accuracy, p.learning_rate));
      });
  if (rank == 0) bar.Finish();
  if (!result.ok()) {
    std::cerr << "fewshot-train: " << result.status() << "\n";
    return 1;
  }
  if (rank != 0) {
    std::cout << absl::StrFormat(
        "rank %d of %d trained %d steps in %s (%.1f s); rank 0 writes the "
        "bundle\n",
        rank, world_size, result->episodes, FormatDuration(result->seconds),
        result->seconds);
    return 0;
  }

  // Write the bundle (rank 0 only).
  core::ModelBundle bundle;
  bundle.encoder = result->encoder;
  core::BundleMetadata& metadata = bundle.metadata;
  metadata.name = absl::GetFlag(FLAGS_name);
  metadata.version =
      absl::GetFlag(FLAGS_version).empty()
          ? absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone())
          : absl::GetFlag(FLAGS_version);
  metadata.preprocessing = options.preprocessing;
  metadata.encoder = options.encoder;
  metadata.embedding_size = result->encoder->EmbeddingSize(
      options.preprocessing.height, options.preprocessing.width);
  core::MethodSpec protonet;
  protonet.name = core::PrototypicalMethod::kName;
  metadata.methods = {protonet};
  metadata.training_split =
      core::ProtocolSplitName(protocol, core::DataRole::kTrain);
  metadata.training_split_seed = protocol.split_seed;
  metadata.training_validation_classes = protocol.validation_classes;
  metadata.training_command = command;
  metadata.training_episodes = result->episodes * world_size;
  metadata.training_seconds = result->seconds;
  if (initial->has_value()) {
    const core::BundleMetadata& base = (*initial)->metadata;
    metadata.training_command =
        absl::StrCat(base.training_command, " ; then: ", command);
    metadata.training_episodes += base.training_episodes;
    metadata.training_seconds += base.training_seconds;
  }
  const std::string output = absl::GetFlag(FLAGS_output).empty()
                                 ? "models/omniglot-conv4"
                                 : absl::GetFlag(FLAGS_output);
  const absl::Status saved = core::SaveModelBundle(bundle, output);
  if (!saved.ok()) {
    std::cerr << "fewshot-train: " << saved << "\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "trained %d episodes in %s (%.1f s); running accuracy %.2f%%; "
      "bundle %s version %s\n",
      result->episodes * world_size, FormatDuration(result->seconds),
      result->seconds, 100 * result->final_running_accuracy, output,
      metadata.version);
  if (initial->has_value()) {
    std::cout << absl::StrFormat(
        "with the base bundle's training: %d episodes in %s (%.1f s)\n",
        metadata.training_episodes, FormatDuration(metadata.training_seconds),
        metadata.training_seconds);
  }
  return 0;
}

// Prints the 5-way 1- and 5-shot test accuracy of `head` and of protonet
// on the same seeded episodes of the test classes.
absl::Status ReportTestAccuracy(const core::Encoder& encoder,
                                const core::HeadParameters& head,
                                core::HeadTrainerOptions options,
                                const core::ProtocolOptions& protocol,
                                const core::OmniglotOptions& data,
                                int episodes) {
  FEWSHOT_ASSIGN_OR_RETURN(core::ImageDataset test_set,
                           LoadRole(core::DataRole::kTest, protocol, data));
  FEWSHOT_ASSIGN_OR_RETURN(
      core::EmbeddedClasses test,
      core::EmbedClasses(encoder, test_set, /*rotations=*/false));
  const std::string method = options.method;
  for (const int shots : {1, 5}) {
    options.shape = {.ways = 5, .shots = shots, .queries = 15};
    std::string line = absl::StrFormat(
        "%s 5-way %d-shot, %d episodes:",
        core::ProtocolSplitName(protocol, core::DataRole::kTest), shots,
        episodes);
    for (const std::string& name : {method, std::string("protonet")}) {
      options.method = name;
      FEWSHOT_ASSIGN_OR_RETURN(double accuracy,
                               core::EvaluateHead(head, test, options, episodes,
                                                  /*seed=*/options.seed + 7));
      absl::StrAppendFormat(&line, " %s %.2f%%", name, 100 * accuracy);
    }
    std::cout << line << "\n";
  }
  return absl::OkStatus();
}

// Meta-trains the head of --method on --base_model's frozen encoder and
// writes the bundle with the head added.
int TrainHead(const std::string& command, const std::string& method,
              const core::ProtocolOptions& protocol,
              core::OmniglotOptions data) {
  const std::string base = absl::GetFlag(FLAGS_base_model);
  absl::StatusOr<core::ModelBundle> bundle = core::LoadModelBundle(base);
  if (!bundle.ok()) {
    std::cerr << "fewshot-train: " << bundle.status() << "\n";
    return 1;
  }
  const absl::Status split =
      core::CheckTrainingSplit(bundle->metadata, "--base_model=" + base,
                               protocol, core::HeldOutUse::kTestAndValidation);
  if (!split.ok()) {
    std::cerr << "fewshot-train: " << split.message() << "\n";
    return 2;
  }
  data.preprocessing = bundle->metadata.preprocessing;
  absl::StatusOr<core::ImageDataset> train_set =
      LoadRole(core::DataRole::kTrain, protocol, data);
  if (!train_set.ok()) {
    std::cerr << "fewshot-train: " << train_set.status() << "\n";
    return 1;
  }
  absl::StatusOr<core::ImageDataset> validation_set;
  if (protocol.validation_classes > 0) {
    validation_set = LoadRole(core::DataRole::kValidation, protocol, data);
    if (!validation_set.ok()) {
      std::cerr << "fewshot-train: " << validation_set.status() << "\n";
      return 1;
    }
  }

  // Embed every training (and validation) image once; the encoder is
  // frozen, so these are the only forward passes.
  const absl::Time embed_start = absl::Now();
  const core::Encoder encoder(bundle->encoder, bundle->metadata.preprocessing);
  absl::StatusOr<core::EmbeddedClasses> train =
      core::EmbedClasses(encoder, *train_set, absl::GetFlag(FLAGS_rotations));
  if (!train.ok()) {
    std::cerr << "fewshot-train: " << train.status() << "\n";
    return 1;
  }
  absl::StatusOr<core::EmbeddedClasses> validation;
  if (validation_set.ok()) {
    validation =
        core::EmbedClasses(encoder, *validation_set, /*rotations=*/false);
    if (!validation.ok()) {
      std::cerr << "fewshot-train: " << validation.status() << "\n";
      return 1;
    }
  }
  FEWSHOT_LOG(INFO) << "embedded " << train->embeddings.size(0)
                    << " training images (" << train->num_classes()
                    << " classes) in " << absl::Now() - embed_start;

  core::HeadTrainerOptions options;
  options.method = method;
  options.shape = {ShapeFlag(FLAGS_ways, 5), ShapeFlag(FLAGS_shots, 1),
                   ShapeFlag(FLAGS_queries, 15)};
  options.episodes = absl::GetFlag(FLAGS_episodes);
  options.learning_rate = absl::GetFlag(FLAGS_lr);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.validation_episodes = absl::GetFlag(FLAGS_validation_episodes);
  options.validate_every = absl::GetFlag(FLAGS_validate_every);
  options.maml_steps = absl::GetFlag(FLAGS_maml_steps);
  options.maml_initial_step_size = absl::GetFlag(FLAGS_maml_step_size);
  options.attention_size = absl::GetFlag(FLAGS_attention_size);

  ProgressBar bar(options.episodes);
  const absl::Time train_start = absl::Now();
  absl::StatusOr<core::HeadTrainingResult> result = core::TrainHead(
      *train, validation.ok() ? &*validation : nullptr, options,
      [&](const core::HeadTrainingProgress& p) {
        const double seconds = absl::ToDoubleSeconds(absl::Now() - train_start);
        bar.Update(p.episode, seconds > 0 ? p.episode / seconds : 0.0,
                   absl::StrFormat("loss %.4f acc %.2f%% val %.2f%%",
                                   p.running_loss, 100 * p.running_accuracy,
                                   100 * p.validation_accuracy));
      });
  bar.Finish();
  if (!result.ok()) {
    std::cerr << "fewshot-train: " << result.status() << "\n";
    return 1;
  }

  // Add or replace the method and its head; its old figures are stale.
  core::BundleMetadata& metadata = bundle->metadata;
  result->spec.hyperparameters["train_ways"] = options.shape.ways;
  result->spec.hyperparameters["train_shots"] = options.shape.shots;
  result->spec.hyperparameters["train_episodes"] =
      static_cast<double>(result->episodes);
  metadata.methods.erase(
      std::remove_if(
          metadata.methods.begin(), metadata.methods.end(),
          [&](const core::MethodSpec& spec) { return spec.name == method; }),
      metadata.methods.end());
  metadata.methods.push_back(result->spec);
  metadata.accuracy.erase(
      std::remove_if(metadata.accuracy.begin(), metadata.accuracy.end(),
                     [&](const core::AccuracyRecord& record) {
                       return record.method == method;
                     }),
      metadata.accuracy.end());
  bundle->heads[method] = result->head;
  FEWSHOT_LOG(INFO) << "trained with: " << command;
  const std::string output =
      absl::GetFlag(FLAGS_output).empty() ? base : absl::GetFlag(FLAGS_output);
  const absl::Status saved = core::SaveModelBundle(*bundle, output);
  if (!saved.ok()) {
    std::cerr << "fewshot-train: " << saved << "\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "trained the %s head for %d episodes in %.1f s; running accuracy "
      "%.2f%%; kept episode %d (validation accuracy %.2f%%); bundle %s\n",
      method, result->episodes, result->seconds,
      100 * result->final_running_accuracy, result->best_episode,
      100 * result->best_validation_accuracy, output);
  if (absl::GetFlag(FLAGS_test_episodes) <= 0) return 0;
  const absl::Status tested =
      ReportTestAccuracy(encoder, result->head, options, protocol, data,
                         absl::GetFlag(FLAGS_test_episodes));
  if (!tested.ok()) {
    std::cerr << "fewshot-train: " << tested << "\n";
    return 1;
  }
  return 0;
}

int Run(int argc, char** argv) {
  const std::string command = absl::StrJoin(argv, argv + argc, " ");
  absl::SetProgramUsageMessage(
      "Meta-trains an encoder (protonet) or a method head (maml, attention) "
      "on Omniglot and writes a model bundle.");
  absl::ParseCommandLine(argc, argv);

  const absl::Status threads =
      core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads), 1);
  if (!threads.ok()) {
    std::cerr << "fewshot-train: " << threads << "\n";
    return 2;
  }
  absl::StatusOr<core::ProtocolOptions> protocol = ProtocolOptionsFromFlags();
  if (!protocol.ok()) {
    std::cerr << "fewshot-train: " << protocol.status() << "\n";
    return 2;
  }
  const core::OmniglotOptions data =
      OmniglotOptionsFromFlags(core::Preprocessing{});

  const std::string method = absl::GetFlag(FLAGS_method);
  if (method == core::PrototypicalMethod::kName) {
    return TrainEncoder(command, *protocol, data);
  }
  if (method == "maml" || method == "attention") {
    if (absl::GetFlag(FLAGS_world_size) != 1) {
      std::cerr << "fewshot-train: --world_size="
                << absl::GetFlag(FLAGS_world_size)
                << " works only with --method=protonet; train heads with "
                   "--world_size=1\n";
      return 2;
    }
    return TrainHead(command, method, *protocol, data);
  }
  std::cerr << "fewshot-train: --method is \"" << method
            << "\"; expected protonet, maml or attention\n";
  return 2;
}

}  // namespace
}  // namespace fewshot::tools

int main(int argc, char** argv) { return fewshot::tools::Run(argc, argv); }
