// fewshot-bench: measures Adapt, Predict and Classify latency as a client
// sees it, over real gRPC, one call at a time, and prints percentiles.
//
//   fewshot-bench --target=127.0.0.1:50051 --requests=200
//       examples/omniglot/support examples/omniglot/queries
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/image_files.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(int, requests, 100, "Measured calls per RPC");
ABSL_FLAG(int, warmup, 5, "Unmeasured calls per RPC before measuring");
ABSL_FLAG(int, timeout_ms, 10000, "Deadline of each call, in ms");

namespace fewshot::client {
namespace {

// Latency percentiles of one RPC, in milliseconds.
struct LatencySummary {
  double p50 = 0, p90 = 0, p99 = 0, mean = 0;
};

LatencySummary Summarize(std::vector<double> milliseconds) {
  std::sort(milliseconds.begin(), milliseconds.end());
  auto at = [&](double q) {
    const size_t index = static_cast<size_t>(q * (milliseconds.size() - 1));
    return milliseconds[index];
  };
  LatencySummary summary;
  summary.p50 = at(0.50);
  summary.p90 = at(0.90);
  summary.p99 = at(0.99);
  for (double ms : milliseconds) summary.mean += ms;
  summary.mean /= milliseconds.size();
  return summary;
}

// Calls `call` warmup + requests times and summarises the measured ones;
// stops at the first error.
template <typename Call>
absl::StatusOr<LatencySummary> Measure(int warmup, int requests, Call call) {
  std::vector<double> milliseconds;
  for (int i = 0; i < warmup + requests; ++i) {
    const absl::Time start = absl::Now();
    const absl::Status status = call();
    const double elapsed = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (!status.ok()) return status;
    if (i >= warmup) milliseconds.push_back(elapsed);
  }
  return Summarize(std::move(milliseconds));
}

int Fail(const absl::Status& status) {
  std::cerr << "fewshot-bench: " << status << "\n";
  return 1;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Usage: fewshot-bench [flags] <support_dir> <query files or dirs>...");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 3 || absl::GetFlag(FLAGS_requests) < 1) {
    std::cerr << "usage: fewshot-bench [--target=host:port] [--requests=N] "
                 "<support_dir> <queries>...\n";
    return 2;
  }

  // Read the inputs and connect.
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(args[1]);
  if (!support.ok()) return Fail(support.status());
  absl::StatusOr<std::vector<QueryFile>> queries = ReadQueryFiles(
      std::vector<std::string>(args.begin() + 2, args.end()));
  if (!queries.ok()) return Fail(queries.status());
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(options);
  if (!client.ok()) return Fail(client.status());

  // Build the requests once.
  v1::AdaptRequest adapt;
  for (const v1::LabeledExample& example : *support) {
    *adapt.add_support() = example;
  }
  v1::ClassifyRequest classify;
  *classify.mutable_support() = adapt.support();
  for (const QueryFile& query : *queries) {
    *classify.add_queries() = query.example;
  }
  absl::StatusOr<v1::AdaptResponse> adapted = (*client)->Adapt(adapt);
  if (!adapted.ok()) return Fail(adapted.status());
  v1::PredictRequest predict_all;
  predict_all.set_adaptation_id(adapted->adaptation_id());
  *predict_all.mutable_queries() = classify.queries();
  v1::PredictRequest predict_one = predict_all;
  predict_one.mutable_queries()->DeleteSubrange(
      1, predict_one.queries_size() - 1);

  // Measure each RPC in turn.
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const int requests = absl::GetFlag(FLAGS_requests);
  struct Row {
    std::string name;
    absl::StatusOr<LatencySummary> latency;
  };
  std::vector<Row> rows;
  rows.push_back({absl::StrFormat("Adapt (%d support)", adapt.support_size()),
                  Measure(warmup, requests, [&] {
                    return (*client)->Adapt(adapt).status();
                  })});
  rows.push_back({"Predict (1 query)", Measure(warmup, requests, [&] {
                    return (*client)->Predict(predict_one).status();
                  })});
  rows.push_back(
      {absl::StrFormat("Predict (%d queries)", predict_all.queries_size()),
       Measure(warmup, requests, [&] {
         return (*client)->Predict(predict_all).status();
       })});
  rows.push_back({absl::StrFormat("Classify (%d + %d)", adapt.support_size(),
                                  classify.queries_size()),
                  Measure(warmup, requests, [&] {
                    return (*client)->Classify(classify).status();
                  })});

  // Report.
  std::cout << absl::StrFormat("%-24s %9s %9s %9s %9s  (ms, %d calls each)\n",
                               "rpc", "p50", "p90", "p99", "mean", requests);
  for (const Row& row : rows) {
    if (!row.latency.ok()) return Fail(row.latency.status());
    std::cout << absl::StrFormat("%-24s %9.2f %9.2f %9.2f %9.2f\n", row.name,
                                 row.latency->p50, row.latency->p90,
                                 row.latency->p99, row.latency->mean);
  }
  return 0;
}

}  // namespace
}  // namespace fewshot::client

int main(int argc, char** argv) { return fewshot::client::Run(argc, argv); }
