// Tests the binary form of AdaptationState: exact round trips and refusal
// of damaged or foreign input.
#include "core/adapt/state_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "core/adapt/adaptation_edits.h"
#include "core/adapt/attention.h"
#include "core/adapt/maml.h"
#include "core/adapt/prototypical.h"

namespace fewshot::core {
namespace {

// A built protonet state with every field set.
AdaptationState SampleState() {
  AdaptationState state;
  state.method = "protonet";
  state.model_version = "1.2.3";
  state.encoder_fingerprint = "00112233aabbccdd";
  state.labels = {"cat", "dog", "ünïcode"};
  state.support_embeddings = torch::tensor(
      {{0.5f, -1.0f}, {2.0f, 4.0f}, {10.0f, 10.0f}, {3.0f, 3.0f}});
  state.support_labels = torch::tensor({0, 0, 1, 2}, torch::kInt64);
  StampNewState(/*now_unix_ms=*/1700000000123, &state);
  PrototypicalMethod method;
  EXPECT_TRUE(method.Build(&state).ok());
  state.revision = 5;
  state.updated_unix_ms = 1700000000999;
  return state;
}

TEST(StateCodecTest, RoundTripIsExact) {
  const AdaptationState state = SampleState();
  const std::string bytes = EncodeAdaptationState(state);
  absl::StatusOr<AdaptationState> back = DecodeAdaptationState(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->method, state.method);
  EXPECT_EQ(back->model_version, state.model_version);
  EXPECT_EQ(back->encoder_fingerprint, state.encoder_fingerprint);
  EXPECT_EQ(back->labels, state.labels);
  EXPECT_TRUE(torch::equal(back->support_embeddings, state.support_embeddings));
  EXPECT_TRUE(torch::equal(back->support_labels, state.support_labels));
  EXPECT_EQ(back->example_ids, state.example_ids);
  EXPECT_EQ(back->next_example_id, state.next_example_id);
  ASSERT_EQ(back->derived.size(), state.derived.size());
  for (const auto& [name, tensor] : state.derived) {
    EXPECT_TRUE(torch::equal(back->derived.at(name), tensor)) << name;
  }
  EXPECT_EQ(back->created_unix_ms, state.created_unix_ms);
  EXPECT_EQ(back->updated_unix_ms, state.updated_unix_ms);
  EXPECT_EQ(back->revision, 5);
  EXPECT_EQ(EncodeAdaptationState(*back), bytes);
}

TEST(StateCodecTest, EmptyStateRoundTrips) {
  absl::StatusOr<AdaptationState> back =
      DecodeAdaptationState(EncodeAdaptationState(AdaptationState()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->num_classes(), 0);
}

TEST(StateCodecTest, EveryFlippedByteIsRefused) {
  const std::string bytes = EncodeAdaptationState(SampleState());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    const absl::StatusOr<AdaptationState> back = DecodeAdaptationState(damaged);
    ASSERT_FALSE(back.ok()) << "byte " << i;
    EXPECT_TRUE(back.status().code() == absl::StatusCode::kDataLoss ||
                back.status().code() == absl::StatusCode::kFailedPrecondition)
        << back.status();
  }
}

TEST(StateCodecTest, EveryTruncationIsRefused) {
  const std::string bytes = EncodeAdaptationState(SampleState());
  for (size_t size = 0; size < bytes.size(); ++size) {
    const absl::StatusOr<AdaptationState> back =
        DecodeAdaptationState(absl::string_view(bytes).substr(0, size));
    ASSERT_EQ(back.status().code(), absl::StatusCode::kDataLoss)
        << "size " << size;
  }
}

TEST(StateCodecTest, OtherFormatVersionIsFailedPrecondition) {
  std::string bytes = EncodeAdaptationState(SampleState());
  bytes[4] = 9;  // The version's low byte.
  const absl::StatusOr<AdaptationState> back = DecodeAdaptationState(bytes);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(back.status().message().find("version is 9"),
            absl::string_view::npos);
}

TEST(StateCodecTest, MamlAndAttentionStatesRoundTrip) {
  torch::manual_seed(4);
  absl::StatusOr<std::unique_ptr<MamlMethod>> maml =
      MamlMethod::Create(MamlHeadToParameters(InitialMamlHead(2, 2, 0.1)),
                         MethodSpec{.name = "maml"});
  absl::StatusOr<std::unique_ptr<AttentionMethod>> attention =
      AttentionMethod::Create(
          AttentionHeadToParameters(InitialAttentionHead(2, 3)),
          MethodSpec{.name = "attention"});
  ASSERT_TRUE(maml.ok() && attention.ok());
  for (const AdaptationMethod* method :
       {static_cast<const AdaptationMethod*>(maml->get()),
        static_cast<const AdaptationMethod*>(attention->get())}) {
    AdaptationState state = SampleState();
    state.method = method->name();
    state.derived.clear();
    SetMamlOptions({.steps = 3, .step_size = 0.25}, &state);
    ASSERT_TRUE(method->Build(&state).ok()) << method->name();
    absl::StatusOr<AdaptationState> back =
        DecodeAdaptationState(EncodeAdaptationState(state));
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->derived.size(), state.derived.size());
    for (const auto& [name, tensor] : state.derived) {
      EXPECT_TRUE(torch::equal(back->derived.at(name), tensor)) << name;
    }
    const torch::Tensor queries = torch::randn({3, 2});
    absl::StatusOr<torch::Tensor> before = method->Score(state, queries);
    absl::StatusOr<torch::Tensor> after = method->Score(*back, queries);
    ASSERT_TRUE(before.ok() && after.ok()) << method->name();
    EXPECT_TRUE(torch::equal(*before, *after)) << method->name();
  }
}

}  // namespace
}  // namespace fewshot::core
