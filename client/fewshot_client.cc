// Implements FewShotClient: one deadline per attempt and exponential backoff
// between attempts that failed with UNAVAILABLE; StreamPredict's writer
// thread.
#include "client/fewshot_client.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"

namespace fewshot::client {
namespace {

// Runs `rpc(context, response)` up to `options.max_attempts` times, each
// attempt with its own deadline, while it fails with UNAVAILABLE. The wait
// before attempt n+1 is initial_backoff * 2^(n-1).
template <typename Response, typename Rpc>
absl::StatusOr<Response> CallWithRetry(const ClientOptions& options, Rpc rpc) {
  absl::Duration backoff = options.initial_backoff;
  grpc::Status status;
  for (int attempt = 1; attempt <= options.max_attempts; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
    Response response;
    status = rpc(&context, &response);
    if (status.ok()) return response;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;

    if (attempt < options.max_attempts) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
  }
  return FromGrpcStatus(status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FewShotClient>> FewShotClient::Connect(
    const ClientOptions& options) {
  // Check the options.
  if (options.target.empty()) {
    return absl::InvalidArgumentError("target: expected host:port, got \"\"");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "timeout: expected > 0, got ", absl::FormatDuration(options.timeout)));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_attempts: expected >= 1, got ", options.max_attempts));
  }
  if (options.initial_backoff < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial_backoff: expected >= 0, got ",
                     absl::FormatDuration(options.initial_backoff)));
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes: expected > 0, got ", options.max_message_bytes));
  }

  // Build the channel; it connects on the first call.
  grpc::ChannelArguments arguments;
  arguments.SetMaxSendMessageSize(options.max_message_bytes);
  arguments.SetMaxReceiveMessageSize(options.max_message_bytes);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      options.target, grpc::InsecureChannelCredentials(), arguments);

  return std::unique_ptr<FewShotClient>(
      new FewShotClient(options, v1::FewShot::NewStub(channel)));
}

FewShotClient::FewShotClient(ClientOptions options,
                             std::unique_ptr<v1::FewShot::Stub> stub)
    : options_(std::move(options)), stub_(std::move(stub)) {}

absl::StatusOr<v1::GetModelInfoResponse> FewShotClient::GetModelInfo() {
  const v1::GetModelInfoRequest request;
  return CallWithRetry<v1::GetModelInfoResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::GetModelInfoResponse* response) {
        return stub_->GetModelInfo(context, request, response);
      });
}

absl::StatusOr<v1::AdaptResponse> FewShotClient::Adapt(
    const v1::AdaptRequest& request) {
  return CallWithRetry<v1::AdaptResponse>(
      options_, [&](grpc::ClientContext* context, v1::AdaptResponse* response) {
        return stub_->Adapt(context, request, response);
      });
}

absl::StatusOr<v1::PredictResponse> FewShotClient::Predict(
    const v1::PredictRequest& request) {
  return CallWithRetry<v1::PredictResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::PredictResponse* response) {
        return stub_->Predict(context, request, response);
      });
}

void FewShotClient::StartPredict(
    const v1::PredictRequest& request,
    std::function<void(absl::StatusOr<v1::PredictResponse>)> done) {
  // The call's context and answer live until its callback has run.
  struct Call {
    grpc::ClientContext context;
    v1::PredictResponse response;
    std::function<void(absl::StatusOr<v1::PredictResponse>)> done;
  };
  auto* call = new Call;
  call->done = std::move(done);
  call->context.set_deadline(
      absl::ToChronoTime(absl::Now() + options_.timeout));
  stub_->async()->Predict(&call->context, &request, &call->response,
                          [call](grpc::Status status) {
                            std::unique_ptr<Call> owned(call);
                            if (status.ok()) {
                              owned->done(std::move(owned->response));
                            } else {
                              owned->done(FromGrpcStatus(status));
                            }
                          });
}

absl::StatusOr<v1::ClassifyResponse> FewShotClient::Classify(
    const v1::ClassifyRequest& request) {
  return CallWithRetry<v1::ClassifyResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::ClassifyResponse* response) {
        return stub_->Classify(context, request, response);
      });
}

absl::Status FewShotClient::DeleteAdaptation(const std::string& adaptation_id) {
  v1::DeleteAdaptationRequest request;
  request.set_adaptation_id(adaptation_id);
  return CallWithRetry<v1::DeleteAdaptationResponse>(
             options_,
             [&](grpc::ClientContext* context,
                 v1::DeleteAdaptationResponse* response) {
               return stub_->DeleteAdaptation(context, request, response);
             })
      .status();
}

absl::StatusOr<v1::AddExamplesResponse> FewShotClient::AddExamples(
    const v1::AddExamplesRequest& request) {
  return CallWithRetry<v1::AddExamplesResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::AddExamplesResponse* response) {
        return stub_->AddExamples(context, request, response);
      });
}

absl::StatusOr<v1::FeedbackResponse> FewShotClient::Feedback(
    const v1::FeedbackRequest& request) {
  return CallWithRetry<v1::FeedbackResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::FeedbackResponse* response) {
        return stub_->Feedback(context, request, response);
      });
}

absl::StatusOr<v1::RemoveExamplesResponse> FewShotClient::RemoveExamples(
    const v1::RemoveExamplesRequest& request) {
  return CallWithRetry<v1::RemoveExamplesResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::RemoveExamplesResponse* response) {
        return stub_->RemoveExamples(context, request, response);
      });
}

absl::StatusOr<v1::RemoveClassResponse> FewShotClient::RemoveClass(
    const std::string& adaptation_id, const std::string& label) {
  v1::RemoveClassRequest request;
  request.set_adaptation_id(adaptation_id);
  request.set_label(label);
  return CallWithRetry<v1::RemoveClassResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::RemoveClassResponse* response) {
        return stub_->RemoveClass(context, request, response);
      });
}

absl::StatusOr<v1::GetAdaptationResponse> FewShotClient::GetAdaptation(
    const std::string& adaptation_id) {
  v1::GetAdaptationRequest request;
  request.set_adaptation_id(adaptation_id);
  return CallWithRetry<v1::GetAdaptationResponse>(
      options_,
      [&](grpc::ClientContext* context, v1::GetAdaptationResponse* response) {
        return stub_->GetAdaptation(context, request, response);
      });
}

absl::StatusOr<std::vector<v1::StreamPredictResponse>>
FewShotClient::StreamPredict(
    const std::vector<v1::StreamPredictRequest>& requests) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamPredictRequest,
                                           v1::StreamPredictResponse>>
      stream = stub_->StreamPredict(&context);

  // Send from another thread, so that a long stream cannot stall on flow
  // control while nobody reads; half-close after the last message.
  std::thread writer([&requests, &stream] {
    for (const v1::StreamPredictRequest& request : requests) {
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });

  // Read every answer, then the call's own status.
  std::vector<v1::StreamPredictResponse> responses;
  v1::StreamPredictResponse response;
  while (stream->Read(&response)) responses.push_back(std::move(response));
  writer.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return responses;
}

absl::StatusOr<std::unique_ptr<PredictStream>> FewShotClient::OpenPredictStream(
    absl::Duration lifetime) {
  if (lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream lifetime: expected > 0, got ", absl::FormatDuration(lifetime)));
  }
  return PredictStream::Open(*stub_, absl::Now() + lifetime);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace fewshot::client
