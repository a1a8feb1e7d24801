// Reads the small Omniglot episode committed under examples/omniglot (five
// classes of five support drawings, and two query drawings per class) as
// API messages, for end-to-end tests that need real PNGs.
#ifndef FEWSHOT_TESTS_INTEGRATION_EXAMPLE_IMAGES_H_
#define FEWSHOT_TESTS_INTEGRATION_EXAMPLE_IMAGES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fewshot/v1/types.pb.h"

namespace fewshot::testing {

struct ExampleClass {
  // The class folder name, e.g. "Atlantean_character05".
  std::string label;
  // The PNG bytes of its support drawings, in file name order.
  std::vector<std::string> support_pngs;
  // The PNG bytes of its query drawings, in file name order.
  std::vector<std::string> query_pngs;
};

// The classes under `examples_dir`/omniglot, in label order. Returns
// NOT_FOUND when the folder or a class's queries are missing.
absl::StatusOr<std::vector<ExampleClass>> ReadExampleClasses(
    const std::string& examples_dir);

// An Example holding `png`.
v1::Example PngExample(const std::string& png);

// A LabeledExample of `label` holding `png`.
v1::LabeledExample LabeledPng(const std::string& label, const std::string& png);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_INTEGRATION_EXAMPLE_IMAGES_H_
