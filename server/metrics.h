// The server's Prometheus metrics, registered once with help text: request
// latency and outcome per RPC, adaptation, example and query counts, the
// number and bytes of kept adaptations with evictions, expiries and
// rebuilds, the work queue depth, the images per encoder forward pass and
// the loaded model.
//
// Example:
//   ServerMetrics metrics("omniglot-conv4", "1.0.0");
//   metrics.RecordRequest(Rpc::kAdapt, absl::StatusCode::kOk, elapsed);
//   std::string page = metrics.Render();
#ifndef FEWSHOT_SERVER_METRICS_H_
#define FEWSHOT_SERVER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fewshot::server {

// The RPCs of fewshot.v1.FewShot, the values of the `rpc` label.
enum class Rpc {
  kGetModelInfo,
  kAdapt,
  kPredict,
  kClassify,
  kDeleteAdaptation,
  kAddExamples,
  kFeedback,
  kRemoveExamples,
  kRemoveClass,
  kGetAdaptation,
  kStreamPredict,
};
inline constexpr int kRpcCount = 11;

// The RPC's method name, e.g. "Adapt".
const char* RpcName(Rpc rpc);

// Thread-safe: prometheus-cpp metrics are atomic.
class ServerMetrics {
 public:
  ServerMetrics(const std::string& model_name,
                const std::string& model_version);

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Counts one finished call of `rpc` with its status code and latency.
  void RecordRequest(Rpc rpc, absl::StatusCode code, absl::Duration latency);

  void RecordAdaptationCreated();
  void RecordAdaptationEvicted();
  void RecordAdaptationExpired();
  // Counts a stored adaptation carried over to this server's model version
  // (same encoder weights) by rebuilding it from its embeddings.
  void RecordAdaptationRebuilt();
  // Counts labelled examples added by Adapt, AddExamples and Feedback.
  void RecordExamplesAdded(int64_t count);
  void RecordQueriesPredicted(int64_t count);
  // Counts queries answered as rejected (below the request's
  // min_confidence).
  void RecordQueriesRejected(int64_t count);
  void SetCachedAdaptations(int64_t count);
  // Approximate bytes the store holds in memory.
  void SetStoreBytes(int64_t bytes);
  void SetQueueDepth(int64_t depth);
  // A call entered or left a gRPC handler.
  void RecordCallStarted();
  void RecordCallFinished();
  // Observes the images and duration of one encoder forward pass.
  void RecordEncoderBatch(int64_t images, absl::Duration forward);

  // The metrics in the Prometheus text exposition format.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_total_;
  std::array<prometheus::Histogram*, kRpcCount> request_duration_{};
  prometheus::Counter& adaptations_created_;
  prometheus::Counter& adaptations_evicted_;
  prometheus::Counter& adaptations_expired_;
  prometheus::Counter& adaptations_rebuilt_;
  prometheus::Counter& examples_added_;
  prometheus::Counter& queries_predicted_;
  prometheus::Counter& queries_rejected_;
  prometheus::Gauge& cached_adaptations_;
  prometheus::Gauge& store_bytes_;
  prometheus::Gauge& queue_depth_;
  prometheus::Gauge& calls_in_flight_;
  prometheus::Histogram* batch_size_ = nullptr;
  prometheus::Histogram* forward_duration_ = nullptr;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_METRICS_H_
