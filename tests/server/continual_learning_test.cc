// Starts the server in-process with a random model bundle and exercises
// the RPCs that change kept adaptations (AddExamples, Feedback,
// RemoveExamples, RemoveClass, GetAdaptation), the disk store across a
// restart, and model version changes.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/server.h"
#include "tests/server/random_bundle.h"
#include "tests/tensor_example.h"

namespace fewshot::server {
namespace {

using ::fewshot::testing::MarkedTensorExample;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A labelled MarkedTensorExample.
v1::LabeledExample Labeled(const std::string& label, float value, int marker) {
  v1::LabeledExample labeled;
  labeled.set_label(label);
  *labeled.mutable_example() = MarkedTensorExample(value, marker);
  return labeled;
}

// A fresh folder under the temporary folder.
std::string TempDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("continual_learning_test_", getpid(), "_", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// A client context with a 10 s deadline.
std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

// A running in-process server and a stub connected to it.
struct Running {
  std::unique_ptr<Server> server;
  std::unique_ptr<v1::FewShot::Stub> stub;
};

// Starts a server on `model_dir` with `store` options filled in.
Running Start(const std::string& model_dir, const std::string& store = "memory",
              const std::string& store_dir = "") {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.metrics_address = "";
  options.model_dir = model_dir;
  options.store = store;
  options.store_dir = store_dir;
  options.workers = 1;
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::BuildAndStart(options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return {};
  Running running;
  running.server = *std::move(server);
  running.stub = v1::FewShot::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", running.server->port()),
                          grpc::InsecureChannelCredentials()));
  return running;
}

class ContinualLearningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_dir_ = TempDir("bundle");
    ASSERT_TRUE(testing::SaveRandomBundle(bundle_dir_).ok());
    running_ = Start(bundle_dir_);
    ASSERT_NE(running_.server, nullptr);
  }

  void TearDown() override {
    running_ = Running();
    std::filesystem::remove_all(bundle_dir_);
  }

  v1::FewShot::Stub& stub() { return *running_.stub; }

