// Tests PredictStream and PredictStreamPool against an in-process fake
// server on loopback: answers in order on one stream, a failed message that
// leaves the stream open, a stream the server ends, the stream deadline,
// and the pool's reuse and replacement of streams under concurrent callers.
#include "client/predict_stream.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/predict_stream_pool.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/client/loopback_service.h"

namespace fewshot::client {
namespace {

// Answers each message with one prediction per query, labelled by the
// adaptation id; "missing" fails the message with NOT_FOUND, "abort" ends
// the stream with ABORTED, "slow" waits 2 s first. Counts the streams.
class FakeStreamingFewShot final : public v1::FewShot::Service {
 public:
  grpc::Status StreamPredict(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::StreamPredictResponse,
                               v1::StreamPredictRequest>* stream) override {
    ++streams;
    v1::StreamPredictRequest request;
    while (stream->Read(&request)) {
      const std::string& id = request.adaptation_id();
      if (id == "abort") {
        return grpc::Status(grpc::StatusCode::ABORTED, "told to abort");
      }
      if (id == "slow") absl::SleepFor(absl::Seconds(2));

      v1::StreamPredictResponse response;
      response.set_sequence(request.sequence());
      if (id == "missing") {
        response.set_status_code(grpc::StatusCode::NOT_FOUND);
        response.set_status_message("unknown adaptation_id \"missing\"");
      } else {
        for (int i = 0; i < request.queries_size(); ++i) {
          response.add_predictions()->set_label(id);
        }
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  std::atomic<int> streams{0};
};

// A message for adaptation `id` with `queries` empty queries.
v1::StreamPredictRequest Message(const std::string& id, uint64_t sequence,
                                 int queries = 1) {
  v1::StreamPredictRequest request;
  request.set_adaptation_id(id);
  request.set_sequence(sequence);
  for (int i = 0; i < queries; ++i) request.add_queries();
  return request;
}

class PredictStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    running_ = testing::StartOnLoopback(service_);
    ASSERT_NE(running_.server, nullptr);
    ClientOptions options;
    options.target = running_.target();
    absl::StatusOr<std::unique_ptr<FewShotClient>> client =
        FewShotClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override {
    running_.server->Shutdown(
        absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }

  // A stream open for `lifetime`; fails the test if it cannot be opened.
  std::unique_ptr<PredictStream> Open(
      absl::Duration lifetime = absl::Seconds(10)) {
    absl::StatusOr<std::unique_ptr<PredictStream>> stream =
        client_->OpenPredictStream(lifetime);
    EXPECT_TRUE(stream.ok()) << stream.status();
    return stream.ok() ? *std::move(stream) : nullptr;
  }

  FakeStreamingFewShot service_;
  testing::LoopbackService running_;
  std::unique_ptr<FewShotClient> client_;
};

TEST_F(PredictStreamTest, AnswersEachMessageInTurnOnOneStream) {
  std::unique_ptr<PredictStream> stream = Open();
  ASSERT_NE(stream, nullptr);

  for (uint64_t sequence = 1; sequence <= 5; ++sequence) {
    absl::StatusOr<v1::StreamPredictResponse> answer =
        stream->Send(Message(absl::StrCat("a", sequence), sequence, 2));
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->sequence(), sequence);
    EXPECT_EQ(answer->status_code(), 0);
    ASSERT_EQ(answer->predictions_size(), 2);
    EXPECT_EQ(answer->predictions(1).label(), absl::StrCat("a", sequence));
  }

  EXPECT_TRUE(stream->Close().ok());
  EXPECT_TRUE(stream->Close().ok());
  EXPECT_EQ(service_.streams.load(), 1);
}

TEST_F(PredictStreamTest, FailedMessageLeavesTheStreamOpen) {
  std::unique_ptr<PredictStream> stream = Open();
  ASSERT_NE(stream, nullptr);

  absl::StatusOr<v1::StreamPredictResponse> failed =
      stream->Send(Message("missing", 1));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status_code(), grpc::StatusCode::NOT_FOUND);

  absl::StatusOr<v1::StreamPredictResponse> next =
      stream->Send(Message("a", 2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status_code(), 0);
  EXPECT_EQ(next->sequence(), 2u);
}

TEST_F(PredictStreamTest, StreamEndedByTheServerFailsThisAndLaterSends) {
  std::unique_ptr<PredictStream> stream = Open();
  ASSERT_NE(stream, nullptr);

  absl::StatusOr<v1::StreamPredictResponse> ended =
      stream->Send(Message("abort", 1));
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ended.status().message(), "told to abort");

  EXPECT_EQ(stream->Send(Message("a", 2)).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(stream->Close().code(), absl::StatusCode::kAborted);
}

TEST_F(PredictStreamTest, DeadlineBoundsTheWholeStream) {
  std::unique_ptr<PredictStream> stream = Open(absl::Milliseconds(300));
  ASSERT_NE(stream, nullptr);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::StreamPredictResponse> late =
      stream->Send(Message("slow", 1));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(PredictStreamTest, SendAfterCloseFails) {
  std::unique_ptr<PredictStream> stream = Open();
  ASSERT_NE(stream, nullptr);
  ASSERT_TRUE(stream->Close().ok());

  EXPECT_EQ(stream->Send(Message("a", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(PredictStreamTest, RejectsLifetimeThatIsNotPositive) {
  EXPECT_EQ(client_->OpenPredictStream(absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PredictStreamTest, PoolKeepsAboutOneStreamPerConcurrentCaller) {
  PredictStreamPool pool(*client_, PredictStreamPoolOptions{});
  constexpr int kCallers = 4;
  constexpr int kCallsEach = 50;
  std::atomic<int> ok{0};

  std::vector<std::thread> callers;
  for (int caller = 0; caller < kCallers; ++caller) {
    callers.emplace_back([&pool, &ok, caller] {
      for (int call = 0; call < kCallsEach; ++call) {
        if (pool.Call(Message("a", caller * kCallsEach + call)).ok()) ++ok;
      }
    });
  }
  for (std::thread& caller : callers) caller.join();

  EXPECT_EQ(ok.load(), kCallers * kCallsEach);
  EXPECT_GE(pool.opened(), 1);
  EXPECT_LE(pool.opened(), kCallers);
  EXPECT_EQ(service_.streams.load(), pool.opened());
}

TEST_F(PredictStreamTest, PoolReturnsTheMessageStatusAndKeepsTheStream) {
  PredictStreamPool pool(*client_, PredictStreamPoolOptions{});

  const absl::Status failed = pool.Call(Message("missing", 1));
  EXPECT_EQ(failed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(failed.message(), "unknown adaptation_id \"missing\"");
  EXPECT_TRUE(pool.Call(Message("a", 2)).ok());

  EXPECT_EQ(pool.opened(), 1);
}

TEST_F(PredictStreamTest, PoolDropsAnEndedStreamAndOpensAnother) {
  PredictStreamPool pool(*client_, PredictStreamPoolOptions{});

  EXPECT_EQ(pool.Call(Message("abort", 1)).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(pool.Call(Message("a", 2)).ok());

  EXPECT_EQ(pool.opened(), 2);
}

TEST_F(PredictStreamTest, PoolReplacesAStreamNearItsDeadline) {
  PredictStreamPoolOptions options;
  options.stream_lifetime = absl::Seconds(2);
  options.message_timeout = absl::Milliseconds(1200);
  PredictStreamPool pool(*client_, options);

  ASSERT_TRUE(pool.Call(Message("a", 1)).ok());
  ASSERT_TRUE(pool.Call(Message("a", 2)).ok());
  EXPECT_EQ(pool.opened(), 1);

  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(pool.Call(Message("a", 3)).ok());
  EXPECT_EQ(pool.opened(), 2);
}

}  // namespace
}  // namespace fewshot::client
