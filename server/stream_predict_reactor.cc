// Implements FewShotService::StreamPredictReactor: read a message, queue
// its queries for the encoder, write its answer, read the next.
#include "server/stream_predict_reactor.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/call_runner.h"

namespace fewshot::server {
namespace {

// Whether `status` means the call itself ended rather than this message
// failing: the client cancelled, the deadline passed or the server is
// stopping.
bool EndsTheCall(const absl::Status& status) {
  return status.code() == absl::StatusCode::kCancelled ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kUnavailable;
}

}  // namespace

FewShotService::StreamPredictReactor::StreamPredictReactor(
    FewShotService* service, grpc::CallbackServerContext* context)
    : service_(service), context_(context), start_(service->Begin()) {
  StartRead(&request_);
}

void FewShotService::StreamPredictReactor::OnReadDone(bool ok) {
  // No message: the client half-closed, or the call ended.
  if (!ok) {
    End(EndOfReads());
    return;
  }
  Predict();
}

absl::Status FewShotService::StreamPredictReactor::EndOfReads() const {
  if (!context_->IsCancelled()) return absl::OkStatus();
  if (absl::Now() >= CallDeadline(*context_)) {
    return absl::DeadlineExceededError("the stream's deadline passed");
  }
  return absl::CancelledError("the stream was cancelled");
}

void FewShotService::StreamPredictReactor::Predict() {
  // The message as a Predict call against the current adaptation.
  if (!request_.adaptation_id().empty()) {
    adaptation_id_ = request_.adaptation_id();
  }
  predict_.Clear();
  predict_.set_adaptation_id(adaptation_id_);
  predict_.set_min_confidence(request_.min_confidence());
  predict_.mutable_queries()->Swap(request_.mutable_queries());

  // Check and decode here; a refusal is this message's answer.
  absl::StatusOr<PredictWork> work = service_->PreparePredict(predict_);
  if (!work.ok()) {
    Answer(work.status(), v1::PredictResponse());
    return;
  }

  // The batch's worker scores and writes the answer.
  torch::Tensor inputs = std::move(work->inputs);
  service_->batcher_->EmbedAsync(
      std::move(inputs), CallDeadline(*context_),
      [context = context_] { return context->IsCancelled(); },
      [this,
       work = *std::move(work)](absl::StatusOr<torch::Tensor> embeddings) {
        v1::PredictResponse predicted;
        absl::Status status = embeddings.status();
        if (status.ok()) {
          status =
              service_->AnswerPredict(predict_, work, *embeddings, &predicted);
        }
        Answer(status, std::move(predicted));
      });
}

void FewShotService::StreamPredictReactor::Answer(
    const absl::Status& status, v1::PredictResponse predicted) {
  if (EndsTheCall(status)) {
    End(status);
    return;
  }
  response_.Clear();
  response_.set_sequence(request_.sequence());
  response_.set_status_code(static_cast<int32_t>(status.code()));
  response_.set_status_message(std::string(status.message()));
  response_.mutable_predictions()->Swap(predicted.mutable_predictions());
  response_.set_model_version(service_->metadata_.version);
  StartWrite(&response_);
}

void FewShotService::StreamPredictReactor::OnWriteDone(bool ok) {
  if (!ok) {
    End(absl::CancelledError("the client stopped reading the stream"));
    return;
  }
  StartRead(&request_);
}

void FewShotService::StreamPredictReactor::End(const absl::Status& status) {
  Finish(service_->Finish(Rpc::kStreamPredict, start_, status));
}

void FewShotService::StreamPredictReactor::OnDone() { delete this; }

}  // namespace fewshot::server
