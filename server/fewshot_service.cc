// Implements the fewshot.v1.FewShot handlers and the model work they queue.
#include "server/fewshot_service.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/adapt/adaptation_edits.h"
#include "core/adapt/class_prediction.h"
#include "core/adapt/maml.h"
#include "core/adapt/method_registry.h"
#include "core/bundle/encoder_fingerprint.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"
#include "server/call_runner.h"
#include "server/grpc_status.h"
#include "server/proto_conversion.h"
#include "server/stream_predict_reactor.h"

namespace fewshot::server {
namespace {

// Tries of an edit that keeps losing to concurrent edits of the same state.
constexpr int kMaxEditAttempts = 8;

// The current time in Unix milliseconds.
int64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

// The request's maml settings.
core::MamlOptions ToMamlOptions(const v1::MamlOptions& options) {
  return {.steps = options.steps(), .step_size = options.step_size()};
}

// Has `method` build into `state` the classes `labels` from support
// `embeddings` [n, D], with `maml` when the method is maml. Runs on a
// worker.
absl::Status BuildState(const core::AdaptationMethod& method,
                        const std::string& model_version,
                        torch::Tensor embeddings, IndexedLabels labels,
                        const core::MamlOptions& maml,
                        core::AdaptationState* state) {
  if (method.name() == core::MamlMethod::kName) {
    FEWSHOT_RETURN_IF_ERROR(core::ValidateMamlOptions(maml));
    core::SetMamlOptions(maml, state);
  }
  state->method = method.name();
  state->model_version = model_version;
  state->labels = std::move(labels.labels);
  state->support_embeddings = std::move(embeddings);
  state->support_labels = std::move(labels.class_indices);
  return method.Build(state);
}

// Scores query `embeddings` [q, D] against `state` into `predictions`.
absl::Status ScoreQueries(const core::AdaptationMethod& method,
                          const core::AdaptationState& state,
                          const torch::Tensor& embeddings,
                          std::vector<core::ClassPrediction>* predictions) {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor scores,
                           method.Score(state, embeddings));
  FEWSHOT_ASSIGN_OR_RETURN(*predictions, core::CallTorch("predicting", [&] {
    return core::ToClassPredictions(scores, method.temperatures().For(state));
  }));
  return absl::OkStatus();
}

// How many of `predictions` were rejected.
int64_t CountRejected(
    const google::protobuf::RepeatedPtrField<v1::Prediction>& predictions) {
  return std::count_if(
      predictions.begin(), predictions.end(),
      [](const v1::Prediction& prediction) { return prediction.rejected(); });
}

// The methods this build knows that `bundle_methods` lists, default first.
std::vector<std::string> ServableMethodNames(
    const std::vector<std::string>& bundle_methods) {
  std::vector<std::string> names;
  for (const std::string& known : core::KnownMethodNames()) {
    if (std::find(bundle_methods.begin(), bundle_methods.end(), known) !=
        bundle_methods.end()) {
      names.push_back(known);
    }
  }
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FewShotService>> FewShotService::Create(
    core::ModelBundle bundle, const RequestLimits& limits,
    EmbeddingBatcherOptions batching, AdaptationStore* store, ThreadPool* pool,
    ServerMetrics* metrics) {
  // Pick the methods to offer.
  std::vector<std::string> method_names =
      ServableMethodNames(bundle.metadata.MethodNames());
  if (method_names.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model bundle methods are [",
                     absl::StrJoin(bundle.metadata.MethodNames(), ", "),
                     "]; expected at least one of [",
                     absl::StrJoin(core::KnownMethodNames(), ", "), "]"));
  }
  MethodMap methods;
  for (const std::string& name : method_names) {
    FEWSHOT_ASSIGN_OR_RETURN(methods[name],
                             core::CreateMethodFromBundle(name, bundle));
  }

  // Fingerprint the weights, then wrap the network for inference.
  std::string fingerprint = core::EncoderFingerprint(*bundle.encoder);
  auto encoder = std::make_unique<core::Encoder>(std::move(bundle.encoder),
                                                 bundle.metadata.preprocessing);
  std::unique_ptr<FewShotService> service(new FewShotService(
      std::move(bundle.metadata), std::move(fingerprint), std::move(encoder),
      std::move(methods), std::move(method_names), limits, store, pool,
      metrics));

  // Put the batcher in front of the encoder.
  const core::Encoder* network = service->encoder_.get();
  batching.on_batch = [metrics](int64_t images, absl::Duration forward) {
    metrics->RecordEncoderBatch(images, forward);
  };
  FEWSHOT_ASSIGN_OR_RETURN(service->batcher_,
                           EmbeddingBatcher::Create(
                               std::move(batching),
                               [network](const torch::Tensor& batch) {
                                 return network->Embed(batch);
                               },
                               pool));
  return service;
}

void FewShotService::Shutdown() { batcher_->Shutdown(); }

FewShotService::FewShotService(
    core::BundleMetadata metadata, std::string encoder_fingerprint,
    std::unique_ptr<core::Encoder> encoder, MethodMap methods,
    std::vector<std::string> method_names, const RequestLimits& limits,
    AdaptationStore* store, ThreadPool* pool, ServerMetrics* metrics)
    : metadata_(std::move(metadata)),
      encoder_fingerprint_(std::move(encoder_fingerprint)),
      encoder_(std::move(encoder)),
      methods_(std::move(methods)),
      default_method_(method_names.front()),
      validator_(limits, metadata_.preprocessing, method_names),
      max_classes_(limits.max_classes),
      max_stream_messages_in_flight_(limits.max_stream_messages_in_flight),
      image_limits_(ToImageLimits(limits)),
      model_info_(ToModelInfo(metadata_, method_names, limits)),
      store_(store),
      pool_(pool),
      metrics_(metrics) {}

grpc::Status FewShotService::GetModelInfo(
    grpc::ServerContext* context, const v1::GetModelInfoRequest* request,
    v1::GetModelInfoResponse* response) {
  const absl::Time start = Begin();
  *response = model_info_;
  return Finish(Rpc::kGetModelInfo, start, absl::OkStatus());
}

grpc::Status FewShotService::Adapt(grpc::ServerContext* context,
                                   const v1::AdaptRequest* request,
                                   v1::AdaptResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kAdapt, start, DoAdapt(*context, *request, response));
}

