// Builds the training, validation and test class sets of the alphabet and
// character protocols from Omniglot's two archives.
#include "core/data/omniglot_protocol.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace fewshot::core {
namespace {

// Mixed into the split seed so that the validation draw does not repeat
// the character split's draw.
constexpr uint64_t kValidationSeedMix = 0x9e3779b97f4a7c15ULL;

// A seeded permutation of 0..n-1 that is the same on every platform
// (std::shuffle's algorithm is left to the library).
std::vector<int> SeededPermutation(int n, uint64_t seed) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int i = n - 1; i > 0; --i) {
    const int j = static_cast<int>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

// Splits 0..n-1 into `first_count` seeded picks and the rest, each sorted
// so that classes keep their alphabet order.
std::pair<std::vector<int>, std::vector<int>> SeededPartition(int n,
                                                              int first_count,
                                                              uint64_t seed) {
  std::vector<int> order = SeededPermutation(n, seed);
  std::vector<int> first(order.begin(), order.begin() + first_count);
  std::vector<int> rest(order.begin() + first_count, order.end());
  std::sort(first.begin(), first.end());
  std::sort(rest.begin(), rest.end());
  return {std::move(first), std::move(rest)};
}

// Both archives as one data set of 1623 classes, background first.
absl::StatusOr<ImageDataset> LoadAllCharacters(const OmniglotOptions& options) {
  FEWSHOT_ASSIGN_OR_RETURN(ImageDataset background,
                           LoadOmniglot(OmniglotSplit::kBackground, options));
  FEWSHOT_ASSIGN_OR_RETURN(ImageDataset evaluation,
                           LoadOmniglot(OmniglotSplit::kEvaluation, options));
  return ConcatDatasets(background, evaluation);
}

}  // namespace

const char* OmniglotProtocolName(OmniglotProtocol protocol) {
  return protocol == OmniglotProtocol::kAlphabet ? "alphabet" : "character";
}

absl::StatusOr<OmniglotProtocol> ParseOmniglotProtocol(
    const std::string& name) {
  if (name == "alphabet") return OmniglotProtocol::kAlphabet;
  if (name == "character") return OmniglotProtocol::kCharacter;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown Omniglot protocol \"", name,
      "\"; use alphabet (unseen alphabets) or character (1200/423 split)"));
}

const char* DataRoleName(DataRole role) {
  switch (role) {
    case DataRole::kTrain:
      return "train";
    case DataRole::kValidation:
      return "validation";
    case DataRole::kTest:
      return "test";
  }
  return "unknown";
}

std::string ProtocolSplitName(const ProtocolOptions& options, DataRole role) {
  return absl::StrCat("omniglot/", OmniglotProtocolName(options.protocol), "/",
                      DataRoleName(role));
}

ImageDataset SelectClasses(const ImageDataset& dataset,
                           const std::vector<int>& classes) {
  ImageDataset selected;
  std::vector<int64_t> rows;
  selected.class_begin.push_back(0);
  for (const int c : classes) {
    for (int64_t row = dataset.class_begin[c]; row < dataset.class_begin[c + 1];
         ++row) {
      rows.push_back(row);
    }
    selected.class_begin.push_back(static_cast<int64_t>(rows.size()));
    selected.class_names.push_back(dataset.class_names[c]);
  }
  selected.images = dataset.images.index_select(
      0, torch::tensor(rows, torch::dtype(torch::kLong)));
  return selected;
}

absl::StatusOr<ImageDataset> ConcatDatasets(const ImageDataset& first,
                                            const ImageDataset& second) {
  if (first.images.size(1) != second.images.size(1) ||
      first.images.size(2) != second.images.size(2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot join data sets of ", first.images.size(1), "x",
                     first.images.size(2), " and ", second.images.size(1), "x",
                     second.images.size(2), " images"));
  }
  ImageDataset joined;
  joined.images = torch::cat({first.images, second.images}, 0);
  joined.class_begin = first.class_begin;
  const int64_t offset = first.num_images();
  for (size_t c = 1; c < second.class_begin.size(); ++c) {
    joined.class_begin.push_back(offset + second.class_begin[c]);
  }
  joined.class_names = first.class_names;
  joined.class_names.insert(joined.class_names.end(),
                            second.class_names.begin(),
                            second.class_names.end());
  return joined;
}

std::string AlphabetOf(const std::string& class_name) {
  return class_name.substr(0, class_name.find('/'));
}

absl::StatusOr<ImageDataset> LoadOmniglotRole(DataRole role,
                                              const ProtocolOptions& protocol,
                                              const OmniglotOptions& options) {
  // The test classes need no validation carve.
  if (role == DataRole::kTest &&
      protocol.protocol == OmniglotProtocol::kAlphabet) {
    return LoadOmniglot(OmniglotSplit::kEvaluation, options);
  }

  // All training classes of the protocol, and its test classes.
  ImageDataset training;
  if (protocol.protocol == OmniglotProtocol::kAlphabet) {
    FEWSHOT_ASSIGN_OR_RETURN(training,
                             LoadOmniglot(OmniglotSplit::kBackground, options));
  } else {
    FEWSHOT_ASSIGN_OR_RETURN(ImageDataset all, LoadAllCharacters(options));
    auto [train_classes, test_classes] = SeededPartition(
        all.num_classes(), kCharacterProtocolTrainClasses, protocol.split_seed);
    if (role == DataRole::kTest) return SelectClasses(all, test_classes);
    training = SelectClasses(all, train_classes);
  }

  // Carve the validation classes out of the training classes.
  if (role == DataRole::kValidation && protocol.validation_classes == 0) {
    return absl::FailedPreconditionError(
        "no validation classes: set validation_classes above 0");
  }
  if (protocol.validation_classes < 0 ||
      protocol.validation_classes >= training.num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "validation_classes must be in [0, ", training.num_classes(),
        "), the protocol's training classes; got ",
        protocol.validation_classes));
  }
  auto [validation_classes, train_classes] =
      SeededPartition(training.num_classes(), protocol.validation_classes,
                      protocol.split_seed ^ kValidationSeedMix);
  return SelectClasses(training, role == DataRole::kValidation
                                     ? validation_classes
                                     : train_classes);
}

}  // namespace fewshot::core
