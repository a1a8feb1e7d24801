// The inference-only form of Conv4 that the server runs: each batch norm
// folded into the convolution before it, and the convolutions run by
// oneDNN on pre-packed weights when LibTorch was built with it.
//
// Folding uses the eval-mode statistics: with s = gamma / sqrt(var + eps),
// the folded weight is w * s and the folded bias (b - mean) * s + beta.
//
// Example:
//   absl::StatusOr<std::unique_ptr<FoldedConv4>> folded =
//       FoldedConv4::Create(network);
//   absl::StatusOr<torch::Tensor> embeddings = (*folded)->Forward(batch);
#ifndef FEWSHOT_CORE_MODEL_FOLDED_CONV4_H_
#define FEWSHOT_CORE_MODEL_FOLDED_CONV4_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/conv4.h"

namespace fewshot::core {

// Immutable after Create(). Thread-safe: Forward() only reads the folded
// weights. It snapshots the network's weights and statistics, so later
// changes to the network (e.g. training) are not seen.
class FoldedConv4 {
 public:
  // Folds `network`. Returns INVALID_ARGUMENT if its layers are not the
  // Conv4 layout or a batch norm has no running statistics, and INTERNAL if
  // LibTorch fails. `use_mkldnn` false keeps plain dense convolutions (for
  // comparison); true uses oneDNN when LibTorch has it.
  static absl::StatusOr<std::unique_ptr<FoldedConv4>> Create(
      const Conv4& network, bool use_mkldnn = true);

  FoldedConv4(const FoldedConv4&) = delete;
  FoldedConv4& operator=(const FoldedConv4&) = delete;

  // x: float [n, C, H, W] -> float [n, embedding], the same
  // values as Conv4::forward in eval mode up to float rounding. Returns
  // INTERNAL if LibTorch fails. Call under torch::NoGradGuard.
  absl::StatusOr<torch::Tensor> Forward(const torch::Tensor& x) const;

  // Whether Forward() runs oneDNN convolutions.
  bool uses_mkldnn() const { return use_mkldnn_; }

 private:
  // One [convolution with folded batch norm, ReLU, max-pool] block.
  struct Block {
    torch::Tensor weight;  // Dense, or oneDNN-packed when use_mkldnn_.
    torch::Tensor bias;    // Dense.
    std::vector<int64_t> padding;
    std::vector<int64_t> pool_kernel;
    std::vector<int64_t> pool_stride;
  };

  FoldedConv4(std::vector<Block> blocks, bool use_mkldnn);

  // Runs the blocks; throws c10::Error on failure.
  torch::Tensor Run(const torch::Tensor& x) const;

  const std::vector<Block> blocks_;
  const bool use_mkldnn_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_MODEL_FOLDED_CONV4_H_
