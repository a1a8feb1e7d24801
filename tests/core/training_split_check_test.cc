// Tests that a run is refused a bundle trained on classes it could test or
// validate on, and accepted one trained apart from them.
#include "core/bundle/training_split_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace fewshot::core {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

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

// The check's message for `metadata` under `protocol` and `use`: "ok"
// when it accepts, else its INVALID_ARGUMENT message.
std::string Verdict(const BundleMetadata& metadata,
                    const ProtocolOptions& protocol, HeldOutUse use) {
  const absl::Status status =
      CheckTrainingSplit(metadata, "--model_dir=m", protocol, use);
  if (status.ok()) return "ok";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(TrainingSplitCheckTest, AcceptsTheBundlesOwnSplit) {
  EXPECT_EQ(
      Verdict(AlphabetBundle(), Protocol(OmniglotProtocol::kAlphabet, 1, 100),
              HeldOutUse::kTestAndValidation),
      "ok");
}

TEST(TrainingSplitCheckTest, RefusesAnotherProtocol) {
  const std::string verdict =
      Verdict(AlphabetBundle(), Protocol(OmniglotProtocol::kCharacter, 1, 100),
              HeldOutUse::kTestOnly);
  EXPECT_THAT(verdict, StartsWith("--model_dir=m: "));
  EXPECT_THAT(verdict, HasSubstr("trained on omniglot/alphabet/train"));
}

TEST(TrainingSplitCheckTest, AlphabetTestClassesDoNotDependOnSeedOrCount) {
  // The evaluation alphabets are the test classes whatever the seed.
  EXPECT_EQ(
      Verdict(AlphabetBundle(), Protocol(OmniglotProtocol::kAlphabet, 7, 0),
              HeldOutUse::kTestOnly),
      "ok");
  // Validation classes move with both.
  EXPECT_THAT(
      Verdict(AlphabetBundle(), Protocol(OmniglotProtocol::kAlphabet, 7, 100),
              HeldOutUse::kTestAndValidation),
      HasSubstr("--split_seed=1 and this run has --split_seed=7"));
  EXPECT_THAT(
      Verdict(AlphabetBundle(), Protocol(OmniglotProtocol::kAlphabet, 1, 50),
              HeldOutUse::kTestAndValidation),
      HasSubstr("--validation_classes=100 and this run has "
                "--validation_classes=50"));
}

TEST(TrainingSplitCheckTest, CharacterTestClassesDependOnTheSeed) {
  BundleMetadata metadata = AlphabetBundle();
  metadata.training_split = "omniglot/character/train";
  EXPECT_EQ(Verdict(metadata, Protocol(OmniglotProtocol::kCharacter, 1, 0),
                    HeldOutUse::kTestOnly),
            "ok");
  EXPECT_THAT(Verdict(metadata, Protocol(OmniglotProtocol::kCharacter, 2, 0),
                      HeldOutUse::kTestOnly),
              HasSubstr("--split_seed=2"));
}

TEST(TrainingSplitCheckTest, RefusesABundleThatDoesNotRecordWhatIsNeeded) {
  BundleMetadata metadata = AlphabetBundle();
  metadata.training_split_seed.reset();
  metadata.training_validation_classes.reset();

  // Enough for the alphabet test classes...
  EXPECT_EQ(Verdict(metadata, Protocol(OmniglotProtocol::kAlphabet, 1, 100),
                    HeldOutUse::kTestOnly),
            "ok");
  // ...but not for its validation classes, nor the character test classes.
  EXPECT_THAT(Verdict(metadata, Protocol(OmniglotProtocol::kAlphabet, 1, 100),
                      HeldOutUse::kTestAndValidation),
              HasSubstr("does not record"));
  metadata.training_split = "omniglot/character/train";
  EXPECT_THAT(Verdict(metadata, Protocol(OmniglotProtocol::kCharacter, 1, 0),
                      HeldOutUse::kTestOnly),
              HasSubstr("does not record"));
}

}  // namespace
}  // namespace fewshot::core
