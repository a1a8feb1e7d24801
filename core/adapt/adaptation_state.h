// What one client's adaptation consists of: its labels, the embeddings of
// its support examples, and whatever the method derived from them. It is a
// plain value so that it can live in memory, on disk or in a shared store.
#ifndef FEWSHOT_CORE_ADAPT_ADAPTATION_STATE_H_
#define FEWSHOT_CORE_ADAPT_ADAPTATION_STATE_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fewshot::core {

struct AdaptationState {
  // The method that built the state, e.g. "protonet".
  std::string method;
  // The model bundle version whose encoder produced the embeddings; a state
  // must never be scored with another model's embeddings.
  std::string model_version;
  // Class index -> client label.
  std::vector<std::string> labels;
  // float [n, D]: the support embeddings, kept so that the state can be
  // rebuilt or extended.
  torch::Tensor support_embeddings;
  // int64 [n]: the class index of each support row.
  torch::Tensor support_labels;
  // Tensors the method derived, by name (e.g. "prototypes").
  std::map<std::string, torch::Tensor> derived;

  int num_classes() const { return static_cast<int>(labels.size()); }

  // Number of support examples per class index.
  std::vector<int64_t> ClassCounts() const;

  // Approximate memory held by the tensors and strings, in bytes.
  int64_t ByteSize() const;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ADAPTATION_STATE_H_