grpc::ServerUnaryReactor* FewShotService::Predict(
    grpc::CallbackServerContext* context, const v1::PredictRequest* request,
    v1::PredictResponse* response) {
  const absl::Time start = Begin();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();

  // Check and decode here; a refusal answers at once.
  absl::StatusOr<PredictWork> work = PreparePredict(*request);
  if (!work.ok()) {
    reactor->Finish(Finish(Rpc::kPredict, start, work.status()));
    return reactor;
  }

  // The batch's worker scores and answers; no thread waits for it. The
  // context, request and response live until Finish.
  EmbedAndAnswerPredict(*std::move(work), *request, context, response,
                        [this, reactor, start](absl::Status status) {
                          reactor->Finish(Finish(Rpc::kPredict, start, status));
                        });
  return reactor;
}

grpc::Status FewShotService::Classify(grpc::ServerContext* context,
                                      const v1::ClassifyRequest* request,
                                      v1::ClassifyResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kClassify, start,
                DoClassify(*context, *request, response));
}

grpc::Status FewShotService::DeleteAdaptation(
    grpc::ServerContext* context, const v1::DeleteAdaptationRequest* request,
    v1::DeleteAdaptationResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kDeleteAdaptation, start, DoDeleteAdaptation(*request));
}

grpc::Status FewShotService::AddExamples(grpc::ServerContext* context,
                                         const v1::AddExamplesRequest* request,
                                         v1::AddExamplesResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kAddExamples, start,
                DoAddExamples(*context, *request, response));
}

grpc::Status FewShotService::Feedback(grpc::ServerContext* context,
                                      const v1::FeedbackRequest* request,
                                      v1::FeedbackResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kFeedback, start,
                DoFeedback(*context, *request, response));
}

grpc::Status FewShotService::RemoveExamples(
    grpc::ServerContext* context, const v1::RemoveExamplesRequest* request,
    v1::RemoveExamplesResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kRemoveExamples, start,
                DoRemoveExamples(*request, response));
}

grpc::Status FewShotService::RemoveClass(grpc::ServerContext* context,
                                         const v1::RemoveClassRequest* request,
                                         v1::RemoveClassResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kRemoveClass, start, DoRemoveClass(*request, response));
}

