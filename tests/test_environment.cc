// Resolves the folders described in test_environment.h.
#include "tests/test_environment.h"

#include <cstdlib>
#include <string>

namespace fewshot::testing {
namespace {

// The value of environment variable `name`, or `fallback` when unset.
std::string FromEnv(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::string OmniglotDir() {
  return FromEnv("FEWSHOT_OMNIGLOT_DIR", FEWSHOT_TEST_OMNIGLOT_DIR);
}

std::string CacheDir() {
  return FromEnv("FEWSHOT_CACHE_DIR", FEWSHOT_TEST_CACHE_DIR);
}

std::string ModelDir() {
  return FromEnv("FEWSHOT_MODEL_DIR", FEWSHOT_TEST_MODEL_DIR);
}

std::string ExamplesDir() { return FEWSHOT_TEST_EXAMPLES_DIR; }

std::string BinaryPath(const std::string& program) {
  return std::string(FEWSHOT_TEST_BIN_DIR) + "/" + program;
}

}  // namespace fewshot::testing
