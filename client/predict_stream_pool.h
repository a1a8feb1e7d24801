// Streams for a load of StreamPredict messages: each call borrows an idle
// stream (opening one when none is idle), sends one message on it and
// gives it back, so N concurrent callers keep about N streams open over a
// run. A stream is replaced before too little of its deadline is left for
// a message, so a long run never sees its streams expire.
//
// Example:
//   PredictStreamPool pool(*client, {.message_timeout = absl::Seconds(10)});
//   LoadCall call = [&](int64_t) { return pool.Call(message); };
#ifndef FEWSHOT_CLIENT_PREDICT_STREAM_POOL_H_
#define FEWSHOT_CLIENT_PREDICT_STREAM_POOL_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/predict_stream.h"
#include "fewshot/v1/fewshot_service.pb.h"

namespace fewshot::client {

struct PredictStreamPoolOptions {
  // The least deadline a stream must have left to carry one more message.
  absl::Duration message_timeout = absl::Seconds(10);
  // How long each new stream is opened for.
  absl::Duration stream_lifetime = absl::Minutes(2);
};

// Thread-safe.
class PredictStreamPool {
 public:
  // `client` is borrowed and must outlive the pool.
  PredictStreamPool(FewShotClient& client, PredictStreamPoolOptions options);

  // Sends `request` on a stream and returns the answer's status: OK, the
  // answer's own status_code and message when that message failed, or
  // the stream's status when the stream ended (it is dropped then).
  absl::Status Call(const v1::StreamPredictRequest& request)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Streams opened so far, including replaced and dropped ones.
  int opened() const ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  // An idle stream with time left for a message, or a new one.
  absl::StatusOr<std::unique_ptr<PredictStream>> Borrow()
      ABSL_LOCKS_EXCLUDED(mutex_);

  FewShotClient& client_;
  const PredictStreamPoolOptions options_;

  mutable absl::Mutex mutex_;
  std::vector<std::unique_ptr<PredictStream>> idle_ ABSL_GUARDED_BY(mutex_);
  int opened_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_PREDICT_STREAM_POOL_H_