grpc::Status FewShotService::GetAdaptation(
    grpc::ServerContext* context, const v1::GetAdaptationRequest* request,
    v1::GetAdaptationResponse* response) {
  const absl::Time start = Begin();
  return Finish(Rpc::kGetAdaptation, start,
                DoGetAdaptation(*request, response));
}

grpc::ServerBidiReactor<v1::StreamPredictRequest, v1::StreamPredictResponse>*
FewShotService::StreamPredict(grpc::CallbackServerContext* context) {
  return new StreamPredictReactor(this, context);
}

absl::Status FewShotService::DoAdapt(const grpc::ServerContext& context,
                                     const v1::AdaptRequest& request,
                                     v1::AdaptResponse* response) {
  // Validate.
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateAdapt(request));
  const core::AdaptationMethod& method = MethodNamed(request.method());

  // Refuse while the encoder queue is full, before decoding; then decode
  // and preprocess on this thread.
  FEWSHOT_RETURN_IF_ERROR(batcher_->CheckRoom());
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor inputs,
      SupportToInputs(request.support(), metadata_.preprocessing,
                      image_limits_));
  IndexedLabels labels = IndexSupportLabels(request.support());

  // Embed through the batcher, then build the state.
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor embeddings,
                           EmbedForCall(context, std::move(inputs)));
  auto state = std::make_shared<core::AdaptationState>();
  FEWSHOT_RETURN_IF_ERROR(RunMethodWork(
      context, method,
      [this, &method, embeddings = std::move(embeddings),
       labels = std::move(labels), maml = ToMamlOptions(request.maml()),
       state]() mutable {
        return BuildState(method, metadata_.version, std::move(embeddings),
                          std::move(labels), maml, state.get());
      }));
  state->encoder_fingerprint = encoder_fingerprint_;
  core::StampNewState(NowUnixMs(), state.get());

  // Keep it; no model runs under the store's lock.
  FEWSHOT_ASSIGN_OR_RETURN(std::string id, store_->Put(state));
  metrics_->RecordAdaptationCreated();
  ReportStoreSize();

  // Reply.
  response->set_adaptation_id(id);
  *response->mutable_classes() = ToClassSummaries(*state);
  response->set_method(method.name());
  response->set_model_version(metadata_.version);
  *response->mutable_example_ids() = ToProtoExampleIds(state->example_ids);
  return absl::OkStatus();
}

absl::StatusOr<FewShotService::PredictWork> FewShotService::PreparePredict(
    const v1::PredictRequest& request) {
  // Validate, and find the adaptation.
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidatePredict(request));
  PredictWork work;
  FEWSHOT_ASSIGN_OR_RETURN(work.state, LoadState(request.adaptation_id()));
  FEWSHOT_ASSIGN_OR_RETURN(work.method,
                           MethodOf(request.adaptation_id(), *work.state));

  // Refuse while the encoder queue is full, before decoding; then decode
  // and preprocess on this thread.
  FEWSHOT_RETURN_IF_ERROR(batcher_->CheckRoom());
  FEWSHOT_ASSIGN_OR_RETURN(
      work.inputs, QueriesToInputs(request.queries(), metadata_.preprocessing,
                                   image_limits_));
  return work;
}

absl::Status FewShotService::AnswerPredict(const v1::PredictRequest& request,
                                           const PredictWork& work,
                                           const torch::Tensor& embeddings,
                                           v1::PredictResponse* response) {
  // Score: cheap next to the encoder.
  std::vector<core::ClassPrediction> predictions;
  FEWSHOT_RETURN_IF_ERROR(
      ScoreQueries(*work.method, *work.state, embeddings, &predictions));

  // Reply.
  for (const core::ClassPrediction& prediction : predictions) {
    *response->add_predictions() = ToProtoPrediction(
        prediction, request.min_confidence(), work.state->labels);
  }
  response->set_model_version(metadata_.version);
  metrics_->RecordQueriesPredicted(response->predictions_size());
  metrics_->RecordQueriesRejected(CountRejected(response->predictions()));
  return absl::OkStatus();
}

