// Runs the same seeded Omniglot episodes in process and through a real
// fewshot-server over gRPC, and checks that both give the same scores,
// accuracy and open-set confidences.
#include <gtest/gtest.h>

#include <memory>

#include "client/fewshot_client.h"
#include "core/adapt/method_registry.h"
#include "core/bundle/model_bundle.h"
#include "core/data/omniglot.h"
#include "core/eval/evaluator.h"
#include "core/model/encoder.h"
#include "tests/integration/server_process.h"
#include "tests/test_environment.h"
#include "tools/remote_evaluator.h"

namespace fewshot::tools {
namespace {

// One server, bundle and test set for every case: starting the server and
// loading the data dominate the run time.
class EvalGrpcTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<core::ModelBundle> bundle =
        core::LoadModelBundle(testing::ModelDir());
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    bundle_ = new core::ModelBundle(*std::move(bundle));
    core::OmniglotOptions data;
    data.data_dir = testing::OmniglotDir();
    data.cache_dir = testing::CacheDir();
    data.preprocessing = bundle_->metadata.preprocessing;
    absl::StatusOr<core::ImageDataset> test_set =
        core::LoadOmniglot(core::OmniglotSplit::kEvaluation, data);
    ASSERT_TRUE(test_set.ok()) << test_set.status();
    test_set_ = new core::ImageDataset(*std::move(test_set));
    absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
        testing::ServerProcess::Start({"--workers=1"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    delete test_set_;
    delete bundle_;
    server_ = nullptr;
    test_set_ = nullptr;
    bundle_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the server did not start";
    ASSERT_NE(test_set_, nullptr) << "the test set did not load";
    absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
        client::FewShotClient::Connect({.target = server_->target()});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // The same options run in process with the bundle's protonet.
  static core::EvaluationResult InProcess(
      const core::EvaluationOptions& options) {
    absl::StatusOr<std::unique_ptr<core::AdaptationMethod>> method =
        core::CreateMethodFromBundle("protonet", *bundle_);
    EXPECT_TRUE(method.ok()) << method.status();
    if (!method.ok()) return {};
    core::Encoder encoder(bundle_->encoder, bundle_->metadata.preprocessing);
    absl::StatusOr<core::EvaluationResult> result =
        core::EvaluateEpisodes(encoder, **method, *test_set_, options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : core::EvaluationResult{};
  }

  static core::ModelBundle* bundle_;
  static core::ImageDataset* test_set_;
  static testing::ServerProcess* server_;
  std::unique_ptr<client::FewShotClient> client_;
};

core::ModelBundle* EvalGrpcTest::bundle_ = nullptr;
core::ImageDataset* EvalGrpcTest::test_set_ = nullptr;
testing::ServerProcess* EvalGrpcTest::server_ = nullptr;

TEST_F(EvalGrpcTest, SameEpisodesScoreTheSameOverGrpc) {
  core::EvaluationOptions options;
  options.shape = {.ways = 5, .shots = 1, .queries = 5};
  options.episodes = 4;
  options.seed = 11;
  options.keep_scores = true;
  absl::StatusOr<core::Preprocessing> preprocessing =
      PreprocessingOfServer(*client_);
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  absl::StatusOr<core::EvaluationResult> remote = EvaluateEpisodesOverGrpc(
      *client_, "protonet", *test_set_, *preprocessing, options);
  ASSERT_TRUE(remote.ok()) << remote.status();
  const core::EvaluationResult local = InProcess(options);

  ASSERT_EQ(remote->episode_accuracies.size(), 4u);
  ASSERT_EQ(local.episode_accuracies.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(remote->episode_accuracies[i], local.episode_accuracies[i])
        << "episode " << i;
  }
  ASSERT_EQ(remote->scores.sizes(), local.scores.sizes());
  EXPECT_TRUE(torch::allclose(remote->scores, local.scores, /*rtol=*/1e-4,
                              /*atol=*/1e-3))
      << "largest difference "
      << (remote->scores - local.scores).abs().max().item<float>();
  EXPECT_TRUE(torch::equal(remote->labels, local.labels));
  EXPECT_EQ(remote->adapt_milliseconds.size(), 4u);
  EXPECT_EQ(remote->score_milliseconds.size(), 4u);
}

TEST_F(EvalGrpcTest, OpenSetConfidencesAgreeOverGrpc) {
  core::EvaluationOptions options;
  options.shape = {.ways = 3, .shots = 2, .queries = 3};
  options.unknown_ways = 2;
  options.episodes = 3;
  options.seed = 5;
  absl::StatusOr<core::Preprocessing> preprocessing =
      PreprocessingOfServer(*client_);
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  absl::StatusOr<core::EvaluationResult> remote = EvaluateEpisodesOverGrpc(
      *client_, "", *test_set_, *preprocessing, options);
  ASSERT_TRUE(remote.ok()) << remote.status();
  const core::EvaluationResult local = InProcess(options);

  ASSERT_EQ(remote->known_confidences.size(), 3u * 3 * 3);
  ASSERT_EQ(remote->unknown_confidences.size(), 3u * 2 * 3);
  ASSERT_EQ(local.unknown_confidences.size(), 3u * 2 * 3);
  for (size_t i = 0; i < remote->unknown_confidences.size(); ++i) {
    EXPECT_NEAR(remote->unknown_confidences[i], local.unknown_confidences[i],
                1e-4)
        << "unknown query " << i;
  }
  for (size_t i = 0; i < remote->known_confidences.size(); ++i) {
    EXPECT_NEAR(remote->known_confidences[i], local.known_confidences[i], 1e-4)
        << "known query " << i;
  }
}

TEST_F(EvalGrpcTest, UnknownMethodNamesTheEpisodeAndCall) {
  core::EvaluationOptions options;
  options.shape = {.ways = 2, .shots = 1, .queries = 1};
  options.episodes = 1;
  absl::StatusOr<core::Preprocessing> preprocessing =
      PreprocessingOfServer(*client_);
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  absl::StatusOr<core::EvaluationResult> remote = EvaluateEpisodesOverGrpc(
      *client_, "no-such-method", *test_set_, *preprocessing, options);
  ASSERT_FALSE(remote.ok());
  EXPECT_EQ(remote.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(remote.status().message().find("episode 0, Adapt"),
            std::string::npos)
      << remote.status();
}

}  // namespace
}  // namespace fewshot::tools
