// Builds a seeded N-way K-shot episode of real Omniglot PNGs, read straight
// out of images_evaluation.zip, as API messages.
#ifndef FEWSHOT_TESTS_INTEGRATION_OMNIGLOT_EPISODE_H_
#define FEWSHOT_TESTS_INTEGRATION_OMNIGLOT_EPISODE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fewshot/v1/types.pb.h"

namespace fewshot::testing {

struct PngEpisode {
  std::vector<v1::LabeledExample> support;
  std::vector<v1::Example> queries;
  // The true label of each query.
  std::vector<std::string> query_labels;
};

// Picks `ways` characters of the evaluation set and, for each, `shots`
// support and `queries_per_class` query drawings, all chosen by `seed`.
// Labels are the character folders, e.g. "images_evaluation/Atlantean/
// character01".
absl::StatusOr<PngEpisode> ReadOmniglotEpisode(const std::string& zip_path,
                                               int ways, int shots,
                                               int queries_per_class,
                                               unsigned seed);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_INTEGRATION_OMNIGLOT_EPISODE_H_
