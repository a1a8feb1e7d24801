// Starts the whole server in-process on a loopback port with a random
// model bundle, and exercises every RPC and its error paths over a real
// gRPC channel.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/fewshot_client.h"
#include "core/data/zip_archive.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/server_options.h"
#include "tests/server/in_process_server.h"
#include "tests/server/random_bundle.h"
#include "tests/tensor_example.h"
#include "tests/test_environment.h"

namespace fewshot::server {
namespace {

using ::fewshot::testing::MarkedTensorExample;
using ::fewshot::testing::ThreeMarkedClasses;
using ::testing::HasSubstr;

class FewShotServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::InProcessServer>> server =
        testing::InProcessServer::Start(
            "fewshot_service_test",
            [](const std::string& dir) {
              return testing::SaveRandomBundle(dir);
            },
            [](ServerOptions& options) {
              options.max_adaptations = 3;
              options.limits.max_queries = 10;
            });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = server_->NewStub();
  }

  // A client context with a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context() {
    return testing::InProcessServer::Context(std::chrono::seconds(10));
  }

  // Adapts to ThreeMarkedClasses() and returns the id.
  std::string AdaptThreeMarkedClasses() {
    v1::AdaptRequest request;
    *request.mutable_support() = ThreeMarkedClasses();
    v1::AdaptResponse response;
    const grpc::Status status =
        stub_->Adapt(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.adaptation_id();
  }

  static testing::InProcessServer* server_;
  std::unique_ptr<v1::FewShot::Stub> stub_;
};

testing::InProcessServer* FewShotServiceTest::server_ = nullptr;

TEST_F(FewShotServiceTest, GetModelInfoDescribesTheBundle) {
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(
      stub_->GetModelInfo(Context().get(), v1::GetModelInfoRequest(), &info)
          .ok());

  EXPECT_EQ(info.model_name(), "random-conv4");
  EXPECT_EQ(info.model_version(), testing::kRandomBundleVersion);
  EXPECT_EQ(info.embedding_size(), 64);
  EXPECT_EQ(info.input().channels(), 1);
  EXPECT_EQ(info.input().height(), 28);
  EXPECT_EQ(info.input().width(), 28);
  EXPECT_THAT(info.methods(), ::testing::ElementsAre("protonet"));
  EXPECT_EQ(info.default_method(), "protonet");
  ASSERT_EQ(info.measured_accuracy_size(), 1);
  EXPECT_EQ(info.measured_accuracy(0).ways(), 5);
  EXPECT_EQ(info.limits().max_queries(), 10);
  EXPECT_EQ(info.limits().max_stream_messages_in_flight(), 8);
  ASSERT_EQ(info.method_info_size(), 1);
  EXPECT_EQ(info.method_info(0).name(), "protonet");
  EXPECT_DOUBLE_EQ(info.method_info(0).temperature(), 1.0);
  EXPECT_EQ(info.training_split(), "none");
  EXPECT_EQ(info.training_split_seed(), 3u);
  EXPECT_FALSE(info.has_training_validation_classes());
}

TEST_F(FewShotServiceTest, AdaptThenPredictFindsTheRightClasses) {
  v1::AdaptRequest adapt;
  *adapt.mutable_support() = ThreeMarkedClasses();
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stub_->Adapt(Context().get(), adapt, &adapted).ok());
  EXPECT_THAT(adapted.adaptation_id(), ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(adapted.method(), "protonet");
  EXPECT_EQ(adapted.model_version(), testing::kRandomBundleVersion);
  ASSERT_EQ(adapted.classes_size(), 3);
  EXPECT_EQ(adapted.classes(1).label(), "class-1");
  EXPECT_EQ(adapted.classes(1).examples(), 2);

  // Each support example's class is the closest prototype for it.
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted.adaptation_id());
  for (int c = 0; c < 3; ++c) {
    *predict.add_queries() = adapt.support(2 * c).example();
  }
  v1::PredictResponse predicted;
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &predicted).ok());

  ASSERT_EQ(predicted.predictions_size(), 3);
  for (int c = 0; c < 3; ++c) {
    const v1::Prediction& prediction = predicted.predictions(c);
    EXPECT_EQ(prediction.label(), absl::StrCat("class-", c));
    ASSERT_EQ(prediction.scores_size(), 3);
    EXPECT_EQ(prediction.scores(0).label(), prediction.label());
    EXPECT_FLOAT_EQ(prediction.scores(0).probability(),
                    prediction.confidence());
    float total = 0.0f;
    for (int i = 0; i < 3; ++i) {
      total += prediction.scores(i).probability();
      if (i > 0) {
        EXPECT_GE(prediction.scores(i - 1).probability(),
                  prediction.scores(i).probability());
      }
    }
    EXPECT_NEAR(total, 1.0f, 1e-4);
  }
}

