// fewshot-bench: measures the fewshot.v1 service as a client sees it, over
// real gRPC. By default it times Adapt, Predict and Classify one call at a
// time and prints percentiles. With --rpc it is a load tool: for each RPC
// and each --concurrency level it runs concurrent callers (closed loop, or
// open loop at --rate calls/s) for --requests calls or --duration_s seconds
// and reports throughput, p50/p90/p95/p99 and errors by status code.
//
//   fewshot-bench --target=127.0.0.1:50051 --requests=200
//       examples/omniglot/support examples/omniglot/queries
//   fewshot-bench --rpc=predict --concurrency=1,8,32 --duration_s=10
//       --format=csv examples/omniglot/support examples/omniglot/queries
//
// With --input=tensor every support example and query is sent as a
// preprocessed float tensor of the model's input shape (GetModelInfo)
// instead of a PNG, so that the server does no decoding; the tensors hold
// seeded random values, which cost the encoder the same as real images.
//
// --rpc=stream_predict sends the Predict queries as StreamPredict messages
// instead: each caller keeps a stream open and sends one message at a time
// on it, waiting for its answer, so a call is one message, not one RPC.
// --rpc=stream_ahead opens a stream per call and sends --stream_messages
// messages on it before reading any answer, as a client with many queries
// against one adaptation would; a call is the whole stream.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/bench_report.h"
#include "client/fewshot_client.h"
#include "client/image_files.h"
#include "client/latency_stats.h"
#include "client/load_generator.h"
#include "client/predict_stream_pool.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(int, requests, 100,
          "Measured calls per RPC (and per concurrency level)");
ABSL_FLAG(int, warmup, 5, "Unmeasured calls per RPC before measuring");
ABSL_FLAG(int, timeout_ms, 10000, "Deadline of each call, in ms");
ABSL_FLAG(std::string, rpc, "",
          "Load mode: comma-separated RPCs out of adapt, predict, "
          "stream_predict, stream_ahead, classify, add_examples, or all; "
          "empty keeps the one-at-a-time table");
ABSL_FLAG(std::vector<std::string>, concurrency, {"1"},
          "Load mode: comma-separated concurrency levels, one row each");
ABSL_FLAG(double, duration_s, 0,
          "Load mode: seconds per level instead of --requests calls");
ABSL_FLAG(double, rate, 0,
          "Load mode: calls started per second (open loop; Predict calls "
          "are started asynchronously from one thread, with at most "
          "--concurrency in flight); 0 = closed loop");
ABSL_FLAG(std::string, format, "table", "Load mode output: table, csv, json");
ABSL_FLAG(int, queries, 1,
          "Load mode: queries per Predict call or StreamPredict message");
ABSL_FLAG(int, stream_messages, 32,
          "Load mode, --rpc=stream_ahead: messages per stream, all sent "
          "before any answer is read");
ABSL_FLAG(std::string, input, "png",
          "How examples are sent: png (the files as read) or tensor "
          "(preprocessed float tensors of the model's input shape, random "
          "values)");

namespace fewshot::client {
namespace {

// Every RPC the load mode knows, in the order "all" runs them.
const char* const kLoadRpcs[] = {"adapt",        "predict",  "stream_predict",
                                 "stream_ahead", "classify", "add_examples"};

// The requests every measurement is built from.
struct BenchRequests {
  v1::AdaptRequest adapt;
  v1::ClassifyRequest classify;
  // Against an adaptation of `adapt`: every query, and the first --queries.
  v1::PredictRequest predict_all;
  v1::PredictRequest predict_some;
  // The queries of `predict_some` as one StreamPredict message.
  v1::StreamPredictRequest stream_some;
  // --stream_messages copies of `stream_some`, numbered.
  std::vector<v1::StreamPredictRequest> stream_ahead;
};

// Images one call of `rpc` sends through the encoder.
int ImagesPerCall(const std::string& rpc, const BenchRequests& requests) {
  if (rpc == "adapt") return requests.adapt.support_size();
  if (rpc == "predict" || rpc == "stream_predict") {
    return requests.predict_some.queries_size();
  }
  if (rpc == "stream_ahead") {
    return static_cast<int>(requests.stream_ahead.size()) *
           requests.predict_some.queries_size();
  }
  if (rpc == "classify") {
    return requests.classify.support_size() + requests.classify.queries_size();
  }
  return 1;
}

// Replaces `example`'s input by a tensor of the model's input shape holding
// values drawn from `random`, normalised as `spec` says.
void SetRandomTensor(const v1::InputSpec& spec, std::mt19937& random,
                     v1::Example& example) {
  v1::FloatTensor* tensor = example.mutable_tensor();
  tensor->add_shape(spec.channels());
  tensor->add_shape(spec.height());
  tensor->add_shape(spec.width());
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  const float stddev = spec.stddev() > 0 ? spec.stddev() : 1.0f;
  const int64_t values =
      int64_t{spec.channels()} * spec.height() * spec.width();
  for (int64_t i = 0; i < values; ++i) {
    tensor->add_values((pixel(random) - spec.mean()) / stddev);
  }
}

int Fail(const absl::Status& status) {
  std::cerr << "fewshot-bench: " << status << "\n";
  return 1;
}

// Parses the --rpc list, expanding "all".
absl::StatusOr<std::vector<std::string>> ParseRpcs(const std::string& text) {
  std::vector<std::string> rpcs;
  for (absl::string_view name : absl::StrSplit(text, ',')) {
    if (name == "all") {
      rpcs.insert(rpcs.end(), std::begin(kLoadRpcs), std::end(kLoadRpcs));
      continue;
    }
    if (std::find(std::begin(kLoadRpcs), std::end(kLoadRpcs), name) ==
        std::end(kLoadRpcs)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rpc: expected adapt, predict, stream_predict, stream_ahead, "
          "classify, add_examples or all, got \"",
          name, "\""));
    }
    rpcs.emplace_back(name);
  }
  return rpcs;
}

