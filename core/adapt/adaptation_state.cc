// Size and count helpers of AdaptationState.
#include "core/adapt/adaptation_state.h"

namespace fewshot::core {

std::vector<int64_t> AdaptationState::ClassCounts() const {
  std::vector<int64_t> counts(labels.size(), 0);
  if (!support_labels.defined()) return counts;
  const torch::Tensor labels_cpu = support_labels.to(torch::kInt64);
  const int64_t* data = labels_cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels_cpu.numel(); ++i) {
    if (data[i] >= 0 && data[i] < static_cast<int64_t>(counts.size())) {
      ++counts[data[i]];
    }
  }
  return counts;
}

int64_t AdaptationState::ByteSize() const {
  auto tensor_bytes = [](const torch::Tensor& t) -> int64_t {
    return t.defined() ? t.numel() * t.element_size() : 0;
  };
  int64_t bytes = sizeof(*this) + method.size() + model_version.size() +
                  encoder_fingerprint.size() +
                  example_ids.size() * sizeof(int64_t);
  for (const std::string& label : labels) bytes += label.size();
  bytes += tensor_bytes(support_embeddings) + tensor_bytes(support_labels);
  for (const auto& [name, tensor] : derived) {
    bytes += name.size() + tensor_bytes(tensor);
  }
  return bytes;
}

}  // namespace fewshot::core
