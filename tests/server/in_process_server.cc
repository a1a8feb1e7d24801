// Implements InProcessServer.
#include "tests/server/in_process_server.h"

#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fewshot::testing {

absl::StatusOr<std::unique_ptr<InProcessServer>> InProcessServer::Start(
    const std::string& name,
    const std::function<absl::Status(const std::string& dir)>& save_bundle,
    const std::function<void(server::ServerOptions&)>& adjust) {
  const std::string bundle_dir = (std::filesystem::temp_directory_path() /
                                  absl::StrCat(name, "_", getpid()))
                                     .string();
  const absl::Status saved = save_bundle(bundle_dir);
  if (!saved.ok()) {
    std::filesystem::remove_all(bundle_dir);
    return saved;
  }
  server::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.metrics_address = "127.0.0.1:0";
  options.model_dir = bundle_dir;
  if (adjust) adjust(options);
  absl::StatusOr<std::unique_ptr<server::Server>> server =
      server::Server::BuildAndStart(options);
  if (!server.ok()) {
    std::filesystem::remove_all(bundle_dir);
    return server.status();
  }
  return std::unique_ptr<InProcessServer>(
      new InProcessServer(bundle_dir, *std::move(server)));
}

InProcessServer::InProcessServer(std::string bundle_dir,
                                 std::unique_ptr<server::Server> server)
    : bundle_dir_(std::move(bundle_dir)), server_(std::move(server)) {}

InProcessServer::~InProcessServer() {
  server_.reset();
  std::filesystem::remove_all(bundle_dir_);
}

std::string InProcessServer::target() const {
  return absl::StrCat("127.0.0.1:", port());
}

std::unique_ptr<v1::FewShot::Stub> InProcessServer::NewStub() const {
  return v1::FewShot::NewStub(
      grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> InProcessServer::Context(
    std::chrono::seconds timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

}  // namespace fewshot::testing
