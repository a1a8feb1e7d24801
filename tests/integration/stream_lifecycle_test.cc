// The life of StreamPredict calls in the real fewshot-server: open streams
// hold no gRPC thread, messages sent ahead are worked on together and
// answered in order, and a stream that ends any way (its deadline, the
// client cancelling, the server stopping) leaves no call behind in the
// server's metrics.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/predict_stream.h"
#include "tests/integration/example_images.h"
#include "tests/integration/metrics_page.h"
#include "tests/integration/server_process.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

using ::testing::AnyOf;

// gRPC threads the server may use for its synchronous methods; far fewer
// than the streams kept open at once below.
constexpr int kGrpcThreads = 2;
constexpr int kOpenStreams = 12;
// How long a finished stream may take to leave the server's metrics.
constexpr absl::Duration kSettleGuard = absl::Seconds(10);
// Messages of one query sent on one stream without waiting.
constexpr int kPipelined = 200;

class StreamLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::vector<ExampleClass>> classes =
        ReadExampleClasses(ExamplesDir());
    ASSERT_TRUE(classes.ok()) << classes.status();
    classes_ = *std::move(classes);
  }

  // Starts a server with --grpc_max_threads=kGrpcThreads and `flags`,
  // connects a client and adapts to every example class.
  void StartServer(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> all_flags = {
        absl::StrCat("--grpc_max_threads=", kGrpcThreads)};
    all_flags.insert(all_flags.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(all_flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client::ClientOptions options;
    options.target = server_->target();
    options.max_attempts = 1;
    absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
        client::FewShotClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);

    v1::AdaptRequest adapt;
    for (const ExampleClass& example_class : classes_) {
      for (const std::string& png : example_class.support_pngs) {
        *adapt.add_support() = LabeledPng(example_class.label, png);
      }
    }
    absl::StatusOr<v1::AdaptResponse> adapted = client_->Adapt(adapt);
    ASSERT_TRUE(adapted.ok()) << adapted.status();
    adaptation_id_ = adapted->adaptation_id();
  }

  // A message asking for the first query drawing of class `index` (modulo
  // the class count).
  v1::StreamPredictRequest Message(int index, uint64_t sequence) const {
    index %= static_cast<int>(classes_.size());
    v1::StreamPredictRequest request;
    request.set_sequence(sequence);
    request.set_adaptation_id(adaptation_id_);
    *request.add_queries() = PngExample(classes_[index].query_pngs.front());
    return request;
  }

  // Sends Message(index, sequence) on `stream` and checks that it got that
  // class's label.
  void ExpectAnswered(client::PredictStream& stream, int index,
                      uint64_t sequence) const {
    absl::StatusOr<v1::StreamPredictResponse> answer =
        stream.Send(Message(index, sequence));
    ASSERT_TRUE(answer.ok())
        << "message " << sequence << ": " << answer.status();
    EXPECT_EQ(answer->status_code(), 0) << answer->status_message();
    EXPECT_EQ(answer->sequence(), sequence);
    ASSERT_EQ(answer->predictions_size(), 1);
    EXPECT_EQ(answer->predictions(0).label(),
              classes_[index % classes_.size()].label);
  }

  // Opens a stream for `lifetime` and checks that it answers a first
  // message (Message(index, 1)); null when it could not be opened.
  std::unique_ptr<client::PredictStream> OpenAndAsk(absl::Duration lifetime,
                                                    int index = 0) const {
    absl::StatusOr<std::unique_ptr<client::PredictStream>> stream =
        client_->OpenPredictStream(lifetime);
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return nullptr;
    ExpectAnswered(**stream, index, 1);
    return *std::move(stream);
  }

  // Sends kPipelined messages on one stream without waiting for answers,
  // checks that each was answered in order with its class's label, and
  // returns how many encoder passes the server ran meanwhile.
  double PipelinedEncoderPasses() const {
    const std::string passes = "fewshot_batch_size_count";
    const double before =
        SampleValue(ScrapeMetrics(server_->metrics_port()), passes);
    std::vector<v1::StreamPredictRequest> requests;
    for (int i = 0; i < kPipelined; ++i) requests.push_back(Message(i, i));
    absl::StatusOr<std::vector<v1::StreamPredictResponse>> answers =
        client_->StreamPredict(requests);
    EXPECT_TRUE(answers.ok()) << answers.status();
    if (!answers.ok()) return -1;
    EXPECT_EQ(answers->size(), requests.size());
    for (int i = 0; i < kPipelined && i < static_cast<int>(answers->size());
         ++i) {
      const v1::StreamPredictResponse& answer = (*answers)[i];
      EXPECT_EQ(answer.sequence(), static_cast<uint64_t>(i));
      EXPECT_EQ(answer.status_code(), 0) << answer.status_message();
      if (answer.predictions_size() == 1) {
        EXPECT_EQ(answer.predictions(0).label(),
                  classes_[i % classes_.size()].label);
      } else {
        ADD_FAILURE() << "answer " << i << " has " << answer.predictions_size()
                      << " predictions";
      }
    }
    return SampleValue(ScrapeMetrics(server_->metrics_port()), passes) - before;
  }

  // Waits until the server has no call in its handlers and has counted
  // `ended` StreamPredict calls with any of `codes`; false after
  // kSettleGuard.
  bool SettlesWith(const std::vector<std::string>& codes, double ended) const {
    const absl::Time give_up = absl::Now() + kSettleGuard;
    while (absl::Now() < give_up) {
      const std::string page = ScrapeMetrics(server_->metrics_port());
      double counted = 0;
      for (const std::string& code : codes) {
        counted +=
            std::max(0.0, SampleValue(page, "fewshot_requests_total",
                                      {"rpc=\"StreamPredict\"",
                                       absl::StrCat("code=\"", code, "\"")}));
      }
      if (SampleValue(page, "fewshot_calls_in_flight") == 0 &&
          counted == ended) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  std::vector<ExampleClass> classes_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::FewShotClient> client_;
  std::string adaptation_id_;
};

TEST_F(StreamLifecycleTest, ManyOpenStreamsNeedNoThreadEach) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Open every stream and keep it open while the next ones are used.
  std::vector<std::unique_ptr<client::PredictStream>> streams;
  for (int i = 0; i < kOpenStreams; ++i) {
    absl::StatusOr<std::unique_ptr<client::PredictStream>> stream =
        client_->OpenPredictStream(absl::Seconds(60));
    ASSERT_TRUE(stream.ok()) << stream.status();
    streams.push_back(*std::move(stream));
    ExpectAnswered(*streams.back(), i, i);
  }

  // Each still answers, and closes normally.
  for (int i = 0; i < kOpenStreams; ++i) {
    ExpectAnswered(*streams[i], i + 1, kOpenStreams + i);
  }
  for (std::unique_ptr<client::PredictStream>& stream : streams) {
    EXPECT_TRUE(stream->Close().ok());
  }
  EXPECT_TRUE(SettlesWith({"OK"}, kOpenStreams));
}

TEST_F(StreamLifecycleTest, MessagesSentAheadShareEncoderPasses) {
  // One worker, so that messages read while it runs queue up together.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers=1"}));
  const double passes = PipelinedEncoderPasses();
  std::cout << "pipelined: " << kPipelined << " messages in " << passes
            << " encoder passes\n";
  EXPECT_GE(passes, 1);
  EXPECT_LT(passes, kPipelined);
}

TEST_F(StreamLifecycleTest, OneMessageInFlightRunsEachAlone) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer({"--workers=1", "--max_stream_messages_in_flight=1"}));
  EXPECT_EQ(PipelinedEncoderPasses(), kPipelined);
}

