// The serving-side view of the embedding network: batched, inference-only,
// safe to call from many threads at once.
//
// Example:
//   Encoder encoder(bundle.encoder, bundle.metadata.preprocessing);
//   absl::StatusOr<torch::Tensor> embeddings = encoder.Embed(batch);
#ifndef FEWSHOT_CORE_MODEL_ENCODER_H_
#define FEWSHOT_CORE_MODEL_ENCODER_H_

#include <torch/torch.h>

#include <memory>

#include "absl/status/statusor.h"
#include "core/data/preprocessing.h"
#include "core/model/conv4.h"
#include "core/model/folded_conv4.h"

namespace fewshot::core {

struct EncoderOptions {
  // When true, Embed() runs the network with its batch norms folded into
  // the convolutions and on oneDNN (see FoldedConv4): several times faster,
  // equal up to float rounding. When false, it runs the eager network.
  bool optimize = true;
};

// Owns a Conv4 in eval mode. Thread-safe: Embed() only reads the weights
// and runs under torch::NoGradGuard.
//
// NOTE: the optimized form is a snapshot of the weights taken by the
// constructor; do not keep training `network` behind an optimized Encoder.
class Encoder {
 public:
  // Takes ownership of `network` and switches it to eval mode. If folding
  // fails, logs a warning and runs the eager network (see optimized()).
  Encoder(Conv4 network, Preprocessing preprocessing,
          const EncoderOptions& options = {});

  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // batch: float [n, C, H, W] matching preprocessing(); n >= 1.
  // Returns float [n, embedding_size()], or INVALID_ARGUMENT for a wrong
  // shape and INTERNAL if LibTorch fails.
  absl::StatusOr<torch::Tensor> Embed(const torch::Tensor& batch) const;

  const Preprocessing& preprocessing() const { return preprocessing_; }
  int64_t embedding_size() const { return embedding_size_; }

  // Whether Embed() runs the folded network.
  bool optimized() const { return folded_ != nullptr; }

 private:
  Conv4 network_;
  // The folded form when optimized; null runs network_ eagerly.
  std::unique_ptr<const FoldedConv4> folded_;
  Preprocessing preprocessing_;
  int64_t embedding_size_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_MODEL_ENCODER_H_
