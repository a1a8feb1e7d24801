// Reads the Prometheus page of a fewshot-server started by a test.
#ifndef FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_
#define FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_

#include <string>
#include <vector>

namespace fewshot::testing {

// The body of GET /metrics on 127.0.0.1:`port`, or "" when it cannot be
// read within a few seconds.
std::string ScrapeMetrics(int port);

// The value of the first sample of `name` in `page` whose labels contain
// every one of `labels` (each like `rpc="Classify"`), or -1 when there is
// none.
double SampleValue(const std::string& page, const std::string& name,
                   const std::vector<std::string>& labels = {});

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_INTEGRATION_METRICS_PAGE_H_
