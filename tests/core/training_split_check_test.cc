// Tests that a run is refused a bundle trained on classes it could test or
// validate on, and accepted one trained apart from them.
#include "core/bundle/training_split_check.h"

#include <gtest/gtest.h>

#include <string>

namespace fewshot::core {
namespace {

// A bundle trained on the alphabet protocol, seed 1, 100 validation
// classes.
BundleMetadata AlphabetBundle() {
  BundleMetadata metadata;
  metadata.training_split = "omniglot/alphabet/train";
  metadata.training_split_seed = 1;
  metadata.training_validation_classes = 100;
  return metadata;
}

ProtocolOptions Protocol(OmniglotProtocol protocol, uint64_t seed,
                         int validation_classes) {
  return {.protocol = protocol,
          .split_seed = seed,
          .validation_classes = validation_classes};
}

// The message of an INVALID_ARGUMENT, or "not refused".
std::string Refusal(const absl::Status& status) {
  if (status.ok()) return "not refused";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(TrainingSplitCheckTest, AcceptsTheBundlesOwnSplit) {
  EXPECT_TRUE(CheckTrainingSplit(AlphabetBundle(),
                                 Protocol(OmniglotProtocol::kAlphabet, 1, 100),
                                 HeldOutUse::kTestAndValidation)
                  .ok());
}

TEST(TrainingSplitCheckTest, RefusesAnotherProtocol) {
  EXPECT_NE(
      Refusal(CheckTrainingSplit(AlphabetBundle(),
                                 Protocol(OmniglotProtocol::kCharacter, 1, 100),
                                 HeldOutUse::kTestOnly))
          .find("trained on omniglot/alphabet/train"),
      std::string::npos);
}

TEST(TrainingSplitCheckTest, AlphabetTestClassesDoNotDependOnSeedOrCount) {
  // The evaluation alphabets are the test classes whatever the seed.
  EXPECT_TRUE(CheckTrainingSplit(AlphabetBundle(),
                                 Protocol(OmniglotProtocol::kAlphabet, 7, 0),
                                 HeldOutUse::kTestOnly)
                  .ok());
  // Validation classes move with both.
  EXPECT_NE(
      Refusal(CheckTrainingSplit(AlphabetBundle(),
                                 Protocol(OmniglotProtocol::kAlphabet, 7, 100),
                                 HeldOutUse::kTestAndValidation))
          .find("--split_seed=1 and this run has --split_seed=7"),
      std::string::npos);
  EXPECT_NE(
      Refusal(CheckTrainingSplit(AlphabetBundle(),
                                 Protocol(OmniglotProtocol::kAlphabet, 1, 50),
                                 HeldOutUse::kTestAndValidation))
          .find("--validation_classes=100 and this run has "
                "--validation_classes=50"),
      std::string::npos);
}

TEST(TrainingSplitCheckTest, CharacterTestClassesDependOnTheSeed) {
  BundleMetadata metadata = AlphabetBundle();
  metadata.training_split = "omniglot/character/train";
  EXPECT_TRUE(CheckTrainingSplit(metadata,
                                 Protocol(OmniglotProtocol::kCharacter, 1, 0),
                                 HeldOutUse::kTestOnly)
                  .ok());
  EXPECT_NE(Refusal(CheckTrainingSplit(
                        metadata, Protocol(OmniglotProtocol::kCharacter, 2, 0),
                        HeldOutUse::kTestOnly))
                .find("--split_seed=2"),
            std::string::npos);
}

TEST(TrainingSplitCheckTest, RefusesABundleThatDoesNotRecordWhatIsNeeded) {
  BundleMetadata metadata = AlphabetBundle();
  metadata.training_split_seed.reset();
  metadata.training_validation_classes.reset();

  // Enough for the alphabet test classes...
  EXPECT_TRUE(CheckTrainingSplit(metadata,
                                 Protocol(OmniglotProtocol::kAlphabet, 1, 100),
                                 HeldOutUse::kTestOnly)
                  .ok());
  // ...but not for its validation classes, nor the character test classes.
  EXPECT_NE(Refusal(CheckTrainingSplit(
                        metadata, Protocol(OmniglotProtocol::kAlphabet, 1, 100),
                        HeldOutUse::kTestAndValidation))
                .find("does not record"),
            std::string::npos);
  metadata.training_split = "omniglot/character/train";
  EXPECT_NE(Refusal(CheckTrainingSplit(
                        metadata, Protocol(OmniglotProtocol::kCharacter, 1, 0),
                        HeldOutUse::kTestOnly))
                .find("does not record"),
            std::string::npos);
}

}  // namespace
}  // namespace fewshot::core
