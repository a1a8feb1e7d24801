// Checks that the classes a bundle was trained on stay out of the classes
// a run tests, validates or calibrates on: the run must use the bundle's
// protocol and, where they decide those classes, its split seed and number
// of validation classes.
//
// Example:
//   absl::Status ok = CheckTrainingSplit(bundle.metadata, "--model_dir=m",
//                                        protocol, HeldOutUse::kTestOnly);
#ifndef FEWSHOT_CORE_BUNDLE_TRAINING_SPLIT_CHECK_H_
#define FEWSHOT_CORE_BUNDLE_TRAINING_SPLIT_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "core/bundle/model_bundle.h"
#include "core/data/omniglot_protocol.h"

namespace fewshot::core {

// The held-out classes a run uses.
enum class HeldOutUse {
  // Test classes only (evaluation).
  kTestOnly,
  // Validation classes too (selection, calibration, further training).
  kTestAndValidation,
};

// OK when `protocol` gives the training split `metadata` records and, when
// they decide the classes of `use`, the same split seed and validation
// count. Otherwise INVALID_ARGUMENT, starting with `bundle` (how the
// caller names it, e.g. "--init_from=models/x") and naming the flag to
// change; also when the bundle does not record a value the check needs.
absl::Status CheckTrainingSplit(const BundleMetadata& metadata,
                                const std::string& bundle,
                                const ProtocolOptions& protocol,
                                HeldOutUse use);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_BUNDLE_TRAINING_SPLIT_CHECK_H_
