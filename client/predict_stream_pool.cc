// Implements PredictStreamPool: a free list of open streams under a mutex;
// streams are opened, closed and used outside it.
#include "client/predict_stream_pool.h"

#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"

namespace fewshot::client {

PredictStreamPool::PredictStreamPool(FewShotClient& client,
                                     PredictStreamPoolOptions options)
    : client_(client), options_(options) {}

absl::Status PredictStreamPool::Call(const v1::StreamPredictRequest& request) {
  absl::StatusOr<std::unique_ptr<PredictStream>> stream = Borrow();
  if (!stream.ok()) return stream.status();

  absl::StatusOr<v1::StreamPredictResponse> answer = (*stream)->Send(request);
  if (!answer.ok()) return answer.status();

  // The stream still works, whatever this message's own outcome.
  {
    absl::MutexLock lock(&mutex_);
    idle_.push_back(*std::move(stream));
  }
  return absl::Status(static_cast<absl::StatusCode>(answer->status_code()),
                      answer->status_message());
}

int PredictStreamPool::opened() const {
  absl::MutexLock lock(&mutex_);
  return opened_;
}

absl::StatusOr<std::unique_ptr<PredictStream>> PredictStreamPool::Borrow() {
  // Take the most recently used idle stream, if any.
  std::unique_ptr<PredictStream> stream;
  {
    absl::MutexLock lock(&mutex_);
    if (!idle_.empty()) {
      stream = std::move(idle_.back());
      idle_.pop_back();
    }
  }

  // Keep it only if a message still fits before its deadline.
  if (stream != nullptr &&
      stream->deadline() - absl::Now() >= options_.message_timeout) {
    return stream;
  }
  if (stream != nullptr) stream->Close().IgnoreError();

  absl::StatusOr<std::unique_ptr<PredictStream>> opened =
      client_.OpenPredictStream(options_.stream_lifetime);
  if (opened.ok()) {
    absl::MutexLock lock(&mutex_);
    ++opened_;
  }
  return opened;
}

}  // namespace fewshot::client
