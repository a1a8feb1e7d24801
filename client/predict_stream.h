// One StreamPredict call kept open for many messages: each Send() writes a
// message and waits for its answer, so a caller that predicts query after
// query against an adaptation opens one call instead of one per query.
//
// Example:
//   absl::StatusOr<std::unique_ptr<PredictStream>> stream =
//       client->OpenPredictStream(absl::Minutes(5));
//   absl::StatusOr<v1::StreamPredictResponse> answer =
//       (*stream)->Send(message);  // answer->status_code() is per message
//   absl::Status ended = (*stream)->Close();
#ifndef FEWSHOT_CLIENT_PREDICT_STREAM_H_
#define FEWSHOT_CLIENT_PREDICT_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"

namespace fewshot::client {

// Not thread-safe: one caller at a time. The destructor cancels a stream
// that was not closed.
class PredictStream {
 public:
  // Opens the call; `deadline` bounds the whole stream, not each message.
  static std::unique_ptr<PredictStream> Open(v1::FewShot::Stub& stub,
                                             absl::Time deadline);

  ~PredictStream();

  PredictStream(const PredictStream&) = delete;
  PredictStream& operator=(const PredictStream&) = delete;

  // Sends `request` and waits for the answer to it. An answer whose
  // status_code is not 0 failed on its own and leaves the stream open. An
  // error status means the stream itself has ended (its gRPC status, e.g.
  // DEADLINE_EXCEEDED or UNAVAILABLE); every later Send returns it too.
  absl::StatusOr<v1::StreamPredictResponse> Send(
      const v1::StreamPredictRequest& request);

  // Half-closes the stream and returns how the call ended: OK when the
  // server finished it normally. Idempotent.
  absl::Status Close();

  // When the stream's deadline passes.
  absl::Time deadline() const { return deadline_; }

 private:
  explicit PredictStream(absl::Time deadline);

  // Reads what the server still sends, then the call's status.
  absl::Status DrainAndFinish();

  // Reads the call's status once the stream can carry nothing more.
  absl::Status Finish();

  const absl::Time deadline_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamPredictRequest,
                                           v1::StreamPredictResponse>>
      stream_;
  // Set once the stream has ended; OK after a normal Close().
  bool ended_ = false;
  absl::Status end_status_;
};

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_PREDICT_STREAM_H_
