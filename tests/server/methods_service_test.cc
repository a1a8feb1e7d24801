// Serves a random bundle with every method's head in-process on a loopback
// port and checks, per method, adapting, predicting, editing and
// classifying over gRPC; the maml options and their bounds; open-set
// rejection with min_confidence; probabilities at the temperature stored
// for the support set's shots; and the methods GetModelInfo describes.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "tests/server/in_process_server.h"
#include "tests/server/random_bundle.h"
#include "tests/tensor_example.h"

namespace fewshot::server {
namespace {

using ::fewshot::testing::MarkedTensorExample;
using ::fewshot::testing::ThreeMarkedClasses;
using ::testing::HasSubstr;

// An example unlike ThreeMarkedClasses(): rows alternate between 1 and 0.
v1::Example StripedExample() {
  v1::Example example;
  v1::FloatTensor* tensor = example.mutable_tensor();
  for (int dim : {1, 28, 28}) tensor->add_shape(dim);
  for (int i = 0; i < 28 * 28; ++i) {
    tensor->add_values((i / 28) % 2 == 0 ? 1.0f : 0.0f);
  }
  return example;
}

class MethodsServiceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::InProcessServer>> server =
        testing::InProcessServer::Start(
            "methods_service_test", [](const std::string& dir) {
              return testing::SaveRandomMultiHeadBundle(dir);
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

  static std::unique_ptr<grpc::ClientContext> Context() {
    return testing::InProcessServer::Context(std::chrono::seconds(20));
  }

  static testing::InProcessServer* server_;
  std::unique_ptr<v1::FewShot::Stub> stub_;
};

testing::InProcessServer* MethodsServiceTest::server_ = nullptr;

TEST_P(MethodsServiceTest, AdaptPredictAndEditWithTheMethod) {
  v1::AdaptRequest adapt;
  *adapt.mutable_support() = ThreeMarkedClasses();
  adapt.set_method(GetParam());
  v1::AdaptResponse adapted;
  grpc::Status status = stub_->Adapt(Context().get(), adapt, &adapted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(adapted.method(), GetParam());

  // The support examples are classified as their own classes, with
  // probabilities that sum to one.
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
    EXPECT_EQ(prediction.label(), absl::StrCat("class-", c)) << GetParam();
    EXPECT_FALSE(prediction.rejected());
    float total = 0.0f;
    for (const v1::LabelScore& score : prediction.scores()) {
      total += score.probability();
    }
    EXPECT_NEAR(total, 1.0f, 1e-4);
  }

  // A new class joins through the method's Extend and is then predicted.
  v1::AddExamplesRequest add;
  add.set_adaptation_id(adapted.adaptation_id());
  v1::LabeledExample* added = add.add_examples();
  added->set_label("class-3");
  *added->mutable_example() = StripedExample();
  v1::AddExamplesResponse add_response;
  status = stub_->AddExamples(Context().get(), add, &add_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(add_response.classes_size(), 4);
  predict.clear_queries();
  *predict.add_queries() = added->example();
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &predicted).ok());
  EXPECT_EQ(predicted.predictions(0).label(), "class-3");

  // And leaves through DropClass.
  v1::RemoveClassRequest remove;
  remove.set_adaptation_id(adapted.adaptation_id());
  remove.set_label("class-3");
  v1::RemoveClassResponse removed;
  ASSERT_TRUE(stub_->RemoveClass(Context().get(), remove, &removed).ok());
  EXPECT_EQ(removed.classes_size(), 3);
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &predicted).ok());
  EXPECT_EQ(predicted.predictions(0).scores_size(), 3);
}

