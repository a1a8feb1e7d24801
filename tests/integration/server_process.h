// Runs the real fewshot-server program as a child process on free loopback
// ports, for end-to-end tests, and stops it when the test ends.
//
// Example:
//   absl::StatusOr<std::unique_ptr<ServerProcess>> server =
//       ServerProcess::Start({"--workers=1"});
//   client::FewShotClient::Connect({.target = (*server)->target()});
#ifndef FEWSHOT_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define FEWSHOT_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fewshot::testing {

// Not thread-safe. The destructor kills the process if it still runs.
class ServerProcess {
 public:
  // Starts BinaryPath("fewshot-server") with --model_dir=ModelDir(), free
  // gRPC and metrics ports and `extra_flags`, and waits (up to
  // `startup_timeout`) until its health service reports SERVING.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra_flags,
      absl::Duration startup_timeout = absl::Seconds(60));

  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // "127.0.0.1:<grpc port>".
  std::string target() const;
  int metrics_port() const { return metrics_port_; }
  // The process id; -1 once the process has been reaped.
  pid_t pid() const { return pid_; }

  // Sends `signal_number` to the process.
  absl::Status Signal(int signal_number);

  // Waits up to `timeout` for the process to end and returns its exit
  // code (128 + signal number when a signal ended it), or
  // DEADLINE_EXCEEDED.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);

 private:
  ServerProcess(pid_t pid, int grpc_port, int metrics_port)
      : pid_(pid), grpc_port_(grpc_port), metrics_port_(metrics_port) {}

  // Polls the gRPC health service until it reports SERVING.
  absl::Status WaitUntilServing(absl::Duration timeout);

  pid_t pid_;  // -1 once the process has been reaped.
  int grpc_port_;
  int metrics_port_;
};

// The health service's status for the whole server: true for SERVING.
// Returns the call's error when the server cannot be reached.
absl::StatusOr<bool> IsServing(const std::string& target);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_INTEGRATION_SERVER_PROCESS_H_
