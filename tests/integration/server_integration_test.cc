// End-to-end tests of the fewshot-server program: accuracy on a real
// Omniglot episode, the /metrics page, graceful shutdown on SIGTERM, and
// errors over the wire. Loopback only; each test owns its server process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/fewshot_client.h"
#include "tests/integration/metrics_page.h"
#include "tests/integration/omniglot_episode.h"
#include "tests/integration/server_process.h"
#include "tests/tensor_example.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

using ::testing::HasSubstr;

// The accuracy the bundled model must reach on a 5-way 5-shot episode.
constexpr double kMinimumAccuracy = 0.9;

// A client for `server` with a bounded deadline.
std::unique_ptr<client::FewShotClient> ConnectTo(const ServerProcess& server) {
  client::ClientOptions options;
  options.target = server.target();
  options.timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> connected =
      client::FewShotClient::Connect(options);
  EXPECT_TRUE(connected.ok()) << connected.status();
  return connected.ok() ? *std::move(connected) : nullptr;
}

// The fraction of `predictions` whose label matches `truth`.
template <typename Predictions>
double Accuracy(const Predictions& predictions,
                const std::vector<std::string>& truth) {
  int correct = 0;
  for (int i = 0; i < predictions.size(); ++i) {
    if (predictions[i].label() == truth[i]) ++correct;
  }
  return static_cast<double>(correct) / truth.size();
}

// A Classify request with `count` support examples in two classes and
// `count` queries; heavy enough to keep a worker busy for a while.
v1::ClassifyRequest HeavyClassify(int count) {
  v1::ClassifyRequest request;
  for (int i = 0; i < count; ++i) {
    v1::LabeledExample* labeled = request.add_support();
    labeled->set_label(i % 2 == 0 ? "even" : "odd");
    *labeled->mutable_example() = ConstantTensorExample(0.001f * i);
    *request.add_queries() = ConstantTensorExample(0.002f * i);
  }
  return request;
}

TEST(ServerIntegrationTest, BundledModelClassifiesOmniglot) {
  auto server = ServerProcess::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ConnectTo(**server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<PngEpisode> episode = ReadOmniglotEpisode(
      OmniglotDir() + "/images_evaluation.zip", /*ways=*/5, /*shots=*/5,
      /*queries_per_class=*/15, /*seed=*/2024);
  ASSERT_TRUE(episode.ok()) << episode.status();

  // Adapt, then Predict.
  v1::AdaptRequest adapt;
  for (const v1::LabeledExample& labeled : episode->support) {
    *adapt.add_support() = labeled;
  }
  absl::StatusOr<v1::AdaptResponse> adapted = client->Adapt(adapt);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  ASSERT_EQ(adapted->classes_size(), 5);
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted->adaptation_id());
  for (const v1::Example& query : episode->queries) {
    *predict.add_queries() = query;
  }
  absl::StatusOr<v1::PredictResponse> predicted = client->Predict(predict);
  ASSERT_TRUE(predicted.ok()) << predicted.status();
  ASSERT_EQ(predicted->predictions_size(), 75);
  EXPECT_GE(Accuracy(predicted->predictions(), episode->query_labels),
            kMinimumAccuracy);

  // Classify, in one call.
  v1::ClassifyRequest classify;
  *classify.mutable_support() = adapt.support();
  *classify.mutable_queries() = predict.queries();
  absl::StatusOr<v1::ClassifyResponse> classified = client->Classify(classify);
  ASSERT_TRUE(classified.ok()) << classified.status();
  ASSERT_EQ(classified->predictions_size(), 75);
  EXPECT_GE(Accuracy(classified->predictions(), episode->query_labels),
            kMinimumAccuracy);
}

