// Implements the absl::Status to grpc::Status conversion.
#include "server/grpc_status.h"

#include <string>

namespace fewshot::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;

  const int code = static_cast<int>(status.code());
  const bool known_to_grpc =
      code > grpc::StatusCode::OK && code <= grpc::StatusCode::UNAUTHENTICATED;
  return grpc::Status(known_to_grpc ? static_cast<grpc::StatusCode>(code)
                                    : grpc::StatusCode::UNKNOWN,
                      std::string(status.message()));
}

}  // namespace fewshot::server
