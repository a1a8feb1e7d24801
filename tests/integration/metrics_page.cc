// Fetches /metrics over HTTP with cpp-httplib.
#include "tests/integration/metrics_page.h"

#include <httplib.h>

namespace fewshot::testing {

std::string ScrapeMetrics(int port) {
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(2);
  http.set_read_timeout(5);
  httplib::Result result = http.Get("/metrics");
  if (!result || result->status != 200) return "";
  return result->body;
}

}  // namespace fewshot::testing
