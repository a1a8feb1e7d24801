// Implements the /metrics HTTP endpoint with cpp-httplib.
#include "server/metrics_http_server.h"

#include <httplib.h>

#include <chrono>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fewshot::server {
namespace {

// The content type of the Prometheus text exposition format.
constexpr char kMetricsContentType[] = "text/plain; version=0.0.4";

// How many milliseconds to wait for the serving loop to start.
constexpr int kStartPolls = 1000;

struct HostPort {
  std::string host;
  int port = 0;
};

// Splits "host:port" or "[v6-host]:port".
absl::StatusOr<HostPort> ParseAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  HostPort parsed;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &parsed.port) ||
      parsed.port < 0 || parsed.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address is \"", address, "\"; expected host:port"));
  }
  absl::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  parsed.host = std::string(host);
  return parsed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  absl::StatusOr<HostPort> host_port = ParseAddress(address);
  if (!host_port.ok()) return host_port.status();

  // Route GET /metrics to the renderer.
  auto http = std::make_unique<httplib::Server>();
  http->Get("/metrics", [render = std::move(render)](const httplib::Request&,
                                                     httplib::Response& res) {
    res.set_content(render(), kMetricsContentType);
  });

  // Bind now so that a taken port fails startup instead of the thread.
  int port = host_port->port;
  if (port == 0) {
    port = http->bind_to_any_port(host_port->host);
  } else if (!http->bind_to_port(host_port->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", address,
                     " (address in use or not local?)"));
  }
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(std::move(http), port));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<httplib::Server> http,
                                     int port)
    : http_(std::move(http)), port_(port) {
  serving_thread_ = std::thread([this] { http_->listen_after_bind(); });

  // httplib ignores stop() until its loop runs, so wait for it (briefly).
  for (int i = 0; i < kStartPolls && !http_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  http_->stop();
  if (serving_thread_.joinable()) serving_thread_.join();
}

}  // namespace fewshot::server
