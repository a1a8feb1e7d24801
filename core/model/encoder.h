// The serving-side view of the embedding network: batched, inference-only,
// safe to call from many threads at once.
//
// Example:
//   absl::StatusOr<torch::Tensor> embeddings = encoder.Embed(batch);
#ifndef FEWSHOT_CORE_MODEL_ENCODER_H_
#define FEWSHOT_CORE_MODEL_ENCODER_H_

#include <torch/torch.h>

#include <memory>

#include "absl/status/statusor.h"
#include "core/data/preprocessing.h"
#include "core/model/conv4.h"

namespace fewshot::core {

// Owns a Conv4 in eval mode. Thread-safe: Embed() only reads the weights
// and runs under torch::NoGradGuard.
class Encoder {
 public:
  // Takes ownership of `network` and switches it to eval mode.
  Encoder(Conv4 network, Preprocessing preprocessing);

  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // batch: float [n, C, H, W] matching preprocessing(); n >= 1.
  // Returns float [n, embedding_size()], or INVALID_ARGUMENT for a wrong
  // shape and INTERNAL if LibTorch fails.
  absl::StatusOr<torch::Tensor> Embed(const torch::Tensor& batch) const;

  const Preprocessing& preprocessing() const { return preprocessing_; }
  int64_t embedding_size() const { return embedding_size_; }

 private:
  Conv4 network_;
  Preprocessing preprocessing_;
  int64_t embedding_size_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_MODEL_ENCODER_H_