void FewShotService::EmbedAndAnswerPredict(
    PredictWork work, const v1::PredictRequest& request,
    grpc::CallbackServerContext* context, v1::PredictResponse* response,
    std::function<void(absl::Status)> done) {
  torch::Tensor inputs = std::move(work.inputs);
  batcher_->EmbedAsync(
      std::move(inputs), CallDeadline(*context),
      [context] { return context->IsCancelled(); },
      [this, request = &request, response, work = std::move(work),
       done = std::move(done)](absl::StatusOr<torch::Tensor> embeddings) {
        absl::Status status = embeddings.status();
        if (status.ok()) {
          status = AnswerPredict(*request, work, *embeddings, response);
        }
        done(std::move(status));
      });
}

absl::Status FewShotService::DoClassify(const grpc::ServerContext& context,
                                        const v1::ClassifyRequest& request,
                                        v1::ClassifyResponse* response) {
  // Validate.
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateClassify(request));
  const core::AdaptationMethod& method = MethodNamed(request.method());

  // Refuse while the encoder queue is full, before decoding; then decode
  // and preprocess on this thread.
  FEWSHOT_RETURN_IF_ERROR(batcher_->CheckRoom());
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor support,
      SupportToInputs(request.support(), metadata_.preprocessing,
                      image_limits_));
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor queries,
      QueriesToInputs(request.queries(), metadata_.preprocessing,
                      image_limits_));
  IndexedLabels labels = IndexSupportLabels(request.support());

  // One forward pass over support and queries through the batcher, then
  // build and score. Nothing is kept.
  const int64_t support_count = support.size(0);
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor batch,
                           core::CallTorch("batching", [&] {
                             return torch::cat({support, queries}, /*dim=*/0);
                           }));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor embeddings,
                           EmbedForCall(context, std::move(batch)));
  auto state = std::make_shared<core::AdaptationState>();
  auto predictions = std::make_shared<std::vector<core::ClassPrediction>>();
  FEWSHOT_RETURN_IF_ERROR(RunMethodWork(
      context, method,
      [this, &method, support_count, embeddings = std::move(embeddings),
       labels = std::move(labels), maml = ToMamlOptions(request.maml()), state,
       predictions]() mutable -> absl::Status {
        FEWSHOT_RETURN_IF_ERROR(BuildState(
            method, metadata_.version,
            embeddings.slice(/*dim=*/0, /*start=*/0, /*end=*/support_count),
            std::move(labels), maml, state.get()));
        return ScoreQueries(
            method, *state,
            embeddings.slice(/*dim=*/0, /*start=*/support_count),
            predictions.get());
      }));

  // Reply.
  for (const core::ClassPrediction& prediction : *predictions) {
    *response->add_predictions() =
        ToProtoPrediction(prediction, request.min_confidence(), state->labels);
  }
  *response->mutable_classes() = ToClassSummaries(*state);
  response->set_method(method.name());
  response->set_model_version(metadata_.version);
  metrics_->RecordQueriesPredicted(response->predictions_size());
  metrics_->RecordQueriesRejected(CountRejected(response->predictions()));
  return absl::OkStatus();
}

absl::Status FewShotService::DoDeleteAdaptation(
    const v1::DeleteAdaptationRequest& request) {
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateDeleteAdaptation(request));
  FEWSHOT_RETURN_IF_ERROR(store_->Delete(request.adaptation_id()));
  ReportStoreSize();
  return absl::OkStatus();
}

absl::Status FewShotService::DoAddExamples(
    const grpc::ServerContext& context, const v1::AddExamplesRequest& request,
    v1::AddExamplesResponse* response) {
  // Validate, and check the adaptation exists before any model work.
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateAddExamples(request));
  FEWSHOT_RETURN_IF_ERROR(LoadState(request.adaptation_id()).status());

  // Refuse while the encoder queue is full; else decode on this thread and
  // embed on a worker.
  FEWSHOT_RETURN_IF_ERROR(batcher_->CheckRoom());
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor inputs,
      SupportToInputs(request.examples(), metadata_.preprocessing,
                      image_limits_));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor embeddings,
                           EmbedForCall(context, std::move(inputs)));

  // Add them to the kept state, incrementally.
  const std::vector<std::string> labels = ExampleLabels(request.examples());
  std::vector<int64_t> ids;
  FEWSHOT_ASSIGN_OR_RETURN(
      std::shared_ptr<const core::AdaptationState> state,
      EditState(request.adaptation_id(),
                [&](const core::AdaptationMethod& method,
                    core::AdaptationState* edited) -> absl::Status {
                  FEWSHOT_ASSIGN_OR_RETURN(
                      ids,
                      core::AddExamples(method, embeddings, labels,
                                        max_classes_, NowUnixMs(), edited));
                  return absl::OkStatus();
                }));
  metrics_->RecordExamplesAdded(static_cast<int64_t>(ids.size()));

  // Reply.
  *response->mutable_classes() = ToClassSummaries(*state);
  *response->mutable_example_ids() = ToProtoExampleIds(ids);
  response->set_model_version(metadata_.version);
  return absl::OkStatus();
}

