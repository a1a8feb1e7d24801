// Tests the class sets of the alphabet and character protocols on the real
// Omniglot archives: sizes, disjointness and seeding.
#include "core/data/omniglot_protocol.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/core/omniglot_test_options.h"

namespace fewshot::core {
namespace {

using ::fewshot::testing::TestOmniglotOptions;

std::set<std::string> ClassNames(const ImageDataset& dataset) {
  return {dataset.class_names.begin(), dataset.class_names.end()};
}

ImageDataset Load(DataRole role, const ProtocolOptions& protocol) {
  absl::StatusOr<ImageDataset> dataset =
      LoadOmniglotRole(role, protocol, TestOmniglotOptions());
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return dataset.ok() ? *std::move(dataset) : ImageDataset{};
}

TEST(OmniglotProtocolTest, CharacterSplitCoversEveryCharacterOnce) {
  const ProtocolOptions protocol{.protocol = OmniglotProtocol::kCharacter};
  const ImageDataset train = Load(DataRole::kTrain, protocol);
  const ImageDataset test = Load(DataRole::kTest, protocol);
  ASSERT_EQ(train.num_classes(), 1200);
  ASSERT_EQ(test.num_classes(), 423);
  ASSERT_TRUE(ValidateDataset(train).ok());
  ASSERT_TRUE(ValidateDataset(test).ok());

  std::set<std::string> all = ClassNames(train);
  for (const std::string& name : test.class_names) {
    EXPECT_TRUE(all.insert(name).second) << name << " in train and test";
  }
  EXPECT_EQ(all.size(), 1623u);

  // Both parts draw from many alphabets, not a block of them.
  std::set<std::string> test_alphabets;
  for (const std::string& name : test.class_names) {
    test_alphabets.insert(AlphabetOf(name));
  }
  EXPECT_GE(test_alphabets.size(), 40u);
}

TEST(OmniglotProtocolTest, CharacterSplitFollowsItsSeed) {
  const ProtocolOptions first{.protocol = OmniglotProtocol::kCharacter};
  ProtocolOptions other = first;
  other.split_seed = 2;
  const ImageDataset test = Load(DataRole::kTest, first);
  EXPECT_EQ(Load(DataRole::kTest, first).class_names, test.class_names);
  EXPECT_NE(Load(DataRole::kTest, other).class_names, test.class_names);
}

TEST(OmniglotProtocolTest, ImagesFollowTheirClass) {
  absl::StatusOr<ImageDataset> evaluation =
      LoadOmniglot(OmniglotSplit::kEvaluation, TestOmniglotOptions());
  ASSERT_TRUE(evaluation.ok()) << evaluation.status();
  const ProtocolOptions protocol{.protocol = OmniglotProtocol::kCharacter};
  const ImageDataset test = Load(DataRole::kTest, protocol);

  // Find a test class from the evaluation archive and compare its pixels.
  for (int c = 0; c < test.num_classes(); ++c) {
    for (int e = 0; e < evaluation->num_classes(); ++e) {
      if (evaluation->class_names[e] != test.class_names[c]) continue;
      const torch::Tensor expected = evaluation->images.slice(
          0, evaluation->class_begin[e], evaluation->class_begin[e + 1]);
      const torch::Tensor actual =
          test.images.slice(0, test.class_begin[c], test.class_begin[c + 1]);
      EXPECT_TRUE(torch::equal(expected, actual)) << test.class_names[c];
      return;
    }
  }
  FAIL() << "no evaluation-archive character in the test classes";
}

TEST(OmniglotProtocolTest, ValidationIsCarvedFromTraining) {
  ProtocolOptions protocol;
  protocol.validation_classes = 64;
  const ImageDataset train = Load(DataRole::kTrain, protocol);
  const ImageDataset validation = Load(DataRole::kValidation, protocol);
  EXPECT_EQ(train.num_classes(), 964 - 64);
  EXPECT_EQ(validation.num_classes(), 64);
  const std::set<std::string> train_names = ClassNames(train);
  for (const std::string& name : validation.class_names) {
    EXPECT_EQ(train_names.count(name), 0u) << name;
  }

  // The alphabet protocol's test classes stay the evaluation archive.
  EXPECT_EQ(Load(DataRole::kTest, protocol).num_classes(), 659);
}

TEST(OmniglotProtocolTest, RejectsImpossibleValidationSizes) {
  ProtocolOptions protocol;
  protocol.validation_classes = 964;
  EXPECT_EQ(LoadOmniglotRole(DataRole::kTrain, protocol, TestOmniglotOptions())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  protocol.validation_classes = 0;
  EXPECT_EQ(
      LoadOmniglotRole(DataRole::kValidation, protocol, TestOmniglotOptions())
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ParseOmniglotProtocol("alphabets").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
