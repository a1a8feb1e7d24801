// A digest of an encoder's weights: two encoders with the same fingerprint
// produce the same embeddings, so adaptation states built with one can be
// served by the other even when the bundle versions differ.
#ifndef FEWSHOT_CORE_BUNDLE_ENCODER_FINGERPRINT_H_
#define FEWSHOT_CORE_BUNDLE_ENCODER_FINGERPRINT_H_

#include <torch/torch.h>

#include <string>

namespace fewshot::core {

// 16 lowercase hex digits over the names, shapes and values of every
// parameter and buffer of `module`.
std::string EncoderFingerprint(const torch::nn::Module& module);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_BUNDLE_ENCODER_FINGERPRINT_H_
