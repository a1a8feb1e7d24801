// Reads the Prometheus page of a fewshot-server started by a test.
#ifndef FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_
#define FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_

#include <string>

namespace fewshot::testing {

// The body of GET /metrics on 127.0.0.1:`port`, or "" when it cannot be
// read within a few seconds.
std::string ScrapeMetrics(int port);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_
