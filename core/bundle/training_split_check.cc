// Compares a bundle's recorded training split with a run's protocol.
#include "core/bundle/training_split_check.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fewshot::core {

absl::Status CheckTrainingSplit(const BundleMetadata& metadata,
                                const std::string& bundle,
                                const ProtocolOptions& protocol,
                                HeldOutUse use) {
  auto refuse = [&bundle](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(bundle, ": ", why));
  };
  const std::string split = ProtocolSplitName(protocol, DataRole::kTrain);
  if (metadata.training_split != split) {
    return refuse(absl::StrFormat(
        "the bundle was trained on %s and this run's training classes are "
        "%s: set --protocol (and --split_seed) to the bundle's",
        metadata.training_split, split));
  }

  // The alphabet protocol's test classes are whole alphabets, whatever the
  // seed; the character protocol draws them with the seed. Validation
  // classes depend on both values in either protocol.
  const bool needs_validation = use == HeldOutUse::kTestAndValidation;
  const bool needs_seed =
      needs_validation || protocol.protocol == OmniglotProtocol::kCharacter;
  if ((needs_seed && !metadata.training_split_seed.has_value()) ||
      (needs_validation && !metadata.training_validation_classes.has_value())) {
    return refuse(
        "the bundle does not record the split seed and validation classes "
        "it was trained with (it predates those fields): add "
        "training.split_seed and training.validation_classes to its "
        "bundle.json from its training command, or retrain it");
  }

  const char* const keep_apart =
      "use the bundle's value, or classes it was trained on could be among "
      "this run's test or validation classes";
  if (needs_seed && *metadata.training_split_seed != protocol.split_seed) {
    return refuse(absl::StrFormat(
        "the bundle was trained with --split_seed=%d and this run has "
        "--split_seed=%d: %s",
        *metadata.training_split_seed, protocol.split_seed, keep_apart));
  }
  if (needs_validation &&
      *metadata.training_validation_classes != protocol.validation_classes) {
    return refuse(absl::StrFormat(
        "the bundle was trained with --validation_classes=%d and this run "
        "has --validation_classes=%d: %s",
        *metadata.training_validation_classes, protocol.validation_classes,
        keep_apart));
  }
  return absl::OkStatus();
}

}  // namespace fewshot::core