TEST_P(MethodsServiceTest, ClassifyAgreesWithAdaptThenPredict) {
  v1::ClassifyRequest classify;
  *classify.mutable_support() = ThreeMarkedClasses();
  classify.set_method(GetParam());
  *classify.add_queries() = MarkedTensorExample(0.31f, 5);
  v1::ClassifyResponse classified;
  ASSERT_TRUE(stub_->Classify(Context().get(), classify, &classified).ok());
  EXPECT_EQ(classified.method(), GetParam());

  v1::AdaptRequest adapt;
  *adapt.mutable_support() = ThreeMarkedClasses();
  adapt.set_method(GetParam());
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stub_->Adapt(Context().get(), adapt, &adapted).ok());
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted.adaptation_id());
  *predict.add_queries() = classify.queries(0);
  v1::PredictResponse predicted;
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &predicted).ok());
  EXPECT_EQ(predicted.predictions(0).label(),
            classified.predictions(0).label());
  EXPECT_NEAR(predicted.predictions(0).confidence(),
              classified.predictions(0).confidence(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Methods, MethodsServiceTest,
                         ::testing::Values("protonet", "maml", "attention"));

using MethodOptionsTest = MethodsServiceTest;

TEST_F(MethodOptionsTest, GetModelInfoDescribesEveryMethod) {
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(
      stub_->GetModelInfo(Context().get(), v1::GetModelInfoRequest(), &info)
          .ok());
  EXPECT_THAT(info.methods(),
              ::testing::ElementsAre("protonet", "maml", "attention"));
  ASSERT_EQ(info.method_info_size(), 3);
  EXPECT_EQ(info.method_info(1).name(), "maml");
  EXPECT_DOUBLE_EQ(info.method_info(1).temperature(), 2.0);
  EXPECT_DOUBLE_EQ(info.method_info(1).hyperparameters().at("steps"), 3.0);
  EXPECT_EQ(info.method_info(0).measured_accuracy_size(), 1);
  EXPECT_EQ(info.method_info(1).measured_accuracy_size(), 0);
  EXPECT_EQ(info.limits().max_maml_steps(), 100);
  EXPECT_FLOAT_EQ(info.limits().max_maml_step_size(), 10.0f);
}

// Probabilities of `prediction` divided back into scores: for each pair of
// classes, log(p_a / p_b) * temperature must equal score_a - score_b.
void ExpectProbabilitiesAtTemperature(const v1::Prediction& prediction,
                                      double temperature) {
  ASSERT_GE(prediction.scores_size(), 2);
  const v1::LabelScore& top = prediction.scores(0);
  for (int i = 1; i < prediction.scores_size(); ++i) {
    const v1::LabelScore& other = prediction.scores(i);
    EXPECT_NEAR(std::log(top.probability() / other.probability()) * temperature,
                top.score() - other.score(), 1e-3 * temperature)
        << "class " << other.label();
  }
}

TEST_F(MethodOptionsTest, ProbabilitiesUseTheTemperatureForTheShots) {
  // The bundle's attention head stores T = 0.5 at 1 shot and 8 at 4 shots:
  // 2 shots lie halfway in log shots, so T = sqrt(0.5 * 8) = 2.
  v1::ClassifyRequest request;
  *request.mutable_support() = ThreeMarkedClasses();
  request.set_method("attention");
  *request.add_queries() = MarkedTensorExample(0.31f, 5);
  v1::ClassifyResponse two_shots;
  ASSERT_TRUE(stub_->Classify(Context().get(), request, &two_shots).ok());
  ExpectProbabilitiesAtTemperature(two_shots.predictions(0), 2.0);

  // One example per class: T = 0.5.
  google::protobuf::RepeatedPtrField<v1::LabeledExample> one_shot;
  for (int i = 0; i < request.support_size(); i += 2) {
    *one_shot.Add() = request.support(i);
  }
  *request.mutable_support() = one_shot;
  v1::ClassifyResponse one_shot_response;
  ASSERT_TRUE(
      stub_->Classify(Context().get(), request, &one_shot_response).ok());
  ExpectProbabilitiesAtTemperature(one_shot_response.predictions(0), 0.5);

  // GetModelInfo lists the stored temperatures.
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(
      stub_->GetModelInfo(Context().get(), v1::GetModelInfoRequest(), &info)
          .ok());
  ASSERT_EQ(info.method_info(2).temperatures_by_shots_size(), 2);
  EXPECT_EQ(info.method_info(2).temperatures_by_shots(1).shots(), 4);
  EXPECT_DOUBLE_EQ(info.method_info(2).temperatures_by_shots(1).temperature(),
                   8.0);
  EXPECT_EQ(info.method_info(0).temperatures_by_shots_size(), 0);
}

TEST_F(MethodOptionsTest, MamlOptionsChangeTheFineTuning) {
  v1::ClassifyRequest request;
  *request.mutable_support() = ThreeMarkedClasses();
  request.set_method("maml");
  *request.add_queries() = MarkedTensorExample(0.31f, 5);
  v1::ClassifyResponse by_default;
  ASSERT_TRUE(stub_->Classify(Context().get(), request, &by_default).ok());
  request.mutable_maml()->set_steps(40);
  request.mutable_maml()->set_step_size(0.5f);
  v1::ClassifyResponse tuned;
  const grpc::Status status = stub_->Classify(Context().get(), request, &tuned);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(by_default.predictions(0).scores(0).score(),
            tuned.predictions(0).scores(0).score());
}

TEST_F(MethodOptionsTest, MamlOptionsOutOfBoundsNameTheBound) {
  v1::AdaptRequest request;
  *request.mutable_support() = ThreeMarkedClasses();
  request.set_method("maml");
  request.mutable_maml()->set_steps(101);
  v1::AdaptResponse response;
  grpc::Status status = stub_->Adapt(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("maml.steps is 101"));
  EXPECT_THAT(status.error_message(), HasSubstr("100"));

  request.mutable_maml()->set_steps(2);
  request.mutable_maml()->set_step_size(-1.0f);
  status = stub_->Adapt(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("maml.step_size"));

  // Options for another method are a mistake worth reporting.
  request.set_method("attention");
  request.mutable_maml()->set_step_size(0.1f);
  status = stub_->Adapt(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("set method to \"maml\""));
}

TEST_F(MethodOptionsTest, MinConfidenceRejectsUnsureQueries) {
  v1::AdaptRequest adapt;
  *adapt.mutable_support() = ThreeMarkedClasses();
  adapt.set_method("attention");
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stub_->Adapt(Context().get(), adapt, &adapted).ok());
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted.adaptation_id());
  for (int i = 0; i < 6; ++i) {
    *predict.add_queries() = MarkedTensorExample(0.12f * i, 7 * i);
  }
  v1::PredictResponse open;
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &open).ok());
  std::vector<float> confidences;
  for (const v1::Prediction& p : open.predictions()) {
    confidences.push_back(p.confidence());
  }
  std::sort(confidences.begin(), confidences.end());
  ASSERT_LT(confidences.front(), confidences.back());
  const float threshold = confidences.back();

  predict.set_min_confidence(threshold);
  v1::PredictResponse closed;
  ASSERT_TRUE(stub_->Predict(Context().get(), predict, &closed).ok());
  int rejected = 0;
  for (int i = 0; i < closed.predictions_size(); ++i) {
    const v1::Prediction& p = closed.predictions(i);
    EXPECT_EQ(p.rejected(), p.confidence() < threshold) << i;
    EXPECT_EQ(p.label().empty(), p.rejected()) << i;
    EXPECT_EQ(p.scores_size(), 3);
    rejected += p.rejected();
  }
  EXPECT_GT(rejected, 0);
  EXPECT_LT(rejected, closed.predictions_size());

  predict.set_min_confidence(1.5f);
  const grpc::Status status = stub_->Predict(Context().get(), predict, &closed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("min_confidence"));
}

