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

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/data/preprocessing.h"
#include "core/model/conv4.h"

namespace fewshot::core {

// The format this build writes; it reads this version only.
inline constexpr int kBundleFormatVersion = 1;

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

struct BundleMetadata {
  int format_version = kBundleFormatVersion;
  std::string name;
  std::string version;
  Preprocessing preprocessing;
  Conv4Options encoder;
  int64_t embedding_size = 0;
  std::vector<std::string> methods;
  std::string training_split;  // e.g. "omniglot/background"
  // The command that produced the weights and what it cost.
  std::string training_command;
  int64_t training_episodes = 0;
  double training_seconds = 0.0;
  std::vector<AccuracyRecord> accuracy;
};

struct ModelBundle {
  BundleMetadata metadata;
  Conv4 encoder{nullptr};
};

// Reads a bundle folder. Returns NOT_FOUND when a file is missing and
// INVALID_ARGUMENT when the metadata is malformed, of another format
// version, or does not match the weights.
absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& dir);

// Writes `bundle` into `dir` (created if needed).
absl::Status SaveModelBundle(const ModelBundle& bundle,
                             const std::string& dir);

// Reads or writes bundle.json alone (used to add evaluation results).
absl::StatusOr<BundleMetadata> ReadBundleMetadata(const std::string& dir);
absl::Status WriteBundleMetadata(const BundleMetadata& metadata,
                                 const std::string& dir);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_BUNDLE_MODEL_BUNDLE_H_
