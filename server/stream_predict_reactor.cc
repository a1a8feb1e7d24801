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
    Answer(message, work.status(), /*was_queued=*/false);
    return;
  }

  // The batch's worker scores it.
  {
    absl::MutexLock lock(&mutex_);
    ++queued_;
  }
  service_->EmbedAndAnswerPredict(
      *std::move(work), message->predict, context_, &message->predicted,
      [this, message](absl::Status status) {
        Answer(message, status, /*was_queued=*/true);
      });
}

void FewShotService::StreamPredictReactor::Answer(Message* message,
                                                  const absl::Status& status,
                                                  bool was_queued) {
  Message* retry = nullptr;
  Next next;
  {
    absl::MutexLock lock(&mutex_);
    if (was_queued) --queued_;

    // Refused for a full queue while this stream's own messages are in it:
    // wait for one of them to leave rather than refuse, so that a stream
    // is held back by flow control, not by its own read-ahead.
    if (status.code() == absl::StatusCode::kResourceExhausted && queued_ > 0 &&
        !failure_.has_value()) {
      waiting_for_room_.push_back(message);
      return;
    }

    // Record the answer, or the end of the call.
    --in_encoder_;
    if (EndsTheCall(status)) {
      if (!failure_.has_value()) failure_ = status;
    } else {
      v1::StreamPredictResponse& answer = message->answer;
      answer.set_sequence(message->sequence);
      answer.set_status_code(static_cast<int32_t>(status.code()));
      answer.set_status_message(std::string(status.message()));
      answer.mutable_predictions()->Swap(
          message->predicted.mutable_predictions());
      answer.set_model_version(service_->metadata_.version);
      message->answered = true;
    }

    // A waiting message is dropped once the call is ending; otherwise one
    // is tried again when there may be room: one of this stream's messages
    // left the queue, or none is left in it.
    if (failure_.has_value()) {
      in_encoder_ -= static_cast<int>(waiting_for_room_.size());
      waiting_for_room_.clear();
    } else if (!waiting_for_room_.empty() && (was_queued || queued_ == 0)) {
      retry = waiting_for_room_.front();
      waiting_for_room_.pop_front();
    }
    next = Advance();
  }
  Start(std::move(next));
  if (retry != nullptr) Predict(retry);
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
  // (an outstanding read is ended by Finish). The status is moved, not
  // shared: the reactor may be deleted on another thread while the caller
  // of Start still reads it.
  if (failure_.has_value()) {
    if (in_encoder_ == 0 && !writing_) {
      finished_ = true;
      next.finish = std::move(*failure_);
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

  // Read the next message when none is waiting for its answer; read ahead
  // while fewer than the limit wait and the encoder queue has room to
  // spare, so that a busy queue holds the stream back by flow control and
  // read-ahead never takes the places of other calls.
  if (!reading_ && !reads_done_ &&
      static_cast<int>(messages_.size()) <
          service_->max_stream_messages_in_flight_ &&
      (messages_.empty() || service_->batcher_->HasSpareRoom())) {
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