absl::Status FewShotService::DoFeedback(const grpc::ServerContext& context,
                                        const v1::FeedbackRequest& request,
                                        v1::FeedbackResponse* response) {
  // Validate, and check the adaptation exists before any model work.
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateFeedback(request));
  FEWSHOT_RETURN_IF_ERROR(LoadState(request.adaptation_id()).status());

  // Refuse while the encoder queue is full; else decode on this thread and
  // embed on a worker.
  FEWSHOT_RETURN_IF_ERROR(batcher_->CheckRoom());
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor input,
      ExampleToInput(request.query(), metadata_.preprocessing, image_limits_,
                     "query"));
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor embedding,
                           EmbedForCall(context, input.unsqueeze(0)));

  // Predict against the state the edit starts from, add the correction,
  // and predict again against the result.
  std::string before;
  std::vector<int64_t> ids;
  FEWSHOT_ASSIGN_OR_RETURN(
      std::shared_ptr<const core::AdaptationState> state,
      EditState(request.adaptation_id(),
                [&](const core::AdaptationMethod& method,
                    core::AdaptationState* edited) -> absl::Status {
                  std::vector<core::ClassPrediction> predictions;
                  FEWSHOT_RETURN_IF_ERROR(
                      ScoreQueries(method, *edited, embedding, &predictions));
                  before = edited->labels[predictions[0].best_class];
                  FEWSHOT_ASSIGN_OR_RETURN(
                      ids, core::AddExamples(
                               method, embedding, {request.correct_label()},
                               max_classes_, NowUnixMs(), edited));
                  return absl::OkStatus();
                }));
  FEWSHOT_ASSIGN_OR_RETURN(const core::AdaptationMethod* method,
                           MethodOf(request.adaptation_id(), *state));
  std::vector<core::ClassPrediction> after;
  FEWSHOT_RETURN_IF_ERROR(ScoreQueries(*method, *state, embedding, &after));
  metrics_->RecordExamplesAdded(1);

  // Reply.
  response->set_predicted_label_before(before);
  response->set_predicted_label_after(state->labels[after[0].best_class]);
  response->set_prediction_changed(response->predicted_label_before() !=
                                   response->predicted_label_after());
  response->set_example_id(absl::StrCat(ids.front()));
  *response->mutable_classes() = ToClassSummaries(*state);
  return absl::OkStatus();
}

absl::Status FewShotService::DoRemoveExamples(
    const v1::RemoveExamplesRequest& request,
    v1::RemoveExamplesResponse* response) {
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateRemoveExamples(request));
  const std::vector<int64_t> ids = ParseExampleIds(request.example_ids());
  FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<const core::AdaptationState> state,
                           EditState(request.adaptation_id(),
                                     [&](const core::AdaptationMethod& method,
                                         core::AdaptationState* edited) {
                                       return core::RemoveExamples(
                                           method, ids, NowUnixMs(), edited);
                                     }));
  *response->mutable_classes() = ToClassSummaries(*state);
  return absl::OkStatus();
}

absl::Status FewShotService::DoRemoveClass(
    const v1::RemoveClassRequest& request, v1::RemoveClassResponse* response) {
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateRemoveClass(request));
  FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<const core::AdaptationState> state,
                           EditState(request.adaptation_id(),
                                     [&](const core::AdaptationMethod& method,
                                         core::AdaptationState* edited) {
                                       return core::RemoveClass(
                                           method, request.label(), NowUnixMs(),
                                           edited);
                                     }));
  *response->mutable_classes() = ToClassSummaries(*state);
  return absl::OkStatus();
}

absl::Status FewShotService::DoGetAdaptation(
    const v1::GetAdaptationRequest& request,
    v1::GetAdaptationResponse* response) {
  FEWSHOT_RETURN_IF_ERROR(validator_.ValidateGetAdaptation(request));
  FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<const core::AdaptationState> state,
                           LoadState(request.adaptation_id()));
  *response = ToAdaptationInfo(request.adaptation_id(), *state);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
