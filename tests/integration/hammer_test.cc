// Hammers the real fewshot-server from many threads at once with a mix of
// valid and invalid calls over every RPC. Each bad request must get exactly
// its status code, each good one the right answer; the server must not
// crash, and its resident memory must stay flat once warmed up. Loopback
// only; bounded in calls.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "client/fewshot_client.h"
#include "tests/integration/example_images.h"
#include "tests/integration/server_process.h"
#include "tests/tensor_example.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

// Calling threads, and the rounds each runs to warm the server up and then
// to measure it.
constexpr int kThreads = 8;
constexpr int kWarmUpRounds = 3;
constexpr int kRounds = 10;
// Server limits, set small so that the bad requests stay small.
constexpr int kMaxQueries = 16;
constexpr int kMaxImageBytes = 4096;
constexpr int kMaxLabelLength = 128;
constexpr int kMaxMessageBytes = 200000;
// Allowed growth of the server's resident memory over the measured rounds:
// the larger of a fraction of the warm value and a fixed amount.
constexpr double kMaxRssGrowthFraction = 0.15;
constexpr int64_t kMaxRssGrowthBytes = int64_t{30} << 20;
// An id no adaptation has.
constexpr char kUnknownId[] = "ffffffffffffffffffffffffffffffff";

using StatusCode = absl::StatusCode;

// The resident set size of process `pid` in bytes, from /proc.
absl::StatusOr<int64_t> ResidentBytes(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    int64_t kib = 0;
    if (absl::ConsumeSuffix(&rest, "kB") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) {
      return kib * 1024;
    }
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS for process ", pid));
}

// The number of examples of `label` in `classes`, or -1 when absent.
template <typename Summaries>
int ExamplesOf(const Summaries& classes, const std::string& label) {
  for (const v1::ClassSummary& summary : classes) {
    if (summary.label() == label) return summary.examples();
  }
  return -1;
}

// Calls `method` (a full gRPC method name) with an empty message through a
// generic stub and returns the call's status code.
StatusCode CallRawMethod(const std::string& target, const std::string& method) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  grpc::Slice empty("");
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  done.WaitForNotification();
  return static_cast<StatusCode>(status.error_code());
}

// One thread's share of the load: every RPC, with good and bad requests.
class Hammer {
 public:
  Hammer(client::FewShotClient* client, std::string target,
         const std::vector<ExampleClass>* classes, int thread_index)
      : client_(client),
        target_(std::move(target)),
        classes_(*classes),
        thread_index_(thread_index) {}

  // One round of calls; failures are reported through EXPECT.
  void Round() {
    GoodCalls();
    BadCalls();
  }

 private:
  // Expects `status` to carry `code`; `what` names the call.
  void ExpectCode(const absl::Status& status, StatusCode code,
                  const std::string& what) {
    EXPECT_EQ(status.code(), code)
        << "thread " << thread_index_ << ", " << what << ": " << status;
  }

  // A 1-shot support set: the first drawing of each class.
  v1::AdaptRequest OneShotAdapt() const {
    v1::AdaptRequest request;
    for (const ExampleClass& example_class : classes_) {
      *request.add_support() =
          LabeledPng(example_class.label, example_class.support_pngs[0]);
    }
    return request;
  }

  // Copies of the 1-shot support drawings, last class first; a copy lies on
  // its class prototype, so its label is certain.
  std::vector<v1::Example> SupportCopies() const {
    std::vector<v1::Example> copies;
    for (auto it = classes_.rbegin(); it != classes_.rend(); ++it) {
      copies.push_back(PngExample(it->support_pngs[0]));
    }
    return copies;
  }

  // The labels SupportCopies() must get.
  std::vector<std::string> SupportCopyLabels() const {
    std::vector<std::string> labels;
    for (auto it = classes_.rbegin(); it != classes_.rend(); ++it) {
      labels.push_back(it->label);
    }
    return labels;
  }

  void GoodCalls() {
    // The model's description.
    absl::StatusOr<v1::GetModelInfoResponse> info = client_->GetModelInfo();
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->input().height(), 28);
    EXPECT_EQ(info->limits().max_queries(), kMaxQueries);

    // Adapt to one drawing per class.
    absl::StatusOr<v1::AdaptResponse> adapted = client_->Adapt(OneShotAdapt());
    ASSERT_TRUE(adapted.ok()) << adapted.status();
    ASSERT_EQ(adapted->classes_size(), static_cast<int>(classes_.size()));
    ASSERT_EQ(adapted->example_ids_size(), static_cast<int>(classes_.size()));
    const std::string id = adapted->adaptation_id();

