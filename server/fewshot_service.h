// The fewshot.v1.FewShot gRPC service. Handlers are thin: validate the
// request, convert it to tensors on the calling thread, run the forward
// pass through the embedding batcher (which merges concurrent calls' images
// into one pass on the worker pool), build and score with the method on
// the calling thread (on the pool when building trains, as maml's does),
// and reply. Edits of kept adaptations (AddExamples, Feedback, Remove*)
// copy the state, change the copy incrementally and store it with a
// revision check. Every call's latency and status code are recorded in the
// metrics.
//
// Example:
//   absl::StatusOr<std::unique_ptr<FewShotService>> service =
//       FewShotService::Create(std::move(bundle), limits, batching, &store,
//                              &pool, &metrics);
//   builder.RegisterService(service->get());
#ifndef FEWSHOT_SERVER_FEWSHOT_SERVICE_H_
#define FEWSHOT_SERVER_FEWSHOT_SERVICE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/adapt/adaptation_method.h"
#include "core/bundle/model_bundle.h"
#include "core/data/image_decoder.h"
#include "core/model/encoder.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/adaptation_store.h"
#include "server/embedding_batcher.h"
#include "server/metrics.h"
#include "server/request_limits.h"
#include "server/request_validation.h"
#include "server/thread_pool.h"

namespace fewshot::server {

// Thread-safe: gRPC calls the handlers from many threads.
//
// NOTE: work queued on the pool refers to the service, so the service's
// Shutdown() and then the pool's (which drain them) must run before the
// service is destroyed.
// Predict and StreamPredict are served through gRPC's callback API: a
// handler returns once the queries are queued, and the encoder batch's
// worker scores them and answers, so no gRPC thread blocks per call or
// per open stream. The other methods are synchronous.
class FewShotService final
    : public v1::FewShot::WithCallbackMethod_Predict<
          v1::FewShot::WithCallbackMethod_StreamPredict<v1::FewShot::Service>> {
 public:
  // Takes the model from `bundle` and offers the methods this build knows
  // that the bundle lists, each set up from its head and temperature
  // (INVALID_ARGUMENT when a head does not fit). `store`, `pool` and
  // `metrics` are borrowed and
  // must outlive the service; `batching` sets up the encoder's batcher
  // (its on_batch is replaced by the metrics). Returns FAILED_PRECONDITION
  // when the bundle lists no method this build knows, INVALID_ARGUMENT for
  // bad batching options.
  static absl::StatusOr<std::unique_ptr<FewShotService>> Create(
      core::ModelBundle bundle, const RequestLimits& limits,
      EmbeddingBatcherOptions batching, AdaptationStore* store,
      ThreadPool* pool, ServerMetrics* metrics);

  FewShotService(const FewShotService&) = delete;
  FewShotService& operator=(const FewShotService&) = delete;

  // Runs the encoder work already queued and refuses more. Idempotent.
  void Shutdown();

  // \see fewshot/v1/fewshot_service.proto.
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const v1::GetModelInfoRequest* request,
                            v1::GetModelInfoResponse* response) override;
  grpc::Status Adapt(grpc::ServerContext* context,
                     const v1::AdaptRequest* request,
                     v1::AdaptResponse* response) override;
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;
  grpc::Status Classify(grpc::ServerContext* context,
                        const v1::ClassifyRequest* request,
                        v1::ClassifyResponse* response) override;
  grpc::Status DeleteAdaptation(
      grpc::ServerContext* context, const v1::DeleteAdaptationRequest* request,
      v1::DeleteAdaptationResponse* response) override;
  grpc::Status AddExamples(grpc::ServerContext* context,
                           const v1::AddExamplesRequest* request,
                           v1::AddExamplesResponse* response) override;
  grpc::Status Feedback(grpc::ServerContext* context,
                        const v1::FeedbackRequest* request,
                        v1::FeedbackResponse* response) override;
  grpc::Status RemoveExamples(grpc::ServerContext* context,
                              const v1::RemoveExamplesRequest* request,
                              v1::RemoveExamplesResponse* response) override;
  grpc::Status RemoveClass(grpc::ServerContext* context,
                           const v1::RemoveClassRequest* request,
                           v1::RemoveClassResponse* response) override;
  grpc::Status GetAdaptation(grpc::ServerContext* context,
                             const v1::GetAdaptationRequest* request,
                             v1::GetAdaptationResponse* response) override;
  // Works on up to limits.max_stream_messages_in_flight messages of the
  // stream at once and answers them in order; messages of any streams and
  // Predict calls share encoder batches.
  grpc::ServerBidiReactor<v1::StreamPredictRequest, v1::StreamPredictResponse>*
  StreamPredict(grpc::CallbackServerContext* context) override;

 private:
  // Serves one StreamPredict call (server/stream_predict_reactor.h).
  class StreamPredictReactor;

  using MethodMap =
      absl::flat_hash_map<std::string, std::unique_ptr<core::AdaptationMethod>>;

  FewShotService(core::BundleMetadata metadata, std::string encoder_fingerprint,
                 std::unique_ptr<core::Encoder> encoder, MethodMap methods,
                 std::vector<std::string> method_names,
                 const RequestLimits& limits, AdaptationStore* store,
                 ThreadPool* pool, ServerMetrics* metrics);

