// The Conv-4 embedding network of the few-shot literature: four blocks of
// [3x3 convolution with 64 filters, batch norm, ReLU, 2x2 max-pool],
// flattened into one embedding vector per image.
#ifndef FEWSHOT_CORE_MODEL_CONV4_H_
#define FEWSHOT_CORE_MODEL_CONV4_H_

#include <torch/torch.h>

namespace fewshot::core {

struct Conv4Options {
  int in_channels = 1;
  int hidden_channels = 64;
  int blocks = 4;
};

class Conv4Impl : public torch::nn::Module {
 public:
  explicit Conv4Impl(const Conv4Options& options = {});

  // x: float [batch, in_channels, H, W] -> float [batch, embedding].
  torch::Tensor forward(const torch::Tensor& x);

  // The embedding size for inputs of height x width.
  int64_t EmbeddingSize(int height, int width) const;

  const Conv4Options& options() const { return options_; }

  // The layers, four per block: Conv2d, BatchNorm2d, ReLU, MaxPool2d.
  const torch::nn::Sequential& body() const { return body_; }

 private:
  Conv4Options options_;
  torch::nn::Sequential body_{nullptr};
};
TORCH_MODULE(Conv4);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_MODEL_CONV4_H_
