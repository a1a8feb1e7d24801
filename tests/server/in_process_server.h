// Serves a model bundle written into a fresh temporary folder with the
// whole server, in-process on loopback ports, for tests that drive it over
// a real gRPC channel.
//
// Example:
//   absl::StatusOr<std::unique_ptr<InProcessServer>> server =
//       InProcessServer::Start("my_test", [](const std::string& dir) {
//         return SaveRandomBundle(dir);
//       });
//   std::unique_ptr<v1::FewShot::Stub> stub = (*server)->NewStub();
#ifndef FEWSHOT_TESTS_SERVER_IN_PROCESS_SERVER_H_
#define FEWSHOT_TESTS_SERVER_IN_PROCESS_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fewshot/v1/fewshot_service.grpc.pb.h"
#include "server/server.h"
#include "server/server_options.h"

namespace fewshot::testing {

class InProcessServer {
 public:
  // Writes a bundle with `save_bundle` into a new folder of the system's
  // temporary folder named after `name` and the process id, then starts a
  // server on it with gRPC and metrics on 127.0.0.1 at free ports, after
  // `adjust` (may be empty) has changed the options. Returns the first
  // error; the folder is removed on failure.
  static absl::StatusOr<std::unique_ptr<InProcessServer>> Start(
      const std::string& name,
      const std::function<absl::Status(const std::string& dir)>& save_bundle,
      const std::function<void(server::ServerOptions&)>& adjust = {});

  // Stops the server, then removes the bundle folder.
  ~InProcessServer();

  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  // The bound gRPC port, and "127.0.0.1:<port>".
  int port() const { return server_->port(); }
  std::string target() const;

  // A stub on a new insecure channel to target().
  std::unique_ptr<v1::FewShot::Stub> NewStub() const;

  // A client context whose deadline is `timeout` from now.
  static std::unique_ptr<grpc::ClientContext> Context(
      std::chrono::seconds timeout);

 private:
  InProcessServer(std::string bundle_dir,
                  std::unique_ptr<server::Server> server);

  const std::string bundle_dir_;
  std::unique_ptr<server::Server> server_;
};

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_SERVER_IN_PROCESS_SERVER_H_
