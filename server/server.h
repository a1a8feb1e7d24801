// The whole server: loads the model bundle, builds the store, the worker
// pool, the metrics and the gRPC service, and starts gRPC (with health and
// reflection) and the /metrics HTTP endpoint.
//
// Example:
//   absl::StatusOr<std::unique_ptr<Server>> server =
//       Server::BuildAndStart(options);
//   if (!server.ok()) return server.status();
//   // On SIGTERM, from another thread: (*server)->Shutdown();
//   (*server)->Wait();
#ifndef FEWSHOT_SERVER_SERVER_H_
#define FEWSHOT_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/adaptation_store.h"
#include "server/fewshot_service.h"
#include "server/metrics.h"
#include "server/metrics_http_server.h"
#include "server/server_options.h"
#include "server/thread_pool.h"

namespace fewshot::server {

// Thread-safe. The destructor shuts the server down if that has not
// happened yet.
class Server {
 public:
  // Checks `options` (INVALID_ARGUMENT naming the field), loads the bundle
  // from options.model_dir (its load error), and starts listening
  // (UNAVAILABLE when an address cannot be bound).
  static absl::StatusOr<std::unique_ptr<Server>> BuildAndStart(
      const ServerOptions& options);

  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound gRPC port.
  int port() const { return port_; }
  // The bound metrics port, or 0 when metrics are disabled.
  int metrics_port() const {
    return metrics_http_ == nullptr ? 0 : metrics_http_->port();
  }
  const std::string& model_name() const { return model_name_; }
  const std::string& model_version() const { return model_version_; }

  // Blocks until Shutdown() has finished.
  void Wait() ABSL_LOCKS_EXCLUDED(shutdown_mutex_);

  // Stops accepting calls, lets in-flight calls finish for up to
  // options.shutdown_grace (then cancels them), drains the worker pool and
  // stops the metrics endpoint. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(shutdown_mutex_);

 private:
  explicit Server(const ServerOptions& options);

  // Constant after BuildAndStart. Declared in dependency order: later
  // members use earlier ones.
  const ServerOptions options_;
  std::string model_name_;
  std::string model_version_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<AdaptationStore> store_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<FewShotService> service_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;

  absl::Mutex shutdown_mutex_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mutex_) = false;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_SERVER_H_
