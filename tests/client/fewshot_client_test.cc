// Tests FewShotClient against an in-process fake server on loopback: option
// checks, retries on UNAVAILABLE only, the per-attempt deadline and the
// message size limit.
#include "client/fewshot_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/client/loopback_service.h"

namespace fewshot::client {
namespace {

// Fails GetModelInfo with UNAVAILABLE `unavailable_calls` times, then
// answers; DeleteAdaptation always fails with NOT_FOUND; Predict answers
// after `predict_delay`. Counts the calls it receives.
class FakeFewShot final : public v1::FewShot::Service {
 public:
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const v1::GetModelInfoRequest* request,
                            v1::GetModelInfoResponse* response) override {
    if (calls++ < unavailable_calls) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not yet");
    }
    response->set_model_name("fake");
    return grpc::Status::OK;
  }

  grpc::Status DeleteAdaptation(
      grpc::ServerContext* context, const v1::DeleteAdaptationRequest* request,
      v1::DeleteAdaptationResponse* response) override {
    ++calls;
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown adaptation_id " + request->adaptation_id());
  }

  grpc::Status Predict(grpc::ServerContext* context,
                       const v1::PredictRequest* request,
                       v1::PredictResponse* response) override {
    ++calls;
    absl::SleepFor(predict_delay);
    return grpc::Status::OK;
  }

  grpc::Status Adapt(grpc::ServerContext* context,
                     const v1::AdaptRequest* request,
                     v1::AdaptResponse* response) override {
    ++calls;
    response->set_adaptation_id("id");
    return grpc::Status::OK;
  }

  std::atomic<int> calls{0};
  int unavailable_calls = 0;
  absl::Duration predict_delay = absl::ZeroDuration();
};

// Runs FakeFewShot on a free loopback port.
class FewShotClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    running_ = testing::StartOnLoopback(service_);
    ASSERT_NE(running_.server, nullptr);
  }

  void TearDown() override { running_.server->Shutdown(); }

  // Options for the fake server with short backoffs.
  ClientOptions Options() const {
    ClientOptions options;
    options.target = running_.target();
    options.timeout = absl::Seconds(5);
    options.max_attempts = 3;
    options.initial_backoff = absl::Milliseconds(1);
    return options;
  }

  FakeFewShot service_;
  testing::LoopbackService running_;
};

TEST(FewShotClientOptionsTest, RejectsEmptyTarget) {
  ClientOptions options;
  options.target = "";

  EXPECT_EQ(FewShotClient::Connect(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FewShotClientOptionsTest, RejectsNonPositiveTimeout) {
  ClientOptions options;
  options.timeout = absl::ZeroDuration();

  EXPECT_EQ(FewShotClient::Connect(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FewShotClientOptionsTest, RejectsZeroAttempts) {
  ClientOptions options;
  options.max_attempts = 0;

  EXPECT_EQ(FewShotClient::Connect(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FewShotClientTest, RetriesUnavailableUntilSuccess) {
  service_.unavailable_calls = 2;
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(Options());
  ASSERT_TRUE(client.ok()) << client.status();

  absl::StatusOr<v1::GetModelInfoResponse> info = (*client)->GetModelInfo();

  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_name(), "fake");
  EXPECT_EQ(service_.calls, 3);
}

TEST_F(FewShotClientTest, GivesUpAfterMaxAttempts) {
  service_.unavailable_calls = 10;
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(Options());
  ASSERT_TRUE(client.ok()) << client.status();

  absl::StatusOr<v1::GetModelInfoResponse> info = (*client)->GetModelInfo();

  EXPECT_EQ(info.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(info.status().message(), "not yet");
  EXPECT_EQ(service_.calls, 3);
}

TEST_F(FewShotClientTest, DoesNotRetryOtherErrors) {
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(Options());
  ASSERT_TRUE(client.ok()) << client.status();

  absl::Status status = (*client)->DeleteAdaptation("abc");

  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "unknown adaptation_id abc");
  EXPECT_EQ(service_.calls, 1);
}

TEST_F(FewShotClientTest, AppliesDeadlineToEachAttempt) {
  service_.predict_delay = absl::Milliseconds(500);
  ClientOptions options = Options();
  options.timeout = absl::Milliseconds(50);
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();

  absl::StatusOr<v1::PredictResponse> response =
      (*client)->Predict(v1::PredictRequest());

  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(service_.calls, 1);
}

TEST_F(FewShotClientTest, RejectsRequestsOverMaxMessageSize) {
  ClientOptions options = Options();
  options.max_message_bytes = 1024;
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  v1::AdaptRequest request;
  request.add_support()->mutable_example()->set_image(std::string(4096, 'x'));

  absl::StatusOr<v1::AdaptResponse> response = (*client)->Adapt(request);

  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(service_.calls, 0);
}

TEST(FromGrpcStatusTest, KeepsCodeAndMessage) {
  const absl::Status status = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "support: empty"));

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "support: empty");
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace fewshot::client
