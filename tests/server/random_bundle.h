// Writes a small model bundle with random Conv-4 weights, for tests that
// need a servable model but not a trained one.
#ifndef FEWSHOT_TESTS_SERVER_RANDOM_BUNDLE_H_
#define FEWSHOT_TESTS_SERVER_RANDOM_BUNDLE_H_

#include <string>

#include "absl/status/status.h"

namespace fewshot::testing {

// The version recorded in bundles written by SaveRandomBundle.
inline constexpr char kRandomBundleVersion[] = "random-test-1";

// Saves a bundle with default Conv-4 options and preprocessing (28x28x1,
// 64-wide embeddings), method "protonet", weights drawn with `seed` and
// the given version.
absl::Status SaveRandomBundle(
    const std::string& dir, int seed = 0,
    const std::string& version = kRandomBundleVersion);

// As SaveRandomBundle, plus untrained "maml" (3 default steps, a learned
// schedule of two rates of 0.05, temperature 2) and "attention" (scale
// 1000) heads drawn with `seed`, so that every method can be served.
absl::Status SaveRandomMultiHeadBundle(const std::string& dir, int seed = 0);

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_SERVER_RANDOM_BUNDLE_H_
