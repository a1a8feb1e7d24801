// The Omniglot loading options of the tests that read the real archives:
// the test environment's data folder and decoded cache.
#ifndef FEWSHOT_TESTS_CORE_OMNIGLOT_TEST_OPTIONS_H_
#define FEWSHOT_TESTS_CORE_OMNIGLOT_TEST_OPTIONS_H_

#include "core/data/omniglot.h"
#include "tests/test_environment.h"

namespace fewshot::testing {

// Options that read OmniglotDir() and cache decoded data in CacheDir().
inline core::OmniglotOptions TestOmniglotOptions() {
  core::OmniglotOptions options;
  options.data_dir = OmniglotDir();
  options.cache_dir = CacheDir();
  return options;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_CORE_OMNIGLOT_TEST_OPTIONS_H_
