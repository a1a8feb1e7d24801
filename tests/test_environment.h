// Where tests find Omniglot, the decoded cache, the bundled model, the
// example images and the built programs. Each can be overridden by the
// environment variable of the same purpose.
#ifndef FEWSHOT_TESTS_TEST_ENVIRONMENT_H_
#define FEWSHOT_TESTS_TEST_ENVIRONMENT_H_

#include <string>

namespace fewshot::testing {

// $FEWSHOT_OMNIGLOT_DIR, else ../shared/data/omniglot beside the project.
std::string OmniglotDir();
// $FEWSHOT_CACHE_DIR, else <build>/cache.
std::string CacheDir();
// $FEWSHOT_MODEL_DIR, else models/omniglot-conv4 in the project.
std::string ModelDir();
// examples/ in the project.
std::string ExamplesDir();
// The folder of the built programs, e.g. BinaryPath("fewshot-server").
std::string BinaryPath(const std::string& program);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_TEST_ENVIRONMENT_H_