TEST_F(MethodOptionsTest, StreamPredictAppliesEachMessageThreshold) {
  v1::AdaptRequest adapt;
  *adapt.mutable_support() = ThreeMarkedClasses();
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stub_->Adapt(Context().get(), adapt, &adapted).ok());

  auto context = Context();
  auto stream = stub_->StreamPredict(context.get());
  v1::StreamPredictRequest request;
  request.set_adaptation_id(adapted.adaptation_id());
  *request.add_queries() = MarkedTensorExample(0.3f, 100);
  request.set_sequence(1);
  ASSERT_TRUE(stream->Write(request));
  request.set_min_confidence(1.0f);
  request.set_sequence(2);
  ASSERT_TRUE(stream->Write(request));
  request.set_min_confidence(-0.1f);
  request.set_sequence(3);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->WritesDone());

  v1::StreamPredictResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status_code(), 0);
  const float confidence = response.predictions(0).confidence();
  EXPECT_FALSE(response.predictions(0).rejected());
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 2u);
  EXPECT_EQ(response.predictions(0).rejected(), confidence < 1.0f);
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 3u);
  EXPECT_EQ(response.status_code(), 3);  // INVALID_ARGUMENT
  EXPECT_THAT(response.status_message(), HasSubstr("min_confidence"));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace fewshot::server
