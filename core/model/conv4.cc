// The Conv-4 embedding network.
#include "core/model/conv4.h"

namespace fewshot::core {

Conv4Impl::Conv4Impl(const Conv4Options& options) : options_(options) {
  torch::nn::Sequential body;
  int in_channels = options.in_channels;
  for (int block = 0; block < options.blocks; ++block) {
    body->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in_channels, options.hidden_channels,
                                 /*kernel_size=*/3)
            .padding(1)));
    body->push_back(torch::nn::BatchNorm2d(options.hidden_channels));
    body->push_back(torch::nn::ReLU());
    body->push_back(torch::nn::MaxPool2d(/*kernel_size=*/2));
    in_channels = options.hidden_channels;
  }
  body_ = register_module("body", body);
}

torch::Tensor Conv4Impl::forward(const torch::Tensor& x) {
  return body_->forward(x).flatten(/*start_dim=*/1);
}

int64_t Conv4Impl::EmbeddingSize(int height, int width) const {
  for (int block = 0; block < options_.blocks; ++block) {
    height /= 2;
    width /= 2;
  }
  return static_cast<int64_t>(options_.hidden_channels) * height * width;
}

}  // namespace fewshot::core
