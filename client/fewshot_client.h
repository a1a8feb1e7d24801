// A small C++ client library for the fewshot.v1 service, for other C++
// services to link. It applies a deadline to every call and retries calls
// that failed with UNAVAILABLE (the server was not reachable) with backoff
// (streams are not retried).
// NOTE: AddExamples and Feedback are not idempotent; a retry after a
// connection lost mid-call may add the examples twice.
//
// Example:
//   absl::StatusOr<std::unique_ptr<FewShotClient>> client =
//       FewShotClient::Connect({.target = "127.0.0.1:50051"});
//   absl::StatusOr<v1::AdaptResponse> adapted = (*client)->Adapt(request);
#ifndef FEWSHOT_CLIENT_FEWSHOT_CLIENT_H_
#define FEWSHOT_CLIENT_FEWSHOT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/predict_stream.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"

namespace fewshot::client {

struct ClientOptions {
  // host:port of the server.
  std::string target = "127.0.0.1:50051";
  // Deadline of each attempt.
  absl::Duration timeout = absl::Seconds(10);
  // Attempts per call for UNAVAILABLE; 1 disables retries.
  int max_attempts = 3;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  // Largest message the client sends or accepts.
  int max_message_bytes = 64 << 20;
};

// Thread-safe: one client may serve many threads.
class FewShotClient {
 public:
  // Creates the channel (lazily connected). Returns INVALID_ARGUMENT for an
  // empty target, a non-positive timeout or max_message_bytes, fewer than
  // one attempt, or a negative backoff.
  static absl::StatusOr<std::unique_ptr<FewShotClient>> Connect(
      const ClientOptions& options);

  absl::StatusOr<v1::GetModelInfoResponse> GetModelInfo();
  absl::StatusOr<v1::AdaptResponse> Adapt(const v1::AdaptRequest& request);
  absl::StatusOr<v1::PredictResponse> Predict(
      const v1::PredictRequest& request);
  // Starts a Predict call and returns at once; `done` runs once, on a gRPC
  // thread, with the answer or the error. One attempt (no retry), with
  // the per-attempt deadline. `request` must stay valid until `done` runs.
  void StartPredict(
      const v1::PredictRequest& request,
      std::function<void(absl::StatusOr<v1::PredictResponse>)> done);
  absl::StatusOr<v1::ClassifyResponse> Classify(
      const v1::ClassifyRequest& request);
  absl::Status DeleteAdaptation(const std::string& adaptation_id);
  absl::StatusOr<v1::AddExamplesResponse> AddExamples(
      const v1::AddExamplesRequest& request);
  absl::StatusOr<v1::FeedbackResponse> Feedback(
      const v1::FeedbackRequest& request);
  absl::StatusOr<v1::RemoveExamplesResponse> RemoveExamples(
      const v1::RemoveExamplesRequest& request);
  absl::StatusOr<v1::RemoveClassResponse> RemoveClass(
      const std::string& adaptation_id, const std::string& label);
  absl::StatusOr<v1::GetAdaptationResponse> GetAdaptation(
      const std::string& adaptation_id);
  // Sends `requests` on one StreamPredict call, half-closes it, and
  // returns the responses in order (each with its own status). The whole
  // stream has one deadline, options.timeout, and is not retried.
  absl::StatusOr<std::vector<v1::StreamPredictResponse>> StreamPredict(
      const std::vector<v1::StreamPredictRequest>& requests);
  // Opens a StreamPredict call to send messages on one by one, open for
  // `lifetime` (its deadline; not retried). INVALID_ARGUMENT for a
  // lifetime that is not positive.
  absl::StatusOr<std::unique_ptr<PredictStream>> OpenPredictStream(
      absl::Duration lifetime);

 private:
  FewShotClient(ClientOptions options, std::unique_ptr<v1::FewShot::Stub> stub);

  ClientOptions options_;
  std::unique_ptr<v1::FewShot::Stub> stub_;
};

// Maps a gRPC status to the absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_FEWSHOT_CLIENT_H_
