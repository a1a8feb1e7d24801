// Registers and updates the metrics declared in metrics.h.
#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <utility>

namespace fewshot::server {
namespace {

// Request latency buckets, in seconds: 0.5 ms to 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  return *kBuckets;
}

// Encoder forward-pass buckets, in seconds: 0.1 ms to 1 s.
const prometheus::Histogram::BucketBoundaries& ForwardBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
  return *kBuckets;
}

// Images per encoder forward pass: 1 to 512.
const prometheus::Histogram::BucketBoundaries& BatchSizeBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{1,  2,  4,   8,   16,
                                                  32, 64, 128, 256, 512};
  return *kBuckets;
}

// Builds a label-less counter family and returns its one counter.
prometheus::Counter& SingleCounter(prometheus::Registry& registry,
                                   const std::string& name,
                                   const std::string& help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Register(registry)
      .Add({});
}

// Builds a label-less gauge family and returns its one gauge.
prometheus::Gauge& SingleGauge(prometheus::Registry& registry,
                               const std::string& name,
                               const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add(
      {});
}

}  // namespace

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kGetModelInfo:
      return "GetModelInfo";
    case Rpc::kAdapt:
      return "Adapt";
    case Rpc::kPredict:
      return "Predict";
    case Rpc::kClassify:
      return "Classify";
    case Rpc::kDeleteAdaptation:
      return "DeleteAdaptation";
    case Rpc::kAddExamples:
      return "AddExamples";
    case Rpc::kFeedback:
      return "Feedback";
    case Rpc::kRemoveExamples:
      return "RemoveExamples";
    case Rpc::kRemoveClass:
      return "RemoveClass";
    case Rpc::kGetAdaptation:
      return "GetAdaptation";
    case Rpc::kStreamPredict:
      return "StreamPredict";
  }
  return "Unknown";
}

ServerMetrics::ServerMetrics(const std::string& model_name,
                             const std::string& model_version)
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_total_(prometheus::BuildCounter()
                          .Name("fewshot_requests_total")
                          .Help("Finished gRPC calls by method and status "
                                "code.")
                          .Register(*registry_)),
      adaptations_created_(
          SingleCounter(*registry_, "fewshot_adaptations_created_total",
                        "Adaptations built by Adapt and kept in the store.")),
      adaptations_evicted_(
          SingleCounter(*registry_, "fewshot_adaptations_evicted_total",
                        "Adaptations dropped from the store's memory to "
                        "stay within its entry or byte budget.")),
      adaptations_expired_(
          SingleCounter(*registry_, "fewshot_adaptations_expired_total",
                        "Adaptations dropped from the store because their "
                        "time to live passed.")),
      adaptations_rebuilt_(SingleCounter(
          *registry_, "fewshot_adaptations_rebuilt_total",
          "Stored adaptations rebuilt for this server's model version from "
          "their embeddings (same encoder weights).")),
      examples_added_(
          SingleCounter(*registry_, "fewshot_examples_added_total",
                        "Labelled examples added by AddExamples and "
                        "Feedback.")),
      queries_predicted_(
          SingleCounter(*registry_, "fewshot_queries_predicted_total",
                        "Queries classified by Predict and Classify.")),
      queries_rejected_(
          SingleCounter(*registry_, "fewshot_queries_rejected_total",
                        "Queries whose top probability was below the request's "
                        "min_confidence.")),
      cached_adaptations_(
          SingleGauge(*registry_, "fewshot_cached_adaptations",
                      "Adaptations currently kept in the store.")),
      store_bytes_(SingleGauge(*registry_, "fewshot_store_bytes",
                               "Approximate bytes of adaptations the store "
                               "holds in memory.")),
      queue_depth_(SingleGauge(*registry_, "fewshot_queue_depth",
                               "Requests waiting for a worker thread.")),
      calls_in_flight_(SingleGauge(*registry_, "fewshot_calls_in_flight",
                                   "gRPC calls inside their handler.")) {
  // One latency histogram per RPC, created up front so that every series
  // is present from the first scrape.
  auto& durations = prometheus::BuildHistogram()
                        .Name("fewshot_request_duration_seconds")
                        .Help(
                            "Time from receiving a gRPC call to its "
                            "reply, in seconds, by method.")
                        .Register(*registry_);
  for (int i = 0; i < kRpcCount; ++i) {
    request_duration_[i] = &durations.Add(
        {{"rpc", RpcName(static_cast<Rpc>(i))}}, LatencyBuckets());
  }

  batch_size_ = &prometheus::BuildHistogram()
                     .Name("fewshot_batch_size")
                     .Help(
                         "Images per encoder forward pass, after the "
                         "batcher merged concurrent calls.")
                     .Register(*registry_)
                     .Add({}, BatchSizeBuckets());
  forward_duration_ = &prometheus::BuildHistogram()
                           .Name("fewshot_encoder_forward_seconds")
                           .Help(
                               "Time of one encoder forward pass over a "
                               "merged batch, in seconds.")
                           .Register(*registry_)
                           .Add({}, ForwardBuckets());

  // The model being served, as labels of a constant 1.
  prometheus::BuildGauge()
      .Name("fewshot_model_info")
      .Help("The loaded model bundle; always 1.")
      .Register(*registry_)
      .Add({{"model", model_name}, {"version", model_version}})
      .Set(1);
}

void ServerMetrics::RecordRequest(Rpc rpc, absl::StatusCode code,
                                  absl::Duration latency) {
  request_duration_[static_cast<int>(rpc)]->Observe(
      absl::ToDoubleSeconds(latency));
  requests_total_
      .Add({{"rpc", RpcName(rpc)}, {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

void ServerMetrics::RecordAdaptationCreated() {
  adaptations_created_.Increment();
}

void ServerMetrics::RecordAdaptationEvicted() {
  adaptations_evicted_.Increment();
}

void ServerMetrics::RecordAdaptationExpired() {
  adaptations_expired_.Increment();
}

void ServerMetrics::RecordAdaptationRebuilt() {
  adaptations_rebuilt_.Increment();
}

void ServerMetrics::RecordExamplesAdded(int64_t count) {
  examples_added_.Increment(static_cast<double>(count));
}

void ServerMetrics::RecordQueriesPredicted(int64_t count) {
  queries_predicted_.Increment(static_cast<double>(count));
}

void ServerMetrics::RecordQueriesRejected(int64_t count) {
  queries_rejected_.Increment(static_cast<double>(count));
}

void ServerMetrics::SetCachedAdaptations(int64_t count) {
  cached_adaptations_.Set(static_cast<double>(count));
}

void ServerMetrics::SetStoreBytes(int64_t bytes) {
  store_bytes_.Set(static_cast<double>(bytes));
}

void ServerMetrics::SetQueueDepth(int64_t depth) {
  queue_depth_.Set(static_cast<double>(depth));
}

void ServerMetrics::RecordCallStarted() { calls_in_flight_.Increment(); }

void ServerMetrics::RecordCallFinished() { calls_in_flight_.Decrement(); }

void ServerMetrics::RecordEncoderBatch(int64_t images, absl::Duration forward) {
  batch_size_->Observe(static_cast<double>(images));
  forward_duration_->Observe(absl::ToDoubleSeconds(forward));
}

std::string ServerMetrics::Render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace fewshot::server
