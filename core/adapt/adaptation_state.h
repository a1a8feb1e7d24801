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
  // A digest of that encoder's weights (see EncoderFingerprint), so that a
  // state can be carried over to a new model version with the same encoder.
  std::string encoder_fingerprint;
  // Class index -> client label.
  std::vector<std::string> labels;
  // float [n, D]: the support embeddings, kept so that the state can be
  // rebuilt or extended.
  torch::Tensor support_embeddings;
  // int64 [n]: the class index of each support row.
  torch::Tensor support_labels;
  // One stable id per support row, never reused within the state.
  std::vector<int64_t> example_ids;
  // The id the next added support row gets.
  int64_t next_example_id = 0;
  // Tensors the method derived, by name (e.g. "prototypes").
  std::map<std::string, torch::Tensor> derived;
  // When the state was created and last changed, in Unix milliseconds.
  int64_t created_unix_ms = 0;
  int64_t updated_unix_ms = 0;
  // Counts the changes since creation; stores use it to detect a
  // concurrent update of the same adaptation.
  int64_t revision = 0;

  int num_classes() const { return static_cast<int>(labels.size()); }

  // Number of support examples per class index.
  std::vector<int64_t> ClassCounts() const;

  // Approximate memory held by the tensors and strings, in bytes.
  int64_t ByteSize() const;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ADAPTATION_STATE_H_
