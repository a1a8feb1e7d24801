// Implements PredictStream: one write and one read per message, and the
// call's status read once, after the last read, when the stream ends.
#include "client/predict_stream.h"

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"

namespace fewshot::client {

std::unique_ptr<PredictStream> PredictStream::Open(v1::FewShot::Stub& stub,
                                                   absl::Time deadline) {
  std::unique_ptr<PredictStream> stream(new PredictStream(deadline));
  stream->stream_ = stub.StreamPredict(&stream->context_);
  return stream;
}

PredictStream::PredictStream(absl::Time deadline) : deadline_(deadline) {
  context_.set_deadline(absl::ToChronoTime(deadline));
}

PredictStream::~PredictStream() {
  if (ended_) return;
  context_.TryCancel();
  Finish().IgnoreError();
}

absl::StatusOr<v1::StreamPredictResponse> PredictStream::Send(
    const v1::StreamPredictRequest& request) {
  if (ended_) {
    return end_status_.ok()
               ? absl::FailedPreconditionError("the stream was closed")
               : end_status_;
  }

  // One message out, its answer back; either failing ends the stream.
  v1::StreamPredictResponse response;
  if (stream_->Write(request) && stream_->Read(&response)) return response;
  const absl::Status status = DrainAndFinish();
  return status.ok() ? absl::UnavailableError(
                           "the server ended the stream without answering")
                     : status;
}

absl::Status PredictStream::Close() {
  if (ended_) return end_status_;

  // Half-close, then let the server finish the call.
  stream_->WritesDone();
  return DrainAndFinish();
}

absl::Status PredictStream::DrainAndFinish() {
  v1::StreamPredictResponse unexpected;
  while (stream_->Read(&unexpected)) {
  }
  return Finish();
}

absl::Status PredictStream::Finish() {
  ended_ = true;
  end_status_ = FromGrpcStatus(stream_->Finish());
  return end_status_;
}

}  // namespace fewshot::client