TEST(ServerIntegrationTest, MetricsCountRequests) {
  auto server = ServerProcess::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ConnectTo(**server);
  ASSERT_NE(client, nullptr);
  const std::string count = "fewshot_request_duration_seconds_count";
  const std::string before = ScrapeMetrics((*server)->metrics_port());
  ASSERT_THAT(before, HasSubstr("# HELP fewshot_request_duration_seconds"));
  EXPECT_EQ(SampleValue(before, count, {"rpc=\"Adapt\""}), 0);

  // One Adapt and one Predict.
  v1::AdaptRequest adapt;
  for (int i = 0; i < 4; ++i) {
    v1::LabeledExample* labeled = adapt.add_support();
    labeled->set_label(i < 2 ? "a" : "b");
    *labeled->mutable_example() = ConstantTensorExample(0.25f * i);
  }
  absl::StatusOr<v1::AdaptResponse> adapted = client->Adapt(adapt);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted->adaptation_id());
  *predict.add_queries() = ConstantTensorExample(0.5f);
  ASSERT_TRUE(client->Predict(predict).ok());

  const std::string after = ScrapeMetrics((*server)->metrics_port());
  EXPECT_EQ(SampleValue(after, count, {"rpc=\"Adapt\""}), 1);
  EXPECT_EQ(SampleValue(after, count, {"rpc=\"Predict\""}), 1);
  EXPECT_EQ(SampleValue(after, "fewshot_adaptations_created_total"), 1);
  EXPECT_EQ(SampleValue(after, "fewshot_queries_predicted_total"), 1);
  EXPECT_EQ(SampleValue(after, "fewshot_cached_adaptations"), 1);
  EXPECT_EQ(SampleValue(after, "fewshot_batch_size_count"), 2);
  EXPECT_EQ(SampleValue(after, "fewshot_encoder_forward_seconds_count"), 2);
  EXPECT_GT(SampleValue(after, "fewshot_encoder_forward_seconds_sum"), 0);
  EXPECT_THAT(after, HasSubstr("fewshot_model_info{"));
}

TEST(ServerIntegrationTest, SigtermLetsInFlightCallsFinish) {
  // One worker, so that concurrent calls queue up behind each other.
  auto server = ServerProcess::Start({"--workers=1"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ConnectTo(**server);
  ASSERT_NE(client, nullptr);
  const v1::ClassifyRequest request = HeavyClassify(500);

  // Start calls and wait until all of them are in server handlers at once:
  // with one worker, all but one are then waiting for it. (A gauge of the
  // pool's queue would show the waiting only for the moments a task sits
  // there, which polling can miss.)
  constexpr int kCalls = 4;
  std::vector<absl::Status> results(kCalls);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCalls; ++i) {
    callers.emplace_back(
        [&, i] { results[i] = client->Classify(request).status(); });
  }
  bool all_in_handlers = false;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!all_in_handlers && absl::Now() < give_up) {
    const std::string page = ScrapeMetrics((*server)->metrics_port());
    all_in_handlers = SampleValue(page, "fewshot_calls_in_flight") >= kCalls;
    if (!all_in_handlers) absl::SleepFor(absl::Milliseconds(2));
  }

  // SIGTERM: every call already on the server still succeeds, including
  // the queued ones.
  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  for (std::thread& caller : callers) caller.join();
  ASSERT_TRUE(all_in_handlers)
      << "the calls were never all in the server at once";
  for (const absl::Status& result : results) EXPECT_TRUE(result.ok()) << result;
  absl::StatusOr<int> exit_code = (*server)->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
}

TEST(ServerIntegrationTest, BadRequestsGetTheRightStatus) {
  auto server = ServerProcess::Start(
      {"--max_image_bytes=1000", "--max_message_bytes=1000000"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = ConnectTo(**server);
  ASSERT_NE(client, nullptr);

  // An empty support set.
  absl::Status status = client->Adapt(v1::AdaptRequest()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("support is empty"));

  // An unknown adaptation.
  v1::PredictRequest predict;
  predict.set_adaptation_id("ffffffffffffffffffffffffffffffff");
  *predict.add_queries() = ConstantTensorExample(0.0f);
  status = client->Predict(predict).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->DeleteAdaptation("ffff").code(),
            absl::StatusCode::kNotFound);

  // A tensor of the wrong shape, and an image over the byte limit.
  v1::ClassifyRequest classify = HeavyClassify(2);
  classify.mutable_queries(1)->mutable_tensor()->set_shape(2, 32);
  status = client->Classify(classify).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("queries[1].tensor.shape is [1,28,32]"));
  classify = HeavyClassify(2);
  classify.mutable_support(0)->mutable_example()->set_image(
      std::string(2000, 'x'));
  status = client->Classify(classify).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("support[0].example.image"));

  // A message over the server's size limit.
  status = client->Classify(HeavyClassify(400)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace fewshot::testing
