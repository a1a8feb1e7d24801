// Inference-only, thread-safe embedding.
#include "core/model/encoder.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/logging.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {

Encoder::Encoder(Conv4 network, Preprocessing preprocessing,
                 const EncoderOptions& options)
    : network_(std::move(network)),
      preprocessing_(preprocessing),
      embedding_size_(
          network_->EmbeddingSize(preprocessing.height, preprocessing.width)) {
  network_->eval();
  if (!options.optimize) return;

  absl::StatusOr<std::unique_ptr<FoldedConv4>> folded =
      FoldedConv4::Create(network_);
  if (!folded.ok()) {
    FEWSHOT_LOG(WARNING) << "encoder runs eagerly: " << folded.status();
    return;
  }
  folded_ = *std::move(folded);
}

absl::StatusOr<torch::Tensor> Encoder::Embed(const torch::Tensor& batch) const {
  const std::vector<int64_t> expected = {
      preprocessing_.channels, preprocessing_.height, preprocessing_.width};
  if (!batch.defined() || batch.dim() != 4 || batch.size(0) < 1 ||
      batch.sizes().slice(1).vec() != expected ||
      batch.scalar_type() != torch::kFloat32) {
    return absl::InvalidArgumentError(
        absl::StrCat("encoder input must be float32 [n>=1, ",
                     absl::StrJoin(expected, ", "), "]; got ",
                     batch.defined() ? absl::StrJoin(batch.sizes().vec(), ", ")
                                     : std::string("undefined")));
  }
  torch::NoGradGuard no_grad;
  if (folded_ != nullptr) return folded_->Forward(batch);
  return CallTorch("encoder forward", [&] {
    // forward() is not const in LibTorch, but in eval mode under no-grad
    // it only reads the weights.
    return network_.ptr()->forward(batch.contiguous());
  });
}

}  // namespace fewshot::core
