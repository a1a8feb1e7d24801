// Serves one StreamPredict call through gRPC's callback API, so that an
// open stream holds no thread: each message is read, checked and queued
// for the encoder on a gRPC thread, scored and answered by the worker that
// ran its batch, and only then is the next message read, so answers keep
// the messages' order.
#ifndef FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_
#define FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/fewshot_service.h"

namespace fewshot::server {

// Not thread-safe by locking: at most one of its steps (a read, the
// message's encoder work, a write) is in progress at any time, and each
// step starts the next, so its fields are handed from thread to thread by
// gRPC's and the batcher's own synchronisation.
class FewShotService::StreamPredictReactor final
    : public grpc::ServerBidiReactor<v1::StreamPredictRequest,
                                     v1::StreamPredictResponse> {
 public:
  // Starts reading the call's first message. `service` and `context` must
  // outlive the call; the reactor deletes itself when gRPC is done with it.
  StreamPredictReactor(FewShotService* service,
                       grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  // How the call ended when reading stopped: OK when the client
  // half-closed, else DEADLINE_EXCEEDED or CANCELLED.
  absl::Status EndOfReads() const;

  // Checks and queues the message in request_; its answer is written when
  // the encoder is done.
  void Predict();

  // Writes the answer to the current message, or ends the call when
  // `status` says the call itself ended (cancelled, deadline, shutdown).
  void Answer(const absl::Status& status, v1::PredictResponse predicted);

  // Ends the call with `status`, recorded in the metrics.
  void End(const absl::Status& status);

  FewShotService* const service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;

  // The adaptation the messages use; an empty id keeps the last one.
  std::string adaptation_id_;
  v1::StreamPredictRequest request_;
  // request_ as a Predict call, kept until its answer is written.
  v1::PredictRequest predict_;
  v1::StreamPredictResponse response_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_
