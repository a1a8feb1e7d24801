// Serves one StreamPredict call through gRPC's callback API, so that an
// open stream holds no thread. Messages are read ahead of their answers,
// up to limits.max_stream_messages_in_flight at once: each is checked and
// queued for the encoder as soon as it is read (so a client's messages can
// share forward passes), scored by the worker that ran its batch, and
// answered in the order the messages came. Flow control holds back a
// client that sends more, and the stream reads ahead only while the
// encoder queue has room to spare; a message that still finds the queue
// full while others of its stream are in it waits for one of them to
// leave instead of being refused.
#ifndef FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_
#define FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/fewshot_service.h"

namespace fewshot::server {

// Thread-safe: gRPC's reactions and the encoder's completions arrive on
// different threads. At most one read and one write are outstanding at a
// time, as gRPC requires.
class FewShotService::StreamPredictReactor final
    : public grpc::ServerBidiReactor<v1::StreamPredictRequest,
                                     v1::StreamPredictResponse> {
 public:
  // Starts reading the call's first message. `service` and `context` must
  // outlive the call; the reactor deletes itself when gRPC is done with it.
  StreamPredictReactor(FewShotService* service,
                       grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mutex_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mutex_);
  void OnDone() override;

 private:
  // A message read and not yet answered.
  struct Message {
    uint64_t sequence = 0;
    // The message as a Predict call and its result, kept until it is
    // scored.
    v1::PredictRequest predict;
    v1::PredictResponse predicted;
    bool answered = false;
    v1::StreamPredictResponse answer;
  };

  // What to start once mutex_ is released (gRPC's Start* and Finish are
  // not called under it).
  struct Next {
    bool read = false;
    bool write = false;
    std::optional<absl::Status> finish;
  };

  // How the call ended when reading stopped: OK when the client
  // half-closed, else DEADLINE_EXCEEDED or CANCELLED.
  absl::Status EndOfReads() const;

  // Checks and queues `message` for the encoder; its answer is recorded
  // when the encoder is done, or at once when the message is refused.
  void Predict(Message* message) ABSL_LOCKS_EXCLUDED(mutex_);

  // Records the answer to `message`, or ends the call when `status` says
  // the call itself ended (cancelled, deadline, shutdown), or keeps the
  // message to try again when `status` is a full queue that this
  // stream's own messages are in. `was_queued`: the message had been
  // handed to the encoder queue.
  void Answer(Message* message, const absl::Status& status, bool was_queued)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Decides the next read, write or the end of the call from the current
  // state.
  Next Advance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Starts what `next` names.
  void Start(Next next) ABSL_LOCKS_EXCLUDED(mutex_);

  FewShotService* const service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;

  // Touched only by the read in progress (one at a time): the read buffer
  // and the adaptation the messages use (an empty id keeps the last one).
  v1::StreamPredictRequest request_;
  std::string adaptation_id_;
  // Touched only by the write in progress (one at a time).
  v1::StreamPredictResponse response_;

  absl::Mutex mutex_;
  // Messages read and not yet written, in the order they came.
  std::deque<std::unique_ptr<Message>> messages_ ABSL_GUARDED_BY(mutex_);
  // Messages whose encoder work has not finished (queued, waiting for
  // room or being checked); the call does not end while there are any.
  int in_encoder_ ABSL_GUARDED_BY(mutex_) = 0;
  // Messages handed to the encoder queue and not yet back.
  int queued_ ABSL_GUARDED_BY(mutex_) = 0;
  // Messages refused by a full queue, to try again when one of queued_
  // comes back.
  std::deque<Message*> waiting_for_room_ ABSL_GUARDED_BY(mutex_);
  bool reading_ ABSL_GUARDED_BY(mutex_) = false;
  bool writing_ ABSL_GUARDED_BY(mutex_) = false;
  // No more messages will be read: the client half-closed, or the call
  // ended.
  bool reads_done_ ABSL_GUARDED_BY(mutex_) = false;
  // Set when the call must end with an error; no more answers are written.
  std::optional<absl::Status> failure_ ABSL_GUARDED_BY(mutex_);
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_STREAM_PREDICT_REACTOR_H_
