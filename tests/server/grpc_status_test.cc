// Tests the absl::Status to grpc::Status conversion.
#include "server/grpc_status.h"

#include <gtest/gtest.h>

namespace fewshot::server {
namespace {

TEST(GrpcStatusTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(GrpcStatusTest, KeepsCodeAndMessage) {
  const grpc::Status status =
      ToGrpcStatus(absl::NotFoundError("adaptation_id \"x\" is unknown"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "adaptation_id \"x\" is unknown");
}

TEST(GrpcStatusTest, MapsEveryCanonicalCode) {
  for (int code = 1; code <= 16; ++code) {
    const grpc::Status status = ToGrpcStatus(
        absl::Status(static_cast<absl::StatusCode>(code), "message"));
    EXPECT_EQ(static_cast<int>(status.error_code()), code);
  }
}

TEST(GrpcStatusTest, UnknownCodeBecomesUnknown) {
  const grpc::Status status =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "odd"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "odd");
}

}  // namespace
}  // namespace fewshot::server
