// A small HTTP server that serves the Prometheus text page at GET /metrics
// on its own thread. It uses cpp-httplib because prometheus-cpp's Exposer
// (civetweb) fails to start in a process that has loaded LibTorch.
//
// Example:
//   absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http =
//       MetricsHttpServer::Start("127.0.0.1:9464",
//                                [&] { return metrics.Render(); });
#ifndef FEWSHOT_SERVER_METRICS_HTTP_SERVER_H_
#define FEWSHOT_SERVER_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace fewshot::server {

// Owns the listening socket and its thread; Stop() or the destructor ends
// both. Call Stop() from one thread at a time.
class MetricsHttpServer {
 public:
  // Binds `address` ("host:port"; port 0 picks a free port) and starts
  // serving `render()` at /metrics. Returns INVALID_ARGUMENT for a
  // malformed address and UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render);

  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port.
  int port() const { return port_; }

  // Stops listening and joins the serving thread. Idempotent.
  void Stop();

 private:
  MetricsHttpServer(std::unique_ptr<httplib::Server> http, int port);

  std::unique_ptr<httplib::Server> http_;
  int port_;
  std::thread serving_thread_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_METRICS_HTTP_SERVER_H_
