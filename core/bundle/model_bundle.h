// The model bundle: a folder with the encoder weights (encoder.pt) and a
// small JSON metadata file (bundle.json) describing preprocessing, methods,
// training and measured accuracy. The server, the evaluator and the trainer
// all load bundles through this file.
//
// Example:
//   absl::StatusOr<ModelBundle> bundle = LoadModelBundle("models/default");
//   Encoder encoder(bundle->encoder, bundle->metadata.preprocessing);
#ifndef FEWSHOT_CORE_BUNDLE_MODEL_BUNDLE_H_
#define FEWSHOT_CORE_BUNDLE_MODEL_BUNDLE_H_

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/preprocessing.h"
#include "core/model/conv4.h"

namespace fewshot::core {

// The format this build writes. Version 1 listed method names only and is
// still read (each method then has no head and temperature 1).
inline constexpr int kBundleFormatVersion = 2;
inline constexpr int kOldestBundleFormatVersion = 1;

inline constexpr char kBundleMetadataFile[] = "bundle.json";
inline constexpr char kBundleWeightsFile[] = "encoder.pt";

// One accuracy figure measured with the evaluator.
struct AccuracyRecord {
  std::string method;
  std::string split;  // e.g. "omniglot/evaluation"
  int ways = 0;
  int shots = 0;
  int queries = 0;
  int episodes = 0;
  double accuracy = 0.0;  // Mean, in [0, 1].
  double ci95 = 0.0;      // Half-width of the 95% confidence interval.
};

// A temperature fitted on validation episodes with `shots` support
// examples per class.
struct ShotTemperature {
  int shots = 0;
  double temperature = 1.0;
};

// One adaptation method the bundle offers, and what it learned. All methods
// of a bundle share its encoder; a method's own learned weights (its head)
// live in `parameters_file`.
struct MethodSpec {
  std::string name;
  // Head weights, relative to the bundle folder (e.g. "heads/maml.pt");
  // empty when the method learns nothing beyond the encoder.
  std::string parameters_file;
  // The method's hyper-parameters by name, e.g. {"steps", 5}.
  std::map<std::string, double> hyperparameters;
  // Scores are divided by it before the softmax that gives probabilities,
  // unless `temperatures_by_shots` is non-empty.
  double temperature = 1.0;
  // Calibrated temperatures by support examples per class, in increasing
  // order of `shots` (see TemperatureSchedule for how they apply).
  std::vector<ShotTemperature> temperatures_by_shots;
};

// A method's learned tensors by name.
using HeadParameters = std::map<std::string, torch::Tensor>;

struct BundleMetadata {
  int format_version = kBundleFormatVersion;
  std::string name;
  std::string version;
  Preprocessing preprocessing;
  Conv4Options encoder;
  int64_t embedding_size = 0;
  // Default first.
  std::vector<MethodSpec> methods;
  std::string training_split;  // e.g. "omniglot/alphabet/train"
  // The protocol's split seed and validation-class count the weights were
  // trained with, which fix the classes they saw; unset in bundles made
  // before they were recorded.
  std::optional<uint64_t> training_split_seed;
  std::optional<int> training_validation_classes;
  // The command that produced the weights and what it cost.
  std::string training_command;
  int64_t training_episodes = 0;
  double training_seconds = 0.0;
  std::vector<AccuracyRecord> accuracy;

  // The names of `methods`, in order.
  std::vector<std::string> MethodNames() const;
  // The method called `name`, or nullptr.
  const MethodSpec* FindMethod(const std::string& name) const;
  MethodSpec* FindMethod(const std::string& name);
};

struct ModelBundle {
  BundleMetadata metadata;
  Conv4 encoder{nullptr};
  // By method name, for each method with a parameters_file.
  std::map<std::string, HeadParameters> heads;
};

// Reads a bundle folder with its encoder and every head. Returns NOT_FOUND
// when a file is missing and INVALID_ARGUMENT when the metadata is
// malformed, of an unknown format version, or does not match the weights.
absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& dir);

// Writes `bundle` into `dir` (created if needed): the encoder, the heads
// of `bundle.heads` at their methods' parameters_file, and bundle.json.
// INVALID_ARGUMENT when a head has no method with a parameters_file.
absl::Status SaveModelBundle(const ModelBundle& bundle, const std::string& dir);

// Reads or writes bundle.json alone (used to add evaluation results or
// calibrated temperatures). Reading accepts format versions 1 and 2;
// writing always writes the current version.
absl::StatusOr<BundleMetadata> ReadBundleMetadata(const std::string& dir);
absl::Status WriteBundleMetadata(const BundleMetadata& metadata,
                                 const std::string& dir);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_BUNDLE_MODEL_BUNDLE_H_
