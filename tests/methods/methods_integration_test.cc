// Serves the committed model, with its trained maml and attention heads,
// from the real fewshot-server on loopback, and checks over gRPC that every
// method adapts to real Omniglot drawings and classifies them, that maml
// options and min_confidence reach the server, and that GetModelInfo
// describes every method with its measured accuracy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client/fewshot_client.h"
#include "tests/integration/omniglot_episode.h"
#include "tests/integration/server_process.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

using ::testing::HasSubstr;

class MethodsIntegrationTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Serves the committed bundle, which carries every method's trained head.
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start({"--model_dir=" + ModelDir(), "--workers=1"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::unique_ptr<client::FewShotClient>> connected =
        client::FewShotClient::Connect({.target = server_->target()});
    ASSERT_TRUE(connected.ok()) << connected.status();
    client_ = std::move(*connected);
  }

  static absl::StatusOr<PngEpisode> Episode(unsigned seed) {
    return ReadOmniglotEpisode(OmniglotDir() + "/images_evaluation.zip",
                               /*ways=*/5, /*shots=*/1,
                               /*queries_per_class=*/4, seed);
  }

  static ServerProcess* server_;
  std::unique_ptr<client::FewShotClient> client_;
};

ServerProcess* MethodsIntegrationTest::server_ = nullptr;

TEST_P(MethodsIntegrationTest, AdaptsAndClassifiesRealDrawings) {
  int correct = 0, total = 0;
  for (unsigned seed : {1u, 2u}) {
    absl::StatusOr<PngEpisode> episode = Episode(seed);
    ASSERT_TRUE(episode.ok()) << episode.status();
    v1::AdaptRequest adapt;
    adapt.mutable_support()->Add(episode->support.begin(),
                                 episode->support.end());
    adapt.set_method(GetParam());
    absl::StatusOr<v1::AdaptResponse> adapted = client_->Adapt(adapt);
    ASSERT_TRUE(adapted.ok()) << adapted.status();
    EXPECT_EQ(adapted->method(), GetParam());

    v1::PredictRequest predict;
    predict.set_adaptation_id(adapted->adaptation_id());
    predict.mutable_queries()->Add(episode->queries.begin(),
                                   episode->queries.end());
    absl::StatusOr<v1::PredictResponse> predicted = client_->Predict(predict);
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    ASSERT_EQ(predicted->predictions_size(),
              static_cast<int>(episode->queries.size()));
    for (int i = 0; i < predicted->predictions_size(); ++i) {
      correct += predicted->predictions(i).label() == episode->query_labels[i];
      ++total;
    }
  }
  // Every method scores about 95% on 5-way 1-shot test episodes.
  EXPECT_GE(correct, 0.85 * total) << correct << "/" << total;
}

INSTANTIATE_TEST_SUITE_P(Methods, MethodsIntegrationTest,
                         ::testing::Values("protonet", "maml", "attention"));

using MethodsOptionsIntegrationTest = MethodsIntegrationTest;

TEST_F(MethodsOptionsIntegrationTest, ModelInfoListsEveryMethod) {
  absl::StatusOr<v1::GetModelInfoResponse> info = client_->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->methods(),
              ::testing::ElementsAre("protonet", "maml", "attention"));
  ASSERT_EQ(info->method_info_size(), 3);
  for (const auto& method : info->method_info()) {
    EXPECT_GT(method.measured_accuracy_size(), 0) << method.name();
  }
  EXPECT_GT(info->limits().max_maml_steps(), 0);
}

TEST_F(MethodsOptionsIntegrationTest, MamlOptionsAndRejectionReachTheServer) {
  absl::StatusOr<PngEpisode> episode = Episode(3);
  ASSERT_TRUE(episode.ok()) << episode.status();
  v1::ClassifyRequest classify;
  classify.mutable_support()->Add(episode->support.begin(),
                                  episode->support.end());
  classify.mutable_queries()->Add(episode->queries.begin(),
                                  episode->queries.end());
  classify.set_method("maml");
  classify.mutable_maml()->set_steps(20);
  classify.set_min_confidence(1.0f);
  absl::StatusOr<v1::ClassifyResponse> classified = client_->Classify(classify);
  ASSERT_TRUE(classified.ok()) << classified.status();
  for (const v1::Prediction& prediction : classified->predictions()) {
    EXPECT_EQ(prediction.rejected(), prediction.confidence() < 1.0f);
    EXPECT_EQ(prediction.label().empty(), prediction.rejected());
  }

  classify.mutable_maml()->set_steps(1000);
  const absl::Status refused = client_->Classify(classify).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("maml.steps"));
}

}  // namespace
}  // namespace fewshot::testing
