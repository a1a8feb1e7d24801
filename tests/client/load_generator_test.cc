// Tests RunLoad and RunOpenLoopLoad: option checks, the request and duration
// bounds, the fixed rate and how late its calls started, the cap on calls
// in flight, error counting, and runs against an in-process fake server on
// loopback over real gRPC.
#include "client/load_generator.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/client/loopback_service.h"

namespace fewshot::client {
namespace {

TEST(RunLoadTest, RejectsUnboundedRun) {
  std::atomic<int> calls{0};
  LoadOptions options;

  absl::StatusOr<LoadResult> result = RunLoad(options, [&](int64_t) {
    ++calls;
    return absl::OkStatus();
  });

  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 0);
}

TEST(RunLoadTest, RejectsZeroConcurrency) {
  LoadOptions options;
  options.concurrency = 0;
  options.requests = 10;

  absl::StatusOr<LoadResult> result =
      RunLoad(options, [](int64_t) { return absl::OkStatus(); });

  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunLoadTest, MakesEachRequestIndexOnce) {
  absl::Mutex mutex;
  std::multiset<int64_t> indices;
  LoadOptions options;
  options.concurrency = 4;
  options.requests = 100;

  absl::StatusOr<LoadResult> result = RunLoad(options, [&](int64_t index) {
    absl::MutexLock lock(&mutex);
    indices.insert(index);
    return absl::OkStatus();
  });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 100);
  EXPECT_EQ(result->ok_latencies_ms.size(), 100);
  EXPECT_TRUE(result->errors.empty());
  EXPECT_TRUE(result->first_error.ok());
  ASSERT_EQ(indices.size(), 100);
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(indices.count(i), 1) << i;
}

TEST(RunLoadTest, CountsErrorsByCodeWithoutStopping) {
  LoadOptions options;
  options.concurrency = 3;
  options.requests = 30;

  absl::StatusOr<LoadResult> result = RunLoad(options, [](int64_t index) {
    if (index % 3 == 0) return absl::ResourceExhaustedError("queue full");
    if (index % 3 == 1) return absl::DeadlineExceededError("late");
    return absl::OkStatus();
  });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 10);
  EXPECT_EQ(result->ok_latencies_ms.size(), 10);
  ASSERT_EQ(result->errors.size(), 2);
  EXPECT_EQ(result->errors.at(absl::StatusCode::kResourceExhausted), 10);
  EXPECT_EQ(result->errors.at(absl::StatusCode::kDeadlineExceeded), 10);
  EXPECT_FALSE(result->first_error.ok());
}

TEST(RunLoadTest, StopsStartingCallsAfterDuration) {
  LoadOptions options;
  options.concurrency = 2;
  options.duration = absl::Milliseconds(200);

  absl::StatusOr<LoadResult> result = RunLoad(options, [](int64_t) {
    absl::SleepFor(absl::Milliseconds(10));
    return absl::OkStatus();
  });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->ok, 0);
  EXPECT_GE(result->elapsed, absl::Milliseconds(200));
  EXPECT_LT(result->elapsed, absl::Seconds(5));
  EXPECT_GT(result->Throughput(), 0);
}

TEST(RunLoadTest, FixedRateSpacesCallStarts) {
  LoadOptions options;
  options.concurrency = 4;
  options.requests = 20;
  options.rate = 100;

  absl::StatusOr<LoadResult> result =
      RunLoad(options, [](int64_t) { return absl::OkStatus(); });

  // Call 19 is due 190 ms after the start.
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 20);
  EXPECT_GE(result->elapsed, absl::Milliseconds(190));
}

TEST(RunLoadTest, FixedRateRecordsHowLateCallsStarted) {
  // One caller, calls due every 1 ms, each taking 5 ms: every call after
  // the first starts later than due, and later and later.
  LoadOptions options;
  options.concurrency = 1;
  options.requests = 10;
  options.rate = 1000;

  absl::StatusOr<LoadResult> result = RunLoad(options, [](int64_t) {
    absl::SleepFor(absl::Milliseconds(5));
    return absl::OkStatus();
  });

  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->start_lags_ms.size(), 10u);
  ASSERT_EQ(result->ok_sent_latencies_ms.size(), 10u);
  // Call 9 was due at 9 ms and could start only after 9 calls of 5 ms.
  EXPECT_GE(*std::max_element(result->start_lags_ms.begin(),
                              result->start_lags_ms.end()),
            30.0);
  // Counted from when it was sent, no call took much more than its 5 ms.
  for (double sent_ms : result->ok_sent_latencies_ms) {
    EXPECT_GE(sent_ms, 5.0);
  }
  EXPECT_LT(*std::max_element(result->ok_sent_latencies_ms.begin(),
                              result->ok_sent_latencies_ms.end()),
            *std::max_element(result->ok_latencies_ms.begin(),
                              result->ok_latencies_ms.end()));
}

TEST(RunLoadTest, ClosedLoopRecordsNoStartLag) {
  LoadOptions options;
  options.concurrency = 2;
  options.requests = 10;

  absl::StatusOr<LoadResult> result =
      RunLoad(options, [](int64_t) { return absl::OkStatus(); });

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 10);
  EXPECT_TRUE(result->start_lags_ms.empty());
  EXPECT_TRUE(result->ok_sent_latencies_ms.empty());
}

TEST(RunOpenLoopLoadTest, RejectsClosedLoop) {
  LoadOptions options;
  options.requests = 10;
  int calls = 0;

  absl::StatusOr<LoadResult> result =
      RunOpenLoopLoad(options, [&calls](int64_t, LoadDone done) {
        ++calls;
        done(absl::OkStatus());
      });

  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 0);
}

