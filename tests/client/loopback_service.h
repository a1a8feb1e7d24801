// Runs an in-process gRPC service on a free loopback port, for the client
// tests' fake servers.
//
// Example:
//   FakeFewShot service;
//   LoopbackService running = StartOnLoopback(service);
//   ASSERT_NE(running.server, nullptr);
//   options.target = running.target();
#ifndef FEWSHOT_TESTS_CLIENT_LOOPBACK_SERVICE_H_
#define FEWSHOT_TESTS_CLIENT_LOOPBACK_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"

namespace fewshot::testing {

struct LoopbackService {
  // Null when the server could not start.
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  std::string target() const { return absl::StrCat("127.0.0.1:", port); }
};

// Starts `service` (borrowed; it must outlive the server) on 127.0.0.1 at a
// port the kernel picks.
inline LoopbackService StartOnLoopback(grpc::Service& service) {
  LoopbackService running;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &running.port);
  builder.RegisterService(&service);
  running.server = builder.BuildAndStart();
  return running;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_CLIENT_LOOPBACK_SERVICE_H_
