// Implements SaveRandomBundle.
#include "tests/server/random_bundle.h"

#include <torch/torch.h>

#include <cmath>

#include "core/adapt/attention.h"
#include "core/adapt/maml.h"
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
  bundle.metadata.methods = {core::MethodSpec{.name = "protonet"}};
  bundle.metadata.training_split = "none";
  bundle.metadata.training_split_seed = 3;
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

absl::Status SaveRandomMultiHeadBundle(const std::string& dir, int seed) {
  absl::Status saved = SaveRandomBundle(dir, seed);
  if (!saved.ok()) return saved;
  absl::StatusOr<core::ModelBundle> bundle = core::LoadModelBundle(dir);
  if (!bundle.ok()) return bundle.status();
  torch::manual_seed(seed + 1);
  core::MethodSpec maml{.name = "maml",
                        .parameters_file = "heads/maml.pt",
                        .hyperparameters = {{"steps", 3}},
                        .temperature = 2.0};
  core::MethodSpec attention{.name = "attention",
                             .parameters_file = "heads/attention.pt",
                             .temperatures_by_shots = {{1, 0.5}, {4, 8.0}}};
  bundle->metadata.methods.push_back(maml);
  bundle->metadata.methods.push_back(attention);
  bundle->heads["maml"] =
      core::MamlHeadToParameters(core::InitialMamlHead(64, 2, 0.05));
  // Sharp attention and small maml steps, so that the untrained heads
  // still tell the tests' examples apart on a random encoder.
  core::AttentionHead attention_head = core::InitialAttentionHead(64, 16);
  attention_head.log_scale.fill_(std::log(1000.0f));
  bundle->heads["attention"] = core::AttentionHeadToParameters(attention_head);
  return core::SaveModelBundle(*bundle, dir);
}

}  // namespace fewshot::testing