    // Copies of the support drawings get their own labels.
    v1::PredictRequest predict;
    predict.set_adaptation_id(id);
    for (const v1::Example& copy : SupportCopies()) {
      *predict.add_queries() = copy;
    }
    const std::vector<std::string> copy_labels = SupportCopyLabels();
    absl::StatusOr<v1::PredictResponse> predicted = client_->Predict(predict);
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    ASSERT_EQ(predicted->predictions_size(),
              static_cast<int>(copy_labels.size()));
    for (int i = 0; i < predicted->predictions_size(); ++i) {
      EXPECT_EQ(predicted->predictions(i).label(), copy_labels[i]);
    }

    // Classify the real query drawings against all support drawings.
    v1::ClassifyRequest classify;
    std::vector<std::string> query_labels;
    for (const ExampleClass& example_class : classes_) {
      for (const std::string& png : example_class.support_pngs) {
        *classify.add_support() = LabeledPng(example_class.label, png);
      }
      for (const std::string& png : example_class.query_pngs) {
        *classify.add_queries() = PngExample(png);
        query_labels.push_back(example_class.label);
      }
    }
    absl::StatusOr<v1::ClassifyResponse> classified =
        client_->Classify(classify);
    ASSERT_TRUE(classified.ok()) << classified.status();
    ASSERT_EQ(classified->predictions_size(),
              static_cast<int>(query_labels.size()));
    int correct = 0;
    for (int i = 0; i < classified->predictions_size(); ++i) {
      if (classified->predictions(i).label() == query_labels[i]) ++correct;
    }
    // The bundled model scores about 99% on 5-way 5-shot episodes.
    EXPECT_GE(correct, static_cast<int>(query_labels.size()) - 2);

    // A new class of two identical tensors; that tensor then gets it.
    v1::AddExamplesRequest add;
    add.set_adaptation_id(id);
    for (int i = 0; i < 2; ++i) {
      v1::LabeledExample* labeled = add.add_examples();
      labeled->set_label("blank");
      *labeled->mutable_example() = ConstantTensorExample(0.3f);
    }
    absl::StatusOr<v1::AddExamplesResponse> added = client_->AddExamples(add);
    ASSERT_TRUE(added.ok()) << added.status();
    ASSERT_EQ(added->example_ids_size(), 2);
    EXPECT_EQ(ExamplesOf(added->classes(), "blank"), 2);
    v1::PredictRequest predict_blank;
    predict_blank.set_adaptation_id(id);
    *predict_blank.add_queries() = ConstantTensorExample(0.3f);
    predicted = client_->Predict(predict_blank);
    ASSERT_TRUE(predicted.ok()) << predicted.status();
    ASSERT_EQ(predicted->predictions_size(), 1);
    EXPECT_EQ(predicted->predictions(0).label(), "blank");

    // Feedback that founds a new class moves the prediction to it.
    v1::FeedbackRequest feedback;
    feedback.set_adaptation_id(id);
    *feedback.mutable_query() = ConstantTensorExample(0.7f);
    feedback.set_correct_label("corrected");
    absl::StatusOr<v1::FeedbackResponse> fed = client_->Feedback(feedback);
    ASSERT_TRUE(fed.ok()) << fed.status();
    EXPECT_EQ(fed->predicted_label_after(), "corrected");
    EXPECT_TRUE(fed->prediction_changed());

    // Remove one blank example; removing the last one too is refused.
    v1::RemoveExamplesRequest remove;
    remove.set_adaptation_id(id);
    remove.add_example_ids(added->example_ids(0));
    absl::StatusOr<v1::RemoveExamplesResponse> removed =
        client_->RemoveExamples(remove);
    ASSERT_TRUE(removed.ok()) << removed.status();
    EXPECT_EQ(ExamplesOf(removed->classes(), "blank"), 1);
    remove.set_example_ids(0, added->example_ids(1));
    ExpectCode(client_->RemoveExamples(remove).status(),
               StatusCode::kFailedPrecondition, "RemoveExamples of a class");

