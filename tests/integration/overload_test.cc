// Overloads the real fewshot-server: one worker and a queue of one, and
// far more concurrent Classify calls than that holds. The excess must be
// refused at once with RESOURCE_EXHAUSTED, every accepted call must finish
// with the right answer, and the server must serve normally afterwards.
// Latency is not asserted; only generous guards catch hangs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/fewshot_client.h"
#include "tests/integration/example_images.h"
#include "tests/integration/metrics_page.h"
#include "tests/integration/server_process.h"
#include "tests/test_environment.h"

namespace fewshot::testing {
namespace {

using ::testing::HasSubstr;

// Concurrent calls per wave, and waves.
constexpr int kCallers = 24;
constexpr int kWaves = 2;
// The server's queue bound.
constexpr int kQueueCapacity = 1;
// Queries per call; far above the batch size below, so that no two calls
// share a forward pass and each keeps the single worker busy.
constexpr int kQueriesPerCall = 150;
constexpr int kMaxBatchSize = 16;
// Hang guards only: a refused call must come back well before this, and
// every call before the client's deadline.
constexpr absl::Duration kRefusalGuard = absl::Seconds(20);
constexpr absl::Duration kCallDeadline = absl::Seconds(90);

// One call's outcome.
struct Outcome {
  absl::Status status;
  absl::Duration elapsed;
  // Queries that got the label of the support drawing they copy.
  int correct = 0;
  int predictions = 0;
};

// A Classify call of one drawing per class, whose queries are copies of
// those drawings; `labels` receives the label each query must get.
v1::ClassifyRequest CopyClassify(const std::vector<ExampleClass>& classes,
                                 std::vector<std::string>* labels) {
  v1::ClassifyRequest request;
  for (const ExampleClass& example_class : classes) {
    *request.add_support() =
        LabeledPng(example_class.label, example_class.support_pngs[0]);
  }
  for (int i = 0; i < kQueriesPerCall; ++i) {
    const ExampleClass& example_class = classes[i % classes.size()];
    *request.add_queries() = PngExample(example_class.support_pngs[0]);
    labels->push_back(example_class.label);
  }
  return request;
}

// Runs `request` and scores its answer against `labels`.
Outcome Call(client::FewShotClient& client, const v1::ClassifyRequest& request,
             const std::vector<std::string>& labels) {
  Outcome outcome;
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::ClassifyResponse> response = client.Classify(request);
  outcome.elapsed = absl::Now() - start;
  outcome.status = response.status();
  if (!response.ok()) return outcome;
  outcome.predictions = response->predictions_size();
  for (int i = 0;
       i < response->predictions_size() && i < static_cast<int>(labels.size());
       ++i) {
    if (response->predictions(i).label() == labels[i]) ++outcome.correct;
  }
  return outcome;
}

TEST(OverloadTest, ExcessIsRefusedAtOnceAndAcceptedCallsSucceed) {
  absl::StatusOr<std::vector<ExampleClass>> classes =
      ReadExampleClasses(ExamplesDir());
  ASSERT_TRUE(classes.ok()) << classes.status();
  auto server = ServerProcess::Start(
      {"--workers=1", absl::StrCat("--queue_capacity=", kQueueCapacity),
       absl::StrCat("--max_batch_size=", kMaxBatchSize),
       "--max_batch_delay_us=0"});
  ASSERT_TRUE(server.ok()) << server.status();
  client::ClientOptions options;
  options.target = (*server)->target();
  options.timeout = kCallDeadline;
  options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<client::FewShotClient>> client =
      client::FewShotClient::Connect(options);
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<std::string> labels;
  const v1::ClassifyRequest request = CopyClassify(*classes, &labels);

  int accepted = 0;
  int refused = 0;
  absl::Duration slowest_refusal;
  for (int wave = 0; wave < kWaves; ++wave) {
    // Start every caller at once, and watch the queue while they run.
    std::vector<Outcome> outcomes(kCallers);
    absl::Notification go;
    std::atomic<int> finished{0};
    std::vector<std::thread> callers;
    for (int i = 0; i < kCallers; ++i) {
      callers.emplace_back([&, i] {
        go.WaitForNotification();
        outcomes[i] = Call(**client, request, labels);
        finished.fetch_add(1);
      });
    }
    go.Notify();
    double deepest_queue = 0;
    while (finished.load() < kCallers) {
      deepest_queue = std::max(
          deepest_queue, SampleValue(ScrapeMetrics((*server)->metrics_port()),
                                     "fewshot_queue_depth", {}));
      absl::SleepFor(absl::Milliseconds(10));
    }
    for (std::thread& caller : callers) caller.join();
    EXPECT_LE(deepest_queue, kQueueCapacity);

    // Each call was either refused promptly or answered correctly.
    for (int i = 0; i < kCallers; ++i) {
      const Outcome& outcome = outcomes[i];
      if (outcome.status.code() == absl::StatusCode::kResourceExhausted) {
        ++refused;
        slowest_refusal = std::max(slowest_refusal, outcome.elapsed);
        EXPECT_LT(outcome.elapsed, kRefusalGuard)
            << "wave " << wave << ", call " << i << " was refused only after "
            << outcome.elapsed;
        EXPECT_THAT(outcome.status.message(), HasSubstr("queue is full"));
        continue;
      }
      ASSERT_TRUE(outcome.status.ok())
          << "wave " << wave << ", call " << i << ": " << outcome.status;
      ++accepted;
      EXPECT_EQ(outcome.predictions, kQueriesPerCall);
      EXPECT_EQ(outcome.correct, kQueriesPerCall)
          << "wave " << wave << ", call " << i;
    }
  }
  std::cout << "overload: " << kWaves << " waves of " << kCallers
            << " calls; accepted " << accepted << ", refused " << refused
            << " (slowest refusal " << slowest_refusal << ")\n";
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);

  // The server counted the same refusals, and serves normally afterwards.
  const std::string page = ScrapeMetrics((*server)->metrics_port());
  EXPECT_EQ(SampleValue(page, "fewshot_requests_total",
                        {"rpc=\"Classify\"", "code=\"RESOURCE_EXHAUSTED\""}),
            refused);
  absl::StatusOr<bool> serving = IsServing((*server)->target());
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
  const Outcome after = Call(**client, request, labels);
  ASSERT_TRUE(after.status.ok()) << after.status;
  EXPECT_EQ(after.correct, kQueriesPerCall);
}

}  // namespace
}  // namespace fewshot::testing