FewShotService::LoadState(const std::string& id) {
  FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<const core::AdaptationState> state,
                           store_->Get(id));
  if (state->model_version == metadata_.version) return state;

  // Another model version: carry it over only if the encoder is the same.
  if (state->encoder_fingerprint.empty() ||
      state->encoder_fingerprint != encoder_fingerprint_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "adaptation_id \"", id, "\" was built with model version ",
        state->model_version, "; the server runs ", metadata_.version,
        " with a different encoder, so adapt again"));
  }
  FEWSHOT_ASSIGN_OR_RETURN(const core::AdaptationMethod* method,
                           MethodOf(id, *state));
  auto rebuilt = std::make_shared<core::AdaptationState>(*state);
  rebuilt->model_version = metadata_.version;
  FEWSHOT_RETURN_IF_ERROR(method->Build(rebuilt.get()));
  ++rebuilt->revision;
  const absl::Status stored = store_->Update(id, rebuilt, state->revision);
  if (stored.ok()) {
    metrics_->RecordAdaptationRebuilt();
    FEWSHOT_LOG(INFO) << "rebuilt adaptation " << id << " from model version "
                      << state->model_version << " for " << metadata_.version;
    return rebuilt;
  }
  // Someone else changed it first; their result is as good.
  if (stored.code() == absl::StatusCode::kAborted) return store_->Get(id);
  return stored;
}

absl::StatusOr<const core::AdaptationMethod*> FewShotService::MethodOf(
    const std::string& id, const core::AdaptationState& state) const {
  auto method = methods_.find(state.method);
  if (method == methods_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("adaptation_id \"", id, "\" uses method ", state.method,
                     ", which this server does not offer"));
  }
  return method->second.get();
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
FewShotService::EditState(
    const std::string& id,
    const std::function<absl::Status(const core::AdaptationMethod&,
                                     core::AdaptationState*)>& edit) {
  for (int attempt = 0; attempt < kMaxEditAttempts; ++attempt) {
    FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<const core::AdaptationState> kept,
                             LoadState(id));
    FEWSHOT_ASSIGN_OR_RETURN(const core::AdaptationMethod* method,
                             MethodOf(id, *kept));
    auto edited = std::make_shared<core::AdaptationState>(*kept);
    FEWSHOT_RETURN_IF_ERROR(edit(*method, edited.get()));
    const absl::Status stored = store_->Update(id, edited, kept->revision);
    if (stored.ok()) {
      ReportStoreSize();
      return edited;
    }
    if (stored.code() != absl::StatusCode::kAborted) return stored;
  }
  return absl::AbortedError(
      absl::StrCat("adaptation_id \"", id,
                   "\" is being changed by too many calls at "
                   "once; try again"));
}

absl::StatusOr<torch::Tensor> FewShotService::EmbedForCall(
    const grpc::ServerContext& context, torch::Tensor inputs) {
  return batcher_->Embed(std::move(inputs), CallDeadline(context),
                         [&context] { return context.IsCancelled(); });
}

absl::Status FewShotService::RunMethodWork(
    const grpc::ServerContext& context, const core::AdaptationMethod& method,
    absl::AnyInvocable<absl::Status() &&> work) {
  if (!method.BuildTrains()) return std::move(work)();
  return RunForCall(context, *pool_, std::move(work));
}

void FewShotService::ReportStoreSize() {
  metrics_->SetCachedAdaptations(store_->size());
  metrics_->SetStoreBytes(store_->bytes());
}

const core::AdaptationMethod& FewShotService::MethodNamed(
    const std::string& name) const {
  return *methods_.at(name.empty() ? default_method_ : name);
}

absl::Time FewShotService::Begin() {
  metrics_->RecordCallStarted();
  return absl::Now();
}

grpc::Status FewShotService::Finish(Rpc rpc, absl::Time start,
                                    const absl::Status& status) {
  metrics_->RecordCallFinished();
  metrics_->RecordRequest(rpc, status.code(), absl::Now() - start);
  if (status.code() == absl::StatusCode::kInternal) {
    FEWSHOT_LOG(ERROR) << RpcName(rpc) << " failed: " << status;
  }
  return ToGrpcStatus(status);
}

}  // namespace fewshot::server