    // Remove the corrected class; then the adaptation has one extra class.
    absl::StatusOr<v1::RemoveClassResponse> removed_class =
        client_->RemoveClass(id, "corrected");
    ASSERT_TRUE(removed_class.ok()) << removed_class.status();
    EXPECT_EQ(ExamplesOf(removed_class->classes(), "corrected"), -1);
    ExpectCode(client_->RemoveClass(id, "no such label").status(),
               StatusCode::kNotFound, "RemoveClass of an unknown label");
    absl::StatusOr<v1::GetAdaptationResponse> got = client_->GetAdaptation(id);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->adaptation_id(), id);
    EXPECT_EQ(got->classes_size(), static_cast<int>(classes_.size()) + 1);

    // A stream: a good message, an unknown id, then (keeping that id) a
    // tensor of the wrong shape; each answered with its own status.
    std::vector<v1::StreamPredictRequest> stream(3);
    stream[0].set_adaptation_id(id);
    *stream[0].mutable_queries() = predict.queries();
    stream[1].set_adaptation_id(kUnknownId);
    *stream[1].add_queries() = ConstantTensorExample(0.1f);
    v1::Example wrong_shape = ConstantTensorExample(0.1f);
    wrong_shape.mutable_tensor()->set_shape(0, 3);
    *stream[2].add_queries() = wrong_shape;
    for (int i = 0; i < 3; ++i) stream[i].set_sequence(100 + i);
    absl::StatusOr<std::vector<v1::StreamPredictResponse>> streamed =
        client_->StreamPredict(stream);
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    ASSERT_EQ(streamed->size(), 3u);
    EXPECT_EQ((*streamed)[0].sequence(), 100u);
    EXPECT_EQ((*streamed)[0].status_code(), 0);
    ASSERT_EQ((*streamed)[0].predictions_size(),
              static_cast<int>(copy_labels.size()));
    for (int i = 0; i < (*streamed)[0].predictions_size(); ++i) {
      EXPECT_EQ((*streamed)[0].predictions(i).label(), copy_labels[i]);
    }
    EXPECT_EQ((*streamed)[1].status_code(),
              static_cast<int>(StatusCode::kNotFound));
    EXPECT_EQ((*streamed)[2].status_code(),
              static_cast<int>(StatusCode::kInvalidArgument));

    // Delete it; then it is gone.
    EXPECT_TRUE(client_->DeleteAdaptation(id).ok());
    ExpectCode(client_->GetAdaptation(id).status(), StatusCode::kNotFound,
               "GetAdaptation after delete");
    ExpectCode(client_->DeleteAdaptation(id), StatusCode::kNotFound,
               "DeleteAdaptation twice");
  }

  void BadCalls() {
    const StatusCode kInvalid = StatusCode::kInvalidArgument;
    const std::string& png = classes_[0].support_pngs[0];

    // Support sets: empty, one class, bad labels, unknown method, broken or
    // oversize images.
    ExpectCode(client_->Adapt(v1::AdaptRequest()).status(), kInvalid,
               "Adapt with empty support");
    v1::AdaptRequest one_class;
    *one_class.add_support() = LabeledPng("a", png);
    *one_class.add_support() = LabeledPng("a", png);
    ExpectCode(client_->Adapt(one_class).status(), kInvalid,
               "Adapt with one class");
    v1::AdaptRequest bad = OneShotAdapt();
    bad.mutable_support(1)->set_label("");
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, empty label");
    bad = OneShotAdapt();
    bad.mutable_support(1)->set_label(std::string(kMaxLabelLength + 1, 'x'));
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, long label");
    bad = OneShotAdapt();
    bad.set_method("no-such-method");
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, bad method");
    bad = OneShotAdapt();
    bad.mutable_support(2)->mutable_example()->set_image(
        png.substr(0, png.size() / 2));
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, cut PNG");
    bad = OneShotAdapt();
    std::string flipped = png;
    for (size_t i = 16; i < flipped.size(); i += 7) flipped[i] ^= 0x5a;
    bad.mutable_support(3)->mutable_example()->set_image(flipped);
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, corrupt PNG");
    bad = OneShotAdapt();
    bad.mutable_support(0)->mutable_example()->set_image(
        std::string(kMaxImageBytes + 1, 'p'));
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, big image");
    bad = OneShotAdapt();
    bad.mutable_support(4)->clear_example();
    ExpectCode(client_->Adapt(bad).status(), kInvalid, "Adapt, no example");

    // Queries: unknown or empty id, too many, wrong shape, not finite,
    // neither image nor tensor.
    v1::PredictRequest predict;
    predict.set_adaptation_id(kUnknownId);
    *predict.add_queries() = ConstantTensorExample(0.5f);
    ExpectCode(client_->Predict(predict).status(), StatusCode::kNotFound,
               "Predict, unknown id");
    predict.clear_adaptation_id();
    ExpectCode(client_->Predict(predict).status(), kInvalid,
               "Predict, empty id");
    predict.set_adaptation_id(kUnknownId);
    for (int i = 0; i < kMaxQueries; ++i) {
      *predict.add_queries() = PngExample(png);
    }
    ExpectCode(client_->Predict(predict).status(), kInvalid,
               "Predict, too many queries");
    predict.clear_queries();
    *predict.add_queries() = ConstantTensorExample(0.5f);
    predict.mutable_queries(0)->mutable_tensor()->add_shape(1);
    ExpectCode(client_->Predict(predict).status(), kInvalid,
               "Predict, 4-d tensor");
    predict.clear_queries();
    *predict.add_queries() = ConstantTensorExample(0.5f);
    predict.mutable_queries(0)->mutable_tensor()->set_values(
        5, std::numeric_limits<float>::quiet_NaN());
    ExpectCode(client_->Predict(predict).status(), kInvalid,
               "Predict, NaN value");
    predict.clear_queries();
    predict.add_queries();
    ExpectCode(client_->Predict(predict).status(), kInvalid,
               "Predict, empty example");
    v1::ClassifyRequest classify;
    *classify.mutable_support() = OneShotAdapt().support();
    ExpectCode(client_->Classify(classify).status(), kInvalid,
               "Classify without queries");

    // Edits of an unknown adaptation, and malformed edits.
    v1::AddExamplesRequest add;
    add.set_adaptation_id(kUnknownId);
    *add.add_examples() = LabeledPng("a", png);
    ExpectCode(client_->AddExamples(add).status(), StatusCode::kNotFound,
               "AddExamples, unknown id");
    add.set_adaptation_id("");
    ExpectCode(client_->AddExamples(add).status(), kInvalid,
               "AddExamples, empty id");
    v1::FeedbackRequest feedback;
    feedback.set_adaptation_id(kUnknownId);
    feedback.set_correct_label("a");
    ExpectCode(client_->Feedback(feedback).status(), kInvalid,
               "Feedback without query");
    v1::RemoveExamplesRequest remove;
    remove.set_adaptation_id(kUnknownId);
    remove.add_example_ids("not-a-number");
    ExpectCode(client_->RemoveExamples(remove).status(), kInvalid,
               "RemoveExamples, bad id");
    remove.set_example_ids(0, "7");
    ExpectCode(client_->RemoveExamples(remove).status(), StatusCode::kNotFound,
               "RemoveExamples, unknown adaptation");
    ExpectCode(client_->RemoveClass(kUnknownId, "").status(), kInvalid,
               "RemoveClass, empty label");
    ExpectCode(client_->GetAdaptation(kUnknownId).status(),
               StatusCode::kNotFound, "GetAdaptation, unknown id");
    ExpectCode(client_->DeleteAdaptation(""), kInvalid,
               "DeleteAdaptation, empty id");

    // A method the service does not have, and a message over the limit.
    EXPECT_EQ(CallRawMethod(target_, "/fewshot.v1.FewShot/NoSuchMethod"),
              StatusCode::kUnimplemented);
    v1::PredictRequest huge;
    huge.set_adaptation_id(kUnknownId);
    *huge.add_queries() = PngExample(std::string(kMaxMessageBytes, 'h'));
    ExpectCode(client_->Predict(huge).status(), StatusCode::kResourceExhausted,
               "Predict over the size limit");
  }

  client::FewShotClient* const client_;
  const std::string target_;
  const std::vector<ExampleClass>& classes_;
  const int thread_index_;
};

