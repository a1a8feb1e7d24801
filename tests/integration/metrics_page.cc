// Fetches /metrics over HTTP with cpp-httplib, and reads samples out of
// the Prometheus text format.
#include "tests/integration/metrics_page.h"

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fewshot::testing {

std::string ScrapeMetrics(int port) {
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(2);
  http.set_read_timeout(5);
  httplib::Result result = http.Get("/metrics");
  if (!result || result->status != 200) return "";
  return result->body;
}

double SampleValue(const std::string& page, const std::string& name,
                   const std::vector<std::string>& labels) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (!rest.empty() && rest[0] != '{' && rest[0] != ' ') continue;
    bool matches = true;
    for (const std::string& label : labels) {
      matches = matches && absl::StrContains(rest, label);
    }
    const size_t space = rest.rfind(' ');
    double value = -1;
    if (matches && space != absl::string_view::npos &&
        absl::SimpleAtod(rest.substr(space + 1), &value)) {
      return value;
    }
  }
  return -1;
}

}  // namespace fewshot::testing
