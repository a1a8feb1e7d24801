// The two Omniglot evaluation protocols and the class sets each one gives
// to training, validation and testing.
//
// Alphabet protocol (the default): training uses the 30 background
// alphabets, testing the 20 evaluation alphabets, so whole writing systems
// are unseen at test time. Character protocol (as in most of the
// literature): a seeded split of all 1623 characters of all 50 alphabets
// into 1200 for training and 423 for testing. In both, validation classes
// are carved from the training classes with a seed and never trained on.
//
// Example:
//   ProtocolOptions protocol{.protocol = OmniglotProtocol::kCharacter};
//   absl::StatusOr<ImageDataset> test =
//       LoadOmniglotRole(DataRole::kTest, protocol, omniglot_options);
#ifndef FEWSHOT_CORE_DATA_OMNIGLOT_PROTOCOL_H_
#define FEWSHOT_CORE_DATA_OMNIGLOT_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/image_dataset.h"
#include "core/data/omniglot.h"

namespace fewshot::core {

enum class OmniglotProtocol { kAlphabet, kCharacter };

enum class DataRole { kTrain, kValidation, kTest };

// Characters in the character protocol's training part.
inline constexpr int kCharacterProtocolTrainClasses = 1200;

struct ProtocolOptions {
  OmniglotProtocol protocol = OmniglotProtocol::kAlphabet;
  // Seeds the character split and the choice of validation classes.
  uint64_t split_seed = 1;
  // Training classes set aside for validation (0: none).
  int validation_classes = 0;
};

// "alphabet" or "character", and back; the parser returns
// INVALID_ARGUMENT for any other name.
const char* OmniglotProtocolName(OmniglotProtocol protocol);
absl::StatusOr<OmniglotProtocol> ParseOmniglotProtocol(const std::string& name);

// "train", "validation" or "test".
const char* DataRoleName(DataRole role);

// A name for the class set, e.g. "omniglot/character/test", recorded in
// bundles and reports.
std::string ProtocolSplitName(const ProtocolOptions& options, DataRole role);

// Keeps the classes `classes` of `dataset`, in that order.
// REQUIRES: every index is a class of `dataset`.
ImageDataset SelectClasses(const ImageDataset& dataset,
                           const std::vector<int>& classes);

// Joins two data sets of the same image size: the classes of `first`, then
// those of `second`. Returns INVALID_ARGUMENT when image sizes differ.
absl::StatusOr<ImageDataset> ConcatDatasets(const ImageDataset& first,
                                            const ImageDataset& second);

// The alphabet of a class name such as "Greek/character03".
std::string AlphabetOf(const std::string& class_name);

// Loads the classes that `role` gets under `protocol`. Returns
// INVALID_ARGUMENT when validation_classes leaves no training class, and
// NOT_FOUND when the data is missing.
absl::StatusOr<ImageDataset> LoadOmniglotRole(DataRole role,
                                              const ProtocolOptions& protocol,
                                              const OmniglotOptions& options);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_OMNIGLOT_PROTOCOL_H_