// Runs `rounds` rounds on each of kThreads threads at once.
void RunRounds(client::FewShotClient* client, const std::string& target,
               const std::vector<ExampleClass>& classes, int rounds) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Hammer hammer(client, target, &classes, t);
      for (int round = 0; round < rounds; ++round) hammer.Round();
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST(HammerTest, ManyThreadsGetExactAnswersAndMemoryStaysFlat) {
  absl::StatusOr<std::vector<ExampleClass>> classes =
      ReadExampleClasses(ExamplesDir());
  ASSERT_TRUE(classes.ok()) << classes.status();
  ASSERT_GE(classes->size(), 2u);
  auto server = ServerProcess::Start(
      {"--workers=2", absl::StrCat("--max_queries=", kMaxQueries),
       absl::StrCat("--max_image_bytes=", kMaxImageBytes),
       absl::StrCat("--max_label_length=", kMaxLabelLength),
       absl::StrCat("--max_message_bytes=", kMaxMessageBytes)});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string target = (*server)->target();
  client::ClientOptions options;
  options.target = target;
  options.timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
      client::FewShotClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();

  // Warm up, so that pools, arenas and caches reach their working size.
  RunRounds(client->get(), target, *classes, kWarmUpRounds);
  ASSERT_FALSE(::testing::Test::HasFailure());
  absl::StatusOr<int64_t> warm = ResidentBytes((*server)->pid());
  ASSERT_TRUE(warm.ok()) << warm.status();

  // The measured rounds.
  RunRounds(client->get(), target, *classes, kRounds);
  absl::StatusOr<bool> serving = IsServing(target);
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
  absl::StatusOr<int64_t> after = ResidentBytes((*server)->pid());
  ASSERT_TRUE(after.ok()) << after.status();
  const int64_t allowed = std::max(
      kMaxRssGrowthBytes, static_cast<int64_t>(*warm * kMaxRssGrowthFraction));
  std::cout << "server VmRSS after warm-up " << (*warm >> 10) << " KiB, after "
            << kRounds << " more rounds of " << kThreads << " threads "
            << (*after >> 10) << " KiB (growth allowed " << (allowed >> 10)
            << " KiB)\n";
  EXPECT_LE(*after - *warm, allowed);
}

}  // namespace
}  // namespace fewshot::testing