TEST_F(StreamLifecycleTest, AFullQueueHoldsMessagesSentAheadBack) {
  // A queue of two calls, far fewer than the messages a stream reads
  // ahead: they wait for room instead of being refused.
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers=1", "--queue_capacity=2"}));
  EXPECT_GE(PipelinedEncoderPasses(), 1);
  const std::string page = ScrapeMetrics(server_->metrics_port());
  EXPECT_EQ(SampleValue(page, "fewshot_requests_total",
                        {"rpc=\"StreamPredict\"", "code=\"OK\""}),
            1);
}

TEST_F(StreamLifecycleTest, CancellingWithMessagesInFlightEndsTheStream) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers=1"}));
  std::unique_ptr<v1::FewShot::Stub> stub =
      v1::FewShot::NewStub(grpc::CreateChannel(
          server_->target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = stub->StreamPredict(&context);

  // Many messages sent ahead; cancel after the first answer.
  for (int i = 0; i < kPipelined; ++i) {
    if (!stream->Write(Message(i, i))) break;
  }
  v1::StreamPredictResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.sequence(), 0u);
  context.TryCancel();
  while (stream->Read(&answer)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(SettlesWith({"CANCELLED"}, 1));
}

TEST_F(StreamLifecycleTest, AStreamPastItsDeadlineEndsInTheServer) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::unique_ptr<client::PredictStream> stream =
      OpenAndAsk(absl::Milliseconds(500));
  ASSERT_NE(stream, nullptr);

  // Idle past the deadline: the stream is over on both sides. The server
  // may see the client's cancellation at the deadline before its own
  // timer fires.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(stream->Send(Message(1, 2)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(SettlesWith({"DEADLINE_EXCEEDED", "CANCELLED"}, 1));
}

TEST_F(StreamLifecycleTest, ACancelledStreamEndsInTheServer) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // Dropping an open stream cancels it.
  ASSERT_NE(OpenAndAsk(absl::Seconds(60)), nullptr);
  EXPECT_TRUE(SettlesWith({"CANCELLED"}, 1));

  // The server still serves streams.
  std::unique_ptr<client::PredictStream> next =
      OpenAndAsk(absl::Seconds(60), /*index=*/2);
  ASSERT_NE(next, nullptr);
  EXPECT_TRUE(next->Close().ok());
}

TEST_F(StreamLifecycleTest, StoppingTheServerEndsOpenStreams) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::unique_ptr<client::PredictStream> stream =
      OpenAndAsk(absl::Seconds(120));
  ASSERT_NE(stream, nullptr);

  // Asked to stop, the server still answers during its grace period, then
  // ends the stream and exits cleanly.
  ASSERT_TRUE(server_->Signal(SIGTERM).ok());
  ExpectAnswered(*stream, 1, 2);
  const absl::StatusOr<int> exit_code = server_->WaitForExit(absl::Seconds(60));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_THAT(
      stream->Send(Message(2, 3)).status().code(),
      AnyOf(absl::StatusCode::kUnavailable, absl::StatusCode::kCancelled));
}

}  // namespace
}  // namespace fewshot::testing