  // Adapts to classes "a" (value 0) and "b" (value 0.6), two shots each.
  v1::AdaptResponse AdaptTwoClasses() {
    v1::AdaptRequest request;
    *request.add_support() = Labeled("a", 0.0f, 100);
    *request.add_support() = Labeled("a", 0.0f, 101);
    *request.add_support() = Labeled("b", 0.6f, 100);
    *request.add_support() = Labeled("b", 0.6f, 101);
    v1::AdaptResponse response;
    const grpc::Status status =
        stub().Adapt(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::GetAdaptationResponse Get(const std::string& id) {
    v1::GetAdaptationRequest request;
    request.set_adaptation_id(id);
    v1::GetAdaptationResponse response;
    const grpc::Status status =
        stub().GetAdaptation(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::string bundle_dir_;
  Running running_;
};

TEST_F(ContinualLearningTest, AdaptReturnsOneExampleIdPerSupportExample) {
  const v1::AdaptResponse adapted = AdaptTwoClasses();
  EXPECT_THAT(adapted.example_ids(), ElementsAre("0", "1", "2", "3"));
}

TEST_F(ContinualLearningTest, AddExamplesExtendsClassesAndGetShowsThem) {
  const int64_t before_ms = absl::ToUnixMillis(absl::Now());
  const v1::AdaptResponse adapted = AdaptTwoClasses();

  v1::AddExamplesRequest request;
  request.set_adaptation_id(adapted.adaptation_id());
  *request.add_examples() = Labeled("b", 0.6f, 102);
  *request.add_examples() = Labeled("c", 0.9f, 100);
  v1::AddExamplesResponse added;
  const grpc::Status status =
      stub().AddExamples(Context().get(), request, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(added.example_ids(), ElementsAre("4", "5"));
  ASSERT_EQ(added.classes_size(), 3);
  EXPECT_EQ(added.classes(1).label(), "b");
  EXPECT_EQ(added.classes(1).examples(), 3);
  EXPECT_EQ(added.classes(2).label(), "c");
  EXPECT_EQ(added.classes(2).examples(), 1);

  const v1::GetAdaptationResponse info = Get(adapted.adaptation_id());
  EXPECT_EQ(info.adaptation_id(), adapted.adaptation_id());
  EXPECT_EQ(info.method(), "protonet");
  EXPECT_EQ(info.model_version(), testing::kRandomBundleVersion);
  ASSERT_EQ(info.classes_size(), 3);
  EXPECT_EQ(info.classes(0).examples(), 2);
  EXPECT_GE(info.created_unix_ms(), before_ms);
  EXPECT_GE(info.updated_unix_ms(), info.created_unix_ms());
  // 6 rows of 64 floats at least.
  EXPECT_GT(info.size_bytes(), 6 * 64 * 4);
}

TEST_F(ContinualLearningTest, FeedbackWithANewLabelChangesThePrediction) {
  const v1::AdaptResponse adapted = AdaptTwoClasses();

  // The new class's prototype is the query's own embedding, at distance 0.
  v1::FeedbackRequest request;
  request.set_adaptation_id(adapted.adaptation_id());
  *request.mutable_query() = MarkedTensorExample(0.3f, 200);
  request.set_correct_label("new");
  v1::FeedbackResponse response;
  const grpc::Status status =
      stub().Feedback(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(response.predicted_label_before(), "new");
  EXPECT_EQ(response.predicted_label_after(), "new");
  EXPECT_TRUE(response.prediction_changed());
  EXPECT_EQ(response.example_id(), "4");
  ASSERT_EQ(response.classes_size(), 3);

  // Predict now agrees.
  v1::PredictRequest predict;
  predict.set_adaptation_id(adapted.adaptation_id());
  *predict.add_queries() = MarkedTensorExample(0.3f, 200);
  v1::PredictResponse predicted;
  ASSERT_TRUE(stub().Predict(Context().get(), predict, &predicted).ok());
  ASSERT_EQ(predicted.predictions_size(), 1);
  EXPECT_EQ(predicted.predictions(0).label(), "new");
}

TEST_F(ContinualLearningTest, RemoveExamplesKeepsEveryClassNonEmpty) {
  const v1::AdaptResponse adapted = AdaptTwoClasses();
  v1::RemoveExamplesRequest request;
  request.set_adaptation_id(adapted.adaptation_id());
  v1::RemoveExamplesResponse response;

  // Both of "a"'s examples: refused.
  request.add_example_ids("0");
  request.add_example_ids("1");
  grpc::Status status =
      stub().RemoveExamples(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("'a'"));

  // One of them: fine.
  request.clear_example_ids();
  request.add_example_ids("1");
  status = stub().RemoveExamples(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.classes_size(), 2);
  EXPECT_EQ(response.classes(0).examples(), 1);

  // Again: it is gone.
  status = stub().RemoveExamples(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // Not an id at all.
  request.set_example_ids(0, "x");
  status = stub().RemoveExamples(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("example_ids[0]"));
}

TEST_F(ContinualLearningTest, RemoveClassKeepsAtLeastTwoClasses) {
  const v1::AdaptResponse adapted = AdaptTwoClasses();
  v1::AddExamplesRequest add;
  add.set_adaptation_id(adapted.adaptation_id());
  *add.add_examples() = Labeled("c", 0.9f, 100);
  v1::AddExamplesResponse added;
  ASSERT_TRUE(stub().AddExamples(Context().get(), add, &added).ok());

  v1::RemoveClassRequest request;
  request.set_adaptation_id(adapted.adaptation_id());
  request.set_label("a");
  v1::RemoveClassResponse response;
  ASSERT_TRUE(stub().RemoveClass(Context().get(), request, &response).ok());
  ASSERT_EQ(response.classes_size(), 2);
  EXPECT_EQ(response.classes(0).label(), "b");
  EXPECT_EQ(response.classes(1).label(), "c");

  request.set_label("b");
  const grpc::Status status =
      stub().RemoveClass(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("at least 2"));
}

TEST_F(ContinualLearningTest, BadRequestsNameTheField) {
  const v1::AdaptResponse adapted = AdaptTwoClasses();

  v1::AddExamplesRequest add;
  v1::AddExamplesResponse added;
  grpc::Status status = stub().AddExamples(Context().get(), add, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("adaptation_id"));
  add.set_adaptation_id(adapted.adaptation_id());
  status = stub().AddExamples(Context().get(), add, &added);
  EXPECT_THAT(status.error_message(), HasSubstr("examples is empty"));
  *add.add_examples() = Labeled("", 0.0f, 1);
  status = stub().AddExamples(Context().get(), add, &added);
  EXPECT_THAT(status.error_message(), HasSubstr("examples[0].label"));

  v1::FeedbackRequest feedback;
  feedback.set_adaptation_id(adapted.adaptation_id());
  v1::FeedbackResponse corrected;
  status = stub().Feedback(Context().get(), feedback, &corrected);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("query is missing"));
  *feedback.mutable_query() = MarkedTensorExample(0.0f, 1);
  status = stub().Feedback(Context().get(), feedback, &corrected);
  EXPECT_THAT(status.error_message(), HasSubstr("correct_label"));

  v1::GetAdaptationRequest get;
  get.set_adaptation_id("0123");
  v1::GetAdaptationResponse info;
  status = stub().GetAdaptation(Context().get(), get, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ContinualLearningTest, ReportsBytesOfAFiveWayFiveShotAdaptation) {
  v1::AdaptRequest request;
  for (int c = 0; c < 5; ++c) {
    for (int shot = 0; shot < 5; ++shot) {
      *request.add_support() =
          Labeled(absl::StrCat("class-", c), 0.2f * c, 100 + shot);
    }
  }
  v1::AdaptResponse adapted;
  ASSERT_TRUE(stub().Adapt(Context().get(), request, &adapted).ok());
  const v1::GetAdaptationResponse info = Get(adapted.adaptation_id());
  // 25 embeddings of 64 floats, and per class a sum, a count and a
  // prototype, plus labels and bookkeeping.
  EXPECT_GE(info.size_bytes(), (25 * 64 + 5 * 64 * 2 + 5) * 4 + 25 * 8);
  EXPECT_LT(info.size_bytes(), 20000);
  std::cout << "5-way 5-shot adaptation, 64-wide embeddings: "
            << info.size_bytes() << " bytes\n";
}

TEST_F(ContinualLearningTest, DiskStoreKeepsEditsAcrossARestart) {
  const std::string store_dir = TempDir("store");
  running_ = Start(bundle_dir_, "disk", store_dir);
  ASSERT_NE(running_.server, nullptr);
  const v1::AdaptResponse adapted = AdaptTwoClasses();
  v1::AddExamplesRequest add;
  add.set_adaptation_id(adapted.adaptation_id());
  *add.add_examples() = Labeled("c", 0.9f, 100);
  v1::AddExamplesResponse added;
  ASSERT_TRUE(stub().AddExamples(Context().get(), add, &added).ok());
  const v1::GetAdaptationResponse before = Get(adapted.adaptation_id());

  running_ = Running();
  running_ = Start(bundle_dir_, "disk", store_dir);
  ASSERT_NE(running_.server, nullptr);
  const v1::GetAdaptationResponse after = Get(adapted.adaptation_id());
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  std::filesystem::remove_all(store_dir);
}

TEST_F(ContinualLearningTest,
       NewVersionSameEncoderRebuildsOtherEncoderRefuses) {
  const std::string store_dir = TempDir("versions");
  running_ = Start(bundle_dir_, "disk", store_dir);
  ASSERT_NE(running_.server, nullptr);
  const v1::AdaptResponse adapted = AdaptTwoClasses();
  running_ = Running();

  // Same weights (seed 0), new version: carried over.
  const std::string same = TempDir("same_encoder");
  ASSERT_TRUE(
      testing::SaveRandomBundle(same, /*seed=*/0, "random-test-2").ok());
  running_ = Start(same, "disk", store_dir);
  ASSERT_NE(running_.server, nullptr);
  EXPECT_EQ(Get(adapted.adaptation_id()).model_version(), "random-test-2");
  running_ = Running();

  // Other weights: refused.
  const std::string other = TempDir("other_encoder");
  ASSERT_TRUE(
      testing::SaveRandomBundle(other, /*seed=*/1, "random-test-3").ok());
  running_ = Start(other, "disk", store_dir);
  ASSERT_NE(running_.server, nullptr);
  v1::GetAdaptationRequest get;
  get.set_adaptation_id(adapted.adaptation_id());
  v1::GetAdaptationResponse info;
  const grpc::Status status = stub().GetAdaptation(Context().get(), get, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("adapt again"));
  running_ = Running();
  for (const std::string& dir : {store_dir, same, other}) {
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace fewshot::server