TEST_F(FewShotServiceTest, ClassifyIsStatelessAndAgreesWithPredict) {
  v1::ClassifyRequest request;
  *request.mutable_support() = ThreeMarkedClasses();
  *request.add_queries() = request.support(4).example();
  v1::ClassifyResponse response;
  ASSERT_TRUE(stub_->Classify(Context().get(), request, &response).ok());

  ASSERT_EQ(response.predictions_size(), 1);
  EXPECT_EQ(response.predictions(0).label(), "class-2");
  EXPECT_EQ(response.classes_size(), 3);
  EXPECT_EQ(response.method(), "protonet");
  EXPECT_EQ(response.model_version(), testing::kRandomBundleVersion);
}

TEST_F(FewShotServiceTest, ClassifiesPngImages) {
  absl::StatusOr<std::unique_ptr<core::ZipArchive>> zip =
      core::ZipArchive::Open(testing::OmniglotDir() + "/images_evaluation.zip");
  ASSERT_TRUE(zip.ok()) << zip.status();
  const std::vector<std::string> names = (*zip)->FileNames();
  ASSERT_GE(names.size(), 2u);

  // Two different drawings as two classes; each query is its own drawing.
  v1::ClassifyRequest request;
  for (const std::string& name : {names.front(), names.back()}) {
    absl::StatusOr<std::string> png = (*zip)->Read(name);
    ASSERT_TRUE(png.ok()) << png.status();
    v1::LabeledExample* labeled = request.add_support();
    labeled->set_label(name);
    labeled->mutable_example()->set_image(*png);
    request.add_queries()->set_image(*png);
  }
  v1::ClassifyResponse response;
  const grpc::Status status =
      stub_->Classify(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  ASSERT_EQ(response.predictions_size(), 2);
  EXPECT_EQ(response.predictions(0).label(), names.front());
  EXPECT_EQ(response.predictions(1).label(), names.back());
}

TEST_F(FewShotServiceTest, PredictWithUnknownIdIsNotFound) {
  v1::PredictRequest request;
  request.set_adaptation_id("00000000000000000000000000000000");
  *request.add_queries() = MarkedTensorExample(0.0f, 0);
  v1::PredictResponse response;
  const grpc::Status status =
      stub_->Predict(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("evicted or deleted"));
}

TEST_F(FewShotServiceTest, DeleteForgetsTheAdaptation) {
  const std::string id = AdaptThreeMarkedClasses();
  v1::DeleteAdaptationRequest request;
  request.set_adaptation_id(id);
  v1::DeleteAdaptationResponse response;
  ASSERT_TRUE(
      stub_->DeleteAdaptation(Context().get(), request, &response).ok());

  v1::PredictRequest predict;
  predict.set_adaptation_id(id);
  *predict.add_queries() = MarkedTensorExample(0.0f, 0);
  v1::PredictResponse predicted;
  EXPECT_EQ(stub_->Predict(Context().get(), predict, &predicted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(
      stub_->DeleteAdaptation(Context().get(), request, &response).error_code(),
      grpc::StatusCode::NOT_FOUND);
}

TEST_F(FewShotServiceTest, EvictsBeyondCapacity) {
  // The server keeps 3 adaptations: the first of four is evicted.
  const std::string first = AdaptThreeMarkedClasses();
  for (int i = 0; i < 3; ++i) AdaptThreeMarkedClasses();

  v1::PredictRequest predict;
  predict.set_adaptation_id(first);
  *predict.add_queries() = MarkedTensorExample(0.0f, 0);
  v1::PredictResponse predicted;
  EXPECT_EQ(stub_->Predict(Context().get(), predict, &predicted).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(FewShotServiceTest, BadRequestsAreInvalidArgument) {
  v1::AdaptResponse adapted;

  v1::AdaptRequest empty;
  grpc::Status status = stub_->Adapt(Context().get(), empty, &adapted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("support is empty"));

  v1::AdaptRequest unknown_method;
  *unknown_method.mutable_support() = ThreeMarkedClasses();
  unknown_method.set_method("maml");
  status = stub_->Adapt(Context().get(), unknown_method, &adapted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("method"));

  v1::AdaptRequest wrong_shape;
  *wrong_shape.mutable_support() = ThreeMarkedClasses();
  wrong_shape.mutable_support(3)
      ->mutable_example()
      ->mutable_tensor()
      ->set_shape(1, 27);
  status = stub_->Adapt(Context().get(), wrong_shape, &adapted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("support[3].example.tensor.shape is [1,27,28]"));

  v1::AdaptRequest not_png;
  *not_png.mutable_support() = ThreeMarkedClasses();
  not_png.mutable_support(2)->mutable_example()->set_image("not a png");
  status = stub_->Adapt(Context().get(), not_png, &adapted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("support[2].example.image"));

  v1::ClassifyRequest too_many_queries;
  *too_many_queries.mutable_support() = ThreeMarkedClasses();
  for (int i = 0; i < 11; ++i) {
    *too_many_queries.add_queries() = MarkedTensorExample(0.0f, i);
  }
  v1::ClassifyResponse classified;
  status = stub_->Classify(Context().get(), too_many_queries, &classified);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("queries has 11 entries"));

  v1::DeleteAdaptationResponse deleted;
  status = stub_->DeleteAdaptation(Context().get(),
                                   v1::DeleteAdaptationRequest(), &deleted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A StreamPredict message with `queries` of ThreeMarkedClasses() support
// examples (by index) against `adaptation_id`.
v1::StreamPredictRequest StreamMessage(uint64_t sequence,
                                       const std::string& adaptation_id,
                                       const std::vector<int>& queries) {
  const google::protobuf::RepeatedPtrField<v1::LabeledExample> support =
      ThreeMarkedClasses();
  v1::StreamPredictRequest request;
  request.set_sequence(sequence);
  request.set_adaptation_id(adaptation_id);
  for (int index : queries) *request.add_queries() = support[index].example();
  return request;
}

TEST_F(FewShotServiceTest, StreamPredictAnswersEachMessageInOrder) {
  const std::string id = AdaptThreeMarkedClasses();
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto stream = stub_->StreamPredict(context.get());

  // A good message, one without queries, one that keeps the first id, and
  // one naming an unknown adaptation; then half-close.
  ASSERT_TRUE(stream->Write(StreamMessage(1, id, {0, 4})));
  ASSERT_TRUE(stream->Write(StreamMessage(2, "", {})));
  ASSERT_TRUE(stream->Write(StreamMessage(3, "", {2})));
  ASSERT_TRUE(stream->Write(StreamMessage(4, "no-such-id", {0})));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::StreamPredictResponse> responses;
  v1::StreamPredictResponse response;
  while (stream->Read(&response)) responses.push_back(response);
  const grpc::Status status = stream->Finish();

  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), 4u);
  EXPECT_EQ(responses[0].sequence(), 1u);
  EXPECT_EQ(responses[0].status_code(), 0);
  ASSERT_EQ(responses[0].predictions_size(), 2);
  EXPECT_EQ(responses[0].predictions(0).label(), "class-0");
  EXPECT_EQ(responses[0].predictions(1).label(), "class-2");
  EXPECT_EQ(responses[0].model_version(), testing::kRandomBundleVersion);
  EXPECT_EQ(responses[1].sequence(), 2u);
  EXPECT_EQ(responses[1].status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(responses[1].status_message(), HasSubstr("queries"));
  EXPECT_EQ(responses[1].predictions_size(), 0);
  EXPECT_EQ(responses[2].sequence(), 3u);
  EXPECT_EQ(responses[2].status_code(), 0);
  ASSERT_EQ(responses[2].predictions_size(), 1);
  EXPECT_EQ(responses[2].predictions(0).label(), "class-1");
  EXPECT_EQ(responses[3].sequence(), 4u);
  EXPECT_EQ(responses[3].status_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(FewShotServiceTest, StreamPredictWithoutAnyIdIsAPerMessageError) {
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto stream = stub_->StreamPredict(context.get());

  ASSERT_TRUE(stream->Write(StreamMessage(7, "", {0})));
  ASSERT_TRUE(stream->WritesDone());
  v1::StreamPredictResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();

  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.sequence(), 7u);
  EXPECT_EQ(response.status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.status_message(), HasSubstr("adaptation_id"));
}

TEST_F(FewShotServiceTest, StreamPredictHalfCloseWithoutMessagesIsOk) {
  std::unique_ptr<grpc::ClientContext> context = Context();
  auto stream = stub_->StreamPredict(context.get());

  ASSERT_TRUE(stream->WritesDone());
  v1::StreamPredictResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(FewShotServiceTest, ClientStreamPredictAgreesWithPredict) {
  const std::string id = AdaptThreeMarkedClasses();
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
      client::FewShotClient::Connect({.target = server_->target()});
  ASSERT_TRUE(client.ok()) << client.status();

  std::vector<v1::StreamPredictRequest> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(StreamMessage(i, i == 0 ? id : "", {i}));
  }
  absl::StatusOr<std::vector<v1::StreamPredictResponse>> responses =
      (*client)->StreamPredict(requests);
  ASSERT_TRUE(responses.ok()) << responses.status();

  ASSERT_EQ(responses->size(), 6u);
  for (int i = 0; i < 6; ++i) {
    v1::PredictRequest predict;
    predict.set_adaptation_id(id);
    *predict.add_queries() = requests[i].queries(0);
    absl::StatusOr<v1::PredictResponse> predicted = (*client)->Predict(predict);
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    const v1::StreamPredictResponse& streamed = (*responses)[i];
    EXPECT_EQ(streamed.sequence(), static_cast<uint64_t>(i));
    ASSERT_EQ(streamed.predictions_size(), 1);
    EXPECT_EQ(streamed.predictions(0).label(),
              predicted->predictions(0).label());
    EXPECT_EQ(streamed.predictions(0).label(), absl::StrCat("class-", i / 2));
  }
}

TEST_F(FewShotServiceTest, StreamPredictAnswersMessagesSentAheadInOrder) {
  const std::string id = AdaptThreeMarkedClasses();
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
      client::FewShotClient::Connect({.target = server_->target()});
  ASSERT_TRUE(client.ok()) << client.status();

  // Every message sent before any answer is read; every fifth has no
  // queries, so that refusals answered at once interleave with messages
  // that wait for the encoder.
  constexpr int kMessages = 60;
  std::vector<v1::StreamPredictRequest> requests;
  for (int i = 0; i < kMessages; ++i) {
    requests.push_back(i % 5 == 4
                           ? StreamMessage(i, "", {})
                           : StreamMessage(i, i == 0 ? id : "", {i % 6}));
  }
  absl::StatusOr<std::vector<v1::StreamPredictResponse>> responses =
      (*client)->StreamPredict(requests);
  ASSERT_TRUE(responses.ok()) << responses.status();

  ASSERT_EQ(responses->size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    const v1::StreamPredictResponse& response = (*responses)[i];
    EXPECT_EQ(response.sequence(), static_cast<uint64_t>(i));
    if (i % 5 == 4) {
      EXPECT_EQ(response.status_code(), grpc::StatusCode::INVALID_ARGUMENT);
      continue;
    }
    EXPECT_EQ(response.status_code(), 0) << response.status_message();
    ASSERT_EQ(response.predictions_size(), 1) << "message " << i;
    EXPECT_EQ(response.predictions(0).label(),
              absl::StrCat("class-", (i % 6) / 2));
  }
}

TEST(ServerOptionsTest, NoStreamMessageInFlightIsRefused) {
  absl::StatusOr<std::unique_ptr<testing::InProcessServer>> server =
      testing::InProcessServer::Start(
          "stream_window_test",
          [](const std::string& dir) { return testing::SaveRandomBundle(dir); },
          [](ServerOptions& options) {
            options.limits.max_stream_messages_in_flight = 0;
          });

  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(),
              HasSubstr("max_stream_messages_in_flight is 0; expected at "
                        "least 1"));
}

}  // namespace
}  // namespace fewshot::server
