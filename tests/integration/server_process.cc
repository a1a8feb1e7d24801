// Implements ServerProcess with posix_spawn, waitpid and the standard gRPC
// health service (called through a generic stub, as its generated code is
// not installed).
#include "tests/integration/server_process.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "tests/loopback_port.h"
#include "tests/test_environment.h"

extern char** environ;

namespace fewshot::testing {
namespace {

// grpc.health.v1.Health/Check.
constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";
// HealthCheckResponse{status: SERVING}, serialised: field 1, varint 1.
constexpr char kServingResponse[] = {0x08, 0x01};

// The exit code of a waitpid status; 128 + N for signal N.
int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return 128 + WTERMSIG(wait_status);
}

}  // namespace

absl::StatusOr<bool> IsServing(const std::string& target) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(1));

  // An empty HealthCheckRequest asks about the whole server.
  grpc::Slice empty("");
  const grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, kHealthCheckMethod, grpc::StubOptions(), &request,
                 &response, [&](grpc::Status call_status) {
                   status = std::move(call_status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check failed: ", status.error_message()));
  }

  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes == std::string(kServingResponse, sizeof(kServingResponse));
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& extra_flags,
    absl::Duration startup_timeout) {
  absl::StatusOr<int> grpc_port = PickFreePort();
  if (!grpc_port.ok()) return grpc_port.status();
  absl::StatusOr<int> metrics_port = PickFreePort();
  if (!metrics_port.ok()) return metrics_port.status();

  // Build argv: the program, the ports and the model, then the extras.
  std::vector<std::string> args = {
      BinaryPath("fewshot-server"),
      absl::StrCat("--address=127.0.0.1:", *grpc_port),
      absl::StrCat("--metrics_address=127.0.0.1:", *metrics_port),
      absl::StrCat("--model_dir=", ModelDir())};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int error =
      posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  if (error != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(error)));
  }
  std::unique_ptr<ServerProcess> process(
      new ServerProcess(pid, *grpc_port, *metrics_port));
  if (absl::Status serving = process->WaitUntilServing(startup_timeout);
      !serving.ok()) {
    return serving;
  }
  return process;
}

ServerProcess::~ServerProcess() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  int wait_status = 0;
  waitpid(pid_, &wait_status, 0);
}

std::string ServerProcess::target() const {
  return absl::StrCat("127.0.0.1:", grpc_port_);
}

absl::Status ServerProcess::Signal(int signal_number) {
  if (pid_ < 0) return absl::FailedPreconditionError("the server has exited");
  if (kill(pid_, signal_number) != 0) {
    return absl::InternalError(std::strerror(errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ServerProcess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (pid_ >= 0) {
    int wait_status = 0;
    const pid_t reaped = waitpid(pid_, &wait_status, WNOHANG);
    if (reaped == pid_) {
      pid_ = -1;
      return ExitCode(wait_status);
    }
    if (reaped < 0) return absl::InternalError(std::strerror(errno));
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError("the server did not exit in time");
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::FailedPreconditionError("the server was already reaped");
}

absl::Status ServerProcess::WaitUntilServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::UnavailableError("not checked yet");
  while (absl::Now() < deadline) {
    // A server that exited will never serve.
    int wait_status = 0;
    if (waitpid(pid_, &wait_status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("fewshot-server exited with code ",
                       ExitCode(wait_status), " before serving"));
    }
    absl::StatusOr<bool> serving = IsServing(target());
    if (serving.ok() && *serving) return absl::OkStatus();
    if (!serving.ok()) last = serving.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "fewshot-server did not report SERVING in time: ", last.message()));
}

}  // namespace fewshot::testing