// Parses the --concurrency levels.
absl::StatusOr<std::vector<int>> ParseLevels(
    const std::vector<std::string>& texts) {
  std::vector<int> levels;
  for (const std::string& text : texts) {
    int level = 0;
    if (!absl::SimpleAtoi(text, &level) || level < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "concurrency: expected integers >= 1, got \"", text, "\""));
    }
    levels.push_back(level);
  }
  if (levels.empty()) {
    return absl::InvalidArgumentError(
        "concurrency: expected a level, got none");
  }
  return levels;
}

// The call that `rpc` makes under load: Predict sends `predict_some`;
// stream_predict sends `stream_some` on a stream borrowed from a pool that
// lives as long as the call; stream_ahead sends `stream_ahead` on a new
// stream and fails with the first message's error, if any;
// add_examples adapts a fresh adaptation of its own and adds one support
// example (cycling through them) per call, so that adaptation grows by one
// example per call over the run.
absl::StatusOr<LoadCall> MakeLoadCall(const std::string& rpc,
                                      FewShotClient& client,
                                      const BenchRequests& requests) {
  if (rpc == "adapt") {
    return LoadCall([&client, &requests](int64_t) {
      return client.Adapt(requests.adapt).status();
    });
  }
  if (rpc == "predict") {
    return LoadCall([&client, &requests](int64_t) {
      return client.Predict(requests.predict_some).status();
    });
  }
  if (rpc == "stream_predict") {
    PredictStreamPoolOptions options;
    options.message_timeout =
        absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
    options.stream_lifetime =
        std::max(absl::Minutes(2), 6 * options.message_timeout);
    auto pool = std::make_shared<PredictStreamPool>(client, options);
    return LoadCall([pool, &requests](int64_t) {
      return pool->Call(requests.stream_some);
    });
  }
  if (rpc == "stream_ahead") {
    return LoadCall([&client, &requests](int64_t) -> absl::Status {
      absl::StatusOr<std::vector<v1::StreamPredictResponse>> answers =
          client.StreamPredict(requests.stream_ahead);
      if (!answers.ok()) return answers.status();
      for (const v1::StreamPredictResponse& answer : *answers) {
        if (answer.status_code() != 0) {
          return absl::Status(
              static_cast<absl::StatusCode>(answer.status_code()),
              answer.status_message());
        }
      }
      if (answers->size() != requests.stream_ahead.size()) {
        return absl::InternalError(
            absl::StrCat("stream_ahead: ", answers->size(), " answers to ",
                         requests.stream_ahead.size(), " messages"));
      }
      return absl::OkStatus();
    });
  }
  if (rpc == "classify") {
    return LoadCall([&client, &requests](int64_t) {
      return client.Classify(requests.classify).status();
    });
  }
  absl::StatusOr<v1::AdaptResponse> adapted = client.Adapt(requests.adapt);
  if (!adapted.ok()) return adapted.status();
  const std::string id = adapted->adaptation_id();
  return LoadCall([&client, &requests, id](int64_t index) {
    v1::AddExamplesRequest request;
    request.set_adaptation_id(id);
    *request.add_examples() =
        requests.adapt.support(index % requests.adapt.support_size());
    return client.AddExamples(request).status();
  });
}

