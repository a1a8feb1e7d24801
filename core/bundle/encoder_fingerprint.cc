// Hashes an encoder's named tensors into its fingerprint.
#include "core/bundle/encoder_fingerprint.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/checksum.h"

namespace fewshot::core {
namespace {

// Folds one named tensor into `checksum`.
uint64_t HashTensor(uint64_t checksum, const std::string& name,
                    const torch::Tensor& tensor) {
  const torch::Tensor values =
      tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  checksum = ExtendChecksum(checksum, name);
  checksum = ExtendChecksum(
      checksum, absl::StrCat("[", absl::StrJoin(values.sizes(), ","), "]"));
  return ExtendChecksum(
      checksum, absl::string_view(static_cast<const char*>(values.data_ptr()),
                                  values.numel() * values.element_size()));
}

}  // namespace

std::string EncoderFingerprint(const torch::nn::Module& module) {
  uint64_t checksum = kChecksumSeed;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    checksum = HashTensor(checksum, item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    checksum = HashTensor(checksum, item.key(), item.value());
  }
  return absl::StrCat(absl::Hex(checksum, absl::kZeroPad16));
}

}  // namespace fewshot::core