  // A Predict call ready for the encoder: its adaptation, method and
  // decoded queries [n, C, H, W].
  struct PredictWork {
    std::shared_ptr<const core::AdaptationState> state;
    const core::AdaptationMethod* method = nullptr;
    torch::Tensor inputs;
  };

  // Validates `request`, finds its adaptation and decodes its queries;
  // RESOURCE_EXHAUSTED while the encoder queue is full.
  absl::StatusOr<PredictWork> PreparePredict(const v1::PredictRequest& request);

  // Scores the queries' `embeddings` and fills `response`.
  absl::Status AnswerPredict(const v1::PredictRequest& request,
                             const PredictWork& work,
                             const torch::Tensor& embeddings,
                             v1::PredictResponse* response);

  // Queues `work`'s queries for the encoder within `context`'s deadline
  // and cancellation, without blocking; the worker that runs their batch
  // answers `request` into `response` and calls `done` with the outcome
  // (this thread calls it when the queue refuses them at once). `request`,
  // `response` and `context` must stay alive until `done` has run.
  void EmbedAndAnswerPredict(PredictWork work,
                             const v1::PredictRequest& request,
                             grpc::CallbackServerContext* context,
                             v1::PredictResponse* response,
                             std::function<void(absl::Status)> done);

  // The handlers' bodies, returning absl::Status.
  absl::Status DoAdapt(const grpc::ServerContext& context,
                       const v1::AdaptRequest& request,
                       v1::AdaptResponse* response);
  absl::Status DoClassify(const grpc::ServerContext& context,
                          const v1::ClassifyRequest& request,
                          v1::ClassifyResponse* response);
  absl::Status DoDeleteAdaptation(const v1::DeleteAdaptationRequest& request);
  absl::Status DoAddExamples(const grpc::ServerContext& context,
                             const v1::AddExamplesRequest& request,
                             v1::AddExamplesResponse* response);
  absl::Status DoFeedback(const grpc::ServerContext& context,
                          const v1::FeedbackRequest& request,
                          v1::FeedbackResponse* response);
  absl::Status DoRemoveExamples(const v1::RemoveExamplesRequest& request,
                                v1::RemoveExamplesResponse* response);
  absl::Status DoRemoveClass(const v1::RemoveClassRequest& request,
                             v1::RemoveClassResponse* response);
  absl::Status DoGetAdaptation(const v1::GetAdaptationRequest& request,
                               v1::GetAdaptationResponse* response);

  // The state kept under `id`, usable with this server's model: a state
  // of another model version with the same encoder weights is rebuilt
  // from its embeddings and stored again; one of another encoder is
  // FAILED_PRECONDITION (its embeddings must never be mixed with ours).
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> LoadState(
      const std::string& id);

  // The method that built `state`, or FAILED_PRECONDITION.
  absl::StatusOr<const core::AdaptationMethod*> MethodOf(
      const std::string& id, const core::AdaptationState& state) const;

  // Applies `edit` to a copy of the state kept under `id` and stores it,
  // retrying when another call changed the state meanwhile. Returns the
  // stored result. No store lock is held while `edit` runs.
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> EditState(
      const std::string& id,
      const std::function<absl::Status(const core::AdaptationMethod&,
                                       core::AdaptationState*)>& edit);

  // Embeds model inputs [n, C, H, W] through the batcher, within the
  // call's deadline and cancellation.
  absl::StatusOr<torch::Tensor> EmbedForCall(const grpc::ServerContext& context,
                                             torch::Tensor inputs);

  // Runs `work`, which builds or scores with `method`: on this thread when
  // that is a few tensor operations (like Predict's scoring), on the pool
  // within the call's deadline and cancellation when the method trains
  // (AdaptationMethod::BuildTrains), so that request threads never train.
  absl::Status RunMethodWork(const grpc::ServerContext& context,
                             const core::AdaptationMethod& method,
                             absl::AnyInvocable<absl::Status() &&> work);

  // Sets the store's size gauges.
  void ReportStoreSize();

  // The method called `name`; empty means the default.
  // REQUIRES: `name` passed RequestValidator.
  const core::AdaptationMethod& MethodNamed(const std::string& name) const;

  // Counts a call as in flight and returns its start time; every handler
  // calls it first, and Finish last.
  absl::Time Begin();

  // Records the call's metrics and converts its status for gRPC.
  grpc::Status Finish(Rpc rpc, absl::Time start, const absl::Status& status);

  // Constant after construction.
  const core::BundleMetadata metadata_;
  const std::string encoder_fingerprint_;
  const std::unique_ptr<core::Encoder> encoder_;
  // Set once by Create; runs encoder_, so it is declared after it.
  std::unique_ptr<EmbeddingBatcher> batcher_;
  const MethodMap methods_;
  const std::string default_method_;
  const RequestValidator validator_;
  const int max_classes_;
  const int max_stream_messages_in_flight_;
  const core::ImageLimits image_limits_;
  const v1::GetModelInfoResponse model_info_;
  AdaptationStore* const store_;
  ThreadPool* const pool_;
  ServerMetrics* const metrics_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_FEWSHOT_SERVICE_H_
