// The one conversion from absl::Status, used inside the server, to the
// grpc::Status that handlers return.
#ifndef FEWSHOT_SERVER_GRPC_STATUS_H_
#define FEWSHOT_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fewshot::server {

// Keeps the code and the message. absl and gRPC share code numbers; a code
// gRPC does not know becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_GRPC_STATUS_H_