TEST(RunOpenLoopLoadTest, StartsEachIndexOnceAtTheRate) {
  // Completions run inline, before the call returns.
  LoadOptions options;
  options.concurrency = 4;
  options.requests = 20;
  options.rate = 100;
  std::set<int64_t> indices;

  absl::StatusOr<LoadResult> result =
      RunOpenLoopLoad(options, [&indices](int64_t index, LoadDone done) {
        indices.insert(index);
        done(index % 5 == 0 ? absl::UnavailableError("down")
                            : absl::OkStatus());
      });

  // Call 19 is due 190 ms after the start.
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(indices.size(), 20u);
  EXPECT_EQ(*indices.rbegin(), 19);
  EXPECT_EQ(result->ok, 16);
  EXPECT_EQ(result->errors.at(absl::StatusCode::kUnavailable), 4);
  EXPECT_EQ(result->first_error.message(), "down");
  EXPECT_EQ(result->start_lags_ms.size(), 20u);
  EXPECT_EQ(result->ok_sent_latencies_ms.size(), 16u);
  EXPECT_GE(result->elapsed, absl::Milliseconds(190));
}

TEST(RunOpenLoopLoadTest, KeepsAtMostConcurrencyCallsInFlight) {
  // Calls due every 1 ms end 20 ms after they start, on another thread; with
  // 3 slots, later calls wait for a slot and start late.
  LoadOptions options;
  options.concurrency = 3;
  options.requests = 12;
  options.rate = 1000;
  absl::Mutex mutex;
  int in_flight = 0;
  int most_in_flight = 0;
  std::vector<std::thread> completions;

  absl::StatusOr<LoadResult> result =
      RunOpenLoopLoad(options, [&](int64_t, LoadDone done) {
        absl::MutexLock lock(&mutex);
        most_in_flight = std::max(most_in_flight, ++in_flight);
        completions.emplace_back([&mutex, &in_flight, done] {
          absl::SleepFor(absl::Milliseconds(20));
          {
            absl::MutexLock lock(&mutex);
            --in_flight;
          }
          done(absl::OkStatus());
        });
      });
  for (std::thread& completion : completions) completion.join();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->ok, 12);
  EXPECT_EQ(most_in_flight, 3);
  // Calls 9 to 11 could start only after three rounds of 20 ms.
  EXPECT_GE(*std::max_element(result->start_lags_ms.begin(),
                              result->start_lags_ms.end()),
            40.0);
  for (double sent_ms : result->ok_sent_latencies_ms) EXPECT_GE(sent_ms, 19.0);
  EXPECT_GE(result->elapsed, absl::Milliseconds(80));
}

// Answers Predict, or RESOURCE_EXHAUSTED for the adaptation id "full".
// Counts the calls it receives.
class FakeFewShot final : public v1::FewShot::Service {
 public:
  grpc::Status Predict(grpc::ServerContext* context,
                       const v1::PredictRequest* request,
                       v1::PredictResponse* response) override {
    ++calls;
    if (request->adaptation_id() == "full") {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
    }
    response->add_predictions();
    return grpc::Status::OK;
  }

  std::atomic<int> calls{0};
};

// Runs FakeFewShot on a free loopback port, with a client that makes one
// attempt per call.
class LoadOverGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    running_ = testing::StartOnLoopback(service_);
    ASSERT_NE(running_.server, nullptr);
    ClientOptions options;
    options.target = running_.target();
    options.timeout = absl::Seconds(5);
    options.max_attempts = 1;
    absl::StatusOr<std::unique_ptr<FewShotClient>> client =
        FewShotClient::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override { running_.server->Shutdown(); }

  // Checks a run of 40 calls of which every fourth was refused.
  void ExpectThirtyAnsweredTenRefused(
      const absl::StatusOr<LoadResult>& result) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->ok, 30);
    ASSERT_EQ(result->errors.size(), 1);
    EXPECT_EQ(result->errors.at(absl::StatusCode::kResourceExhausted), 10);
    EXPECT_EQ(result->first_error.message(), "queue full");
    EXPECT_EQ(service_.calls, 40);
  }

  FakeFewShot service_;
  testing::LoopbackService running_;
  std::unique_ptr<FewShotClient> client_;
};

TEST_F(LoadOverGrpcTest, RunLoadCountsAnswersAndRefusals) {
  LoadOptions options;
  options.concurrency = 8;
  options.requests = 40;

  absl::StatusOr<LoadResult> result = RunLoad(options, [&](int64_t index) {
    v1::PredictRequest request;
    request.set_adaptation_id(index % 4 == 0 ? "full" : "id");
    return client_->Predict(request).status();
  });

  ExpectThirtyAnsweredTenRefused(result);
}

TEST_F(LoadOverGrpcTest, RunOpenLoopLoadWithStartPredict) {
  v1::PredictRequest ok_request;
  ok_request.set_adaptation_id("id");
  v1::PredictRequest full_request;
  full_request.set_adaptation_id("full");
  LoadOptions options;
  options.concurrency = 8;
  options.requests = 40;
  options.rate = 2000;

  absl::StatusOr<LoadResult> result =
      RunOpenLoopLoad(options, [&](int64_t index, LoadDone done) {
        client_->StartPredict(
            index % 4 == 0 ? full_request : ok_request,
            [done](absl::StatusOr<v1::PredictResponse> answer) {
              EXPECT_TRUE(!answer.ok() || answer->predictions_size() == 1);
              done(answer.status());
            });
      });

  ExpectThirtyAnsweredTenRefused(result);
}

}  // namespace
}  // namespace fewshot::client