// An open-loop Predict call: starts `predict_some` and reports its end.
AsyncLoadCall StartPredictCall(FewShotClient& client,
                               const BenchRequests& requests) {
  return [&client, &requests](int64_t, LoadDone done) {
    client.StartPredict(
        requests.predict_some,
        [done = std::move(done)](absl::StatusOr<v1::PredictResponse> answer) {
          done(answer.status());
        });
  };
}

// Times the four RPCs one call at a time and prints the original table;
// stops at the first error.
int RunOneAtATime(FewShotClient& client, const BenchRequests& requests,
                  int64_t adaptation_bytes) {
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const int count = absl::GetFlag(FLAGS_requests);
  LoadOptions options;
  options.requests = warmup + count;
  auto measure = [&](const auto& call) -> absl::StatusOr<LatencySummary> {
    absl::StatusOr<LoadResult> result =
        RunLoad(options, [&](int64_t) { return call(); });
    if (!result.ok()) return result.status();
    if (!result->first_error.ok()) return result->first_error;
    // One caller: latencies are in call order, warmup first.
    result->ok_latencies_ms.erase(result->ok_latencies_ms.begin(),
                                  result->ok_latencies_ms.begin() + warmup);
    return SummarizeLatencies(std::move(result->ok_latencies_ms));
  };
  struct Row {
    std::string name;
    absl::StatusOr<LatencySummary> latency;
  };
  std::vector<Row> rows;
  rows.push_back(
      {absl::StrFormat("Adapt (%d support)", requests.adapt.support_size()),
       measure([&] { return client.Adapt(requests.adapt).status(); })});
  v1::PredictRequest predict_one = requests.predict_all;
  predict_one.mutable_queries()->DeleteSubrange(1,
                                                predict_one.queries_size() - 1);
  rows.push_back({"Predict (1 query)", measure([&] {
                    return client.Predict(predict_one).status();
                  })});
  rows.push_back(
      {absl::StrFormat("Predict (%d queries)",
                       requests.predict_all.queries_size()),
       measure([&] { return client.Predict(requests.predict_all).status(); })});
  rows.push_back(
      {absl::StrFormat("Classify (%d + %d)", requests.classify.support_size(),
                       requests.classify.queries_size()),
       measure([&] { return client.Classify(requests.classify).status(); })});

  std::cout << absl::StrFormat("%-24s %9s %9s %9s %9s  (ms, %d calls each)\n",
                               "rpc", "p50", "p90", "p99", "mean", count);
  for (const Row& row : rows) {
    if (!row.latency.ok()) return Fail(row.latency.status());
    std::cout << absl::StrFormat("%-24s %9.2f %9.2f %9.2f %9.2f\n", row.name,
                                 row.latency->p50, row.latency->p90,
                                 row.latency->p99, row.latency->mean);
  }
  std::cout << absl::StrFormat("adaptation size: %d bytes (GetAdaptation)\n",
                               adaptation_bytes);
  return 0;
}

