// Implements FewShotService::StreamPredictReactor: read messages ahead,
// queue each one's queries for the encoder, and write the answers in the
// order the messages came.
#include "server/stream_predict_reactor.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/call_runner.h"

namespace fewshot::server {
namespace {

// Whether `status` means the call itself ended rather than one message
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
  {
    absl::MutexLock lock(&mutex_);
    reading_ = true;
  }
  StartRead(&request_);
}

void FewShotService::StreamPredictReactor::OnReadDone(bool ok) {
  // No message: the client half-closed, or the call ended.
  if (!ok) {
    const absl::Status end = EndOfReads();
    Next next;
    {
      absl::MutexLock lock(&mutex_);
      reading_ = false;
      reads_done_ = true;
      if (!end.ok() && !failure_.has_value()) failure_ = end;
      next = Advance();
    }
    Start(std::move(next));
    return;
  }

  // Take the message out of the read buffer before the next read reuses
  // it, as a Predict call against the current adaptation.
  auto message = std::make_unique<Message>();
  if (!request_.adaptation_id().empty()) {
    adaptation_id_ = request_.adaptation_id();
  }
  message->sequence = request_.sequence();
  message->predict.set_adaptation_id(adaptation_id_);
  message->predict.set_min_confidence(request_.min_confidence());
  message->predict.mutable_queries()->Swap(request_.mutable_queries());

  // Keep it in line for its answer, read on while there is room, and work
  // on it meanwhile. The call cannot end before its answer is recorded. A
  // message that arrives once the call is ending is dropped: the call may
  // already be finished, and no work may outlive it.
  Message* const taken = message.get();
  bool ending = false;
  Next next;
  {
    absl::MutexLock lock(&mutex_);
    reading_ = false;
    ending = failure_.has_value();
    if (!ending) {
      messages_.push_back(std::move(message));
      ++in_encoder_;
    }
    next = Advance();
  }
  Start(std::move(next));
  if (!ending) Predict(taken);
}

absl::Status FewShotService::StreamPredictReactor::EndOfReads() const {
  if (!context_->IsCancelled()) return absl::OkStatus();
  if (absl::Now() >= CallDeadline(*context_)) {
    return absl::DeadlineExceededError("the stream's deadline passed");
  }
  return absl::CancelledError("the stream was cancelled");
}

void FewShotService::StreamPredictReactor::Predict(Message* message) {
  // Check and decode here; a refusal is this message's answer.
  absl::StatusOr<PredictWork> work = service_->PreparePredict(message->predict);
  if (!work.ok()) {
    Answer(message, work.status(), v1::PredictResponse());
    return;
  }

  // The batch's worker scores it.
  torch::Tensor inputs = std::move(work->inputs);
  service_->batcher_->EmbedAsync(
      std::move(inputs), CallDeadline(*context_),
      [context = context_] { return context->IsCancelled(); },
      [this, message,
       work = *std::move(work)](absl::StatusOr<torch::Tensor> embeddings) {
        v1::PredictResponse predicted;
        absl::Status status = embeddings.status();
        if (status.ok()) {
          status = service_->AnswerPredict(message->predict, work, *embeddings,
                                           &predicted);
        }
        Answer(message, status, std::move(predicted));
      });
}

void FewShotService::StreamPredictReactor::Answer(
    Message* message, const absl::Status& status,
    v1::PredictResponse predicted) {
  // Until it is marked answered, only this thread touches the answer.
  const bool ends_the_call = EndsTheCall(status);
  if (!ends_the_call) {
    v1::StreamPredictResponse& answer = message->answer;
    answer.set_sequence(message->sequence);
    answer.set_status_code(static_cast<int32_t>(status.code()));
    answer.set_status_message(std::string(status.message()));
    answer.mutable_predictions()->Swap(predicted.mutable_predictions());
    answer.set_model_version(service_->metadata_.version);
  }

  Next next;
  {
    absl::MutexLock lock(&mutex_);
    --in_encoder_;
    if (!ends_the_call) {
      message->answered = true;
    } else if (!failure_.has_value()) {
      failure_ = status;
    }
    next = Advance();
  }
  Start(std::move(next));
}

void FewShotService::StreamPredictReactor::OnWriteDone(bool ok) {
  Next next;
  {
    absl::MutexLock lock(&mutex_);
    writing_ = false;
    if (!ok && !failure_.has_value()) {
      failure_ = absl::CancelledError("the client stopped reading the stream");
    }
    next = Advance();
  }
  Start(std::move(next));
}

FewShotService::StreamPredictReactor::Next
FewShotService::StreamPredictReactor::Advance() {
  Next next;
  if (finished_) return next;

  // After a failure, end once no encoder work or write refers to the call
  // (an outstanding read is ended by Finish).
  if (failure_.has_value()) {
    if (in_encoder_ == 0 && !writing_) {
      finished_ = true;
      next.finish = *failure_;
    }
    return next;
  }

  // Write the oldest message's answer once it is ready.
  if (!writing_ && !messages_.empty() && messages_.front()->answered) {
    response_ = std::move(messages_.front()->answer);
    messages_.pop_front();
    writing_ = true;
    next.write = true;
  }

  // Read ahead while fewer messages than the limit wait for their answers.
  if (!reading_ && !reads_done_ &&
      static_cast<int>(messages_.size()) <
          service_->max_stream_messages_in_flight_) {
    reading_ = true;
    next.read = true;
  }

  // The client half-closed and every message is answered.
  if (reads_done_ && messages_.empty() && !writing_) {
    finished_ = true;
    next.finish = absl::OkStatus();
  }
  return next;
}

void FewShotService::StreamPredictReactor::Start(Next next) {
  if (next.read) StartRead(&request_);
  if (next.write) StartWrite(&response_);
  if (next.finish.has_value()) {
    Finish(service_->Finish(Rpc::kStreamPredict, start_, *next.finish));
  }
}

void FewShotService::StreamPredictReactor::OnDone() { delete this; }

}  // namespace fewshot::server
