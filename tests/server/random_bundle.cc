// Implements SaveRandomBundle.
#include "tests/server/random_bundle.h"

#include <torch/torch.h>

#include "core/bundle/model_bundle.h"
#include "core/model/conv4.h"

namespace fewshot::testing {

absl::Status SaveRandomBundle(const std::string& dir, int seed,
                              const std::string& version) {
  torch::manual_seed(seed);
  core::ModelBundle bundle;
  bundle.encoder = core::Conv4(core::Conv4Options{});
  bundle.metadata.name = "random-conv4";
  bundle.metadata.version = version;
  bundle.metadata.embedding_size = 64;
  bundle.metadata.methods = {"protonet"};
  bundle.metadata.training_split = "none";
  bundle.metadata.accuracy.push_back(
      core::AccuracyRecord{.method = "protonet",
                           .split = "omniglot/evaluation",
                           .ways = 5,
                           .shots = 5,
                           .queries = 15,
                           .episodes = 10,
                           .accuracy = 0.5,
                           .ci95 = 0.1});
  return core::SaveModelBundle(bundle, dir);
}

}  // namespace fewshot::testing