// Runs every --rpc at every --concurrency level and prints one row each.
int RunLoadSweep(FewShotClient& client, const BenchRequests& requests,
                 int64_t adaptation_bytes) {
  // Check the flags.
  absl::StatusOr<std::vector<std::string>> rpcs =
      ParseRpcs(absl::GetFlag(FLAGS_rpc));
  if (!rpcs.ok()) return Fail(rpcs.status());
  absl::StatusOr<std::vector<int>> levels =
      ParseLevels(absl::GetFlag(FLAGS_concurrency));
  if (!levels.ok()) return Fail(levels.status());
  absl::StatusOr<ReportFormat> format =
      ParseReportFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) return Fail(format.status());
  LoadOptions options;
  options.rate = absl::GetFlag(FLAGS_rate);
  const double duration_s = absl::GetFlag(FLAGS_duration_s);
  if (duration_s > 0) {
    options.duration = absl::Seconds(duration_s);
  } else {
    options.requests = absl::GetFlag(FLAGS_requests);
  }

  // Warm each RPC up, then measure it at each level.
  BenchReport report;
  report.support_size = requests.adapt.support_size();
  report.adaptation_bytes = adaptation_bytes;
  report.input = absl::GetFlag(FLAGS_input);
  for (const std::string& rpc : *rpcs) {
    absl::StatusOr<LoadCall> call = MakeLoadCall(rpc, client, requests);
    if (!call.ok()) return Fail(call.status());
    // A failing RPC shows its errors in the measured rows instead.
    for (int i = 0; i < absl::GetFlag(FLAGS_warmup); ++i) {
      (*call)(i).IgnoreError();
    }
    for (int level : *levels) {
      options.concurrency = level;
      absl::StatusOr<LoadResult> result =
          options.rate > 0 && rpc == "predict"
              ? RunOpenLoopLoad(options, StartPredictCall(client, requests))
              : RunLoad(options, *call);
      if (!result.ok()) return Fail(result.status());
      BenchRow row;
      row.rpc = rpc;
      row.concurrency = level;
      row.rate = options.rate;
      row.ok = result->ok;
      row.throughput = result->Throughput();
      row.errors = result->errors;
      row.images_per_call = ImagesPerCall(rpc, requests);
      row.elapsed_s = absl::ToDoubleSeconds(result->elapsed);
      row.latency_ms = SummarizeLatencies(std::move(result->ok_latencies_ms));
      row.start_lag_ms = SummarizeLatencies(std::move(result->start_lags_ms));
      row.sent_latency_ms =
          SummarizeLatencies(std::move(result->ok_sent_latencies_ms));
      report.rows.push_back(std::move(row));
    }
  }

  std::cout << FormatReport(report, *format);
  return 0;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Usage: fewshot-bench [flags] <support_dir> <query files or dirs>...");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);

  // As in the server: Debian's Abseil records a lock graph on every
  // contended lock unless told not to, which costs the load tool CPU that
  // it shares with the server it measures.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string input = absl::GetFlag(FLAGS_input);
  if (args.size() < 3 || absl::GetFlag(FLAGS_requests) < 1 ||
      absl::GetFlag(FLAGS_warmup) < 0 ||
      absl::GetFlag(FLAGS_stream_messages) < 1 ||
      (input != "png" && input != "tensor")) {
    std::cerr << "usage: fewshot-bench [--target=host:port] [--requests=N] "
                 "[--input=png|tensor] "
                 "[--rpc=adapt,predict,stream_predict,stream_ahead,"
                 "classify,add_examples|all --stream_messages=N "
                 "--concurrency=1,8,32 --duration_s=S --rate=R "
                 "--format=table|csv|json] <support_dir> <queries>...\n";
    return 2;
  }

  // Read the inputs and connect.
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(args[1]);
  if (!support.ok()) return Fail(support.status());
  absl::StatusOr<std::vector<QueryFile>> queries =
      ReadQueryFiles(std::vector<std::string>(args.begin() + 2, args.end()));
  if (!queries.ok()) return Fail(queries.status());
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(options);
  if (!client.ok()) return Fail(client.status());

  // With --input=tensor, send tensors of the model's input shape instead.
  if (input == "tensor") {
    absl::StatusOr<v1::GetModelInfoResponse> info = (*client)->GetModelInfo();
    if (!info.ok()) return Fail(info.status());
    std::mt19937 random(/*seed=*/1);
    for (v1::LabeledExample& example : *support) {
      SetRandomTensor(info->input(), random, *example.mutable_example());
    }
    for (QueryFile& query : *queries) {
      SetRandomTensor(info->input(), random, query.example);
    }
  }

  // Build the requests once, against one adaptation, and measure its size.
  BenchRequests requests;
  for (const v1::LabeledExample& example : *support) {
    *requests.adapt.add_support() = example;
  }
  *requests.classify.mutable_support() = requests.adapt.support();
  for (const QueryFile& query : *queries) {
    *requests.classify.add_queries() = query.example;
  }
  absl::StatusOr<v1::AdaptResponse> adapted = (*client)->Adapt(requests.adapt);
  if (!adapted.ok()) return Fail(adapted.status());
  absl::StatusOr<v1::GetAdaptationResponse> adaptation =
      (*client)->GetAdaptation(adapted->adaptation_id());
  if (!adaptation.ok()) return Fail(adaptation.status());
  requests.predict_all.set_adaptation_id(adapted->adaptation_id());
  *requests.predict_all.mutable_queries() = requests.classify.queries();
  requests.predict_some = requests.predict_all;
  const int kept = std::max(1, std::min(absl::GetFlag(FLAGS_queries),
                                        requests.predict_some.queries_size()));
  requests.predict_some.mutable_queries()->DeleteSubrange(
      kept, requests.predict_some.queries_size() - kept);
  requests.stream_some.set_adaptation_id(adapted->adaptation_id());
  *requests.stream_some.mutable_queries() = requests.predict_some.queries();
  for (int i = 0; i < absl::GetFlag(FLAGS_stream_messages); ++i) {
    requests.stream_ahead.push_back(requests.stream_some);
    requests.stream_ahead.back().set_sequence(i);
  }

  if (absl::GetFlag(FLAGS_rpc).empty()) {
    return RunOneAtATime(**client, requests, adaptation->size_bytes());
  }
  return RunLoadSweep(**client, requests, adaptation->size_bytes());
}

}  // namespace
}  // namespace fewshot::client

int main(int argc, char** argv) { return fewshot::client::Run(argc, argv); }
