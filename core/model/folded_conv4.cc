// Batch-norm folding and the oneDNN forward pass of Conv4.
#include "core/model/folded_conv4.h"

#include <ATen/Context.h>
#include <ATen/ops/mkldnn_convolution.h>
#include <ATen/ops/mkldnn_reorder_conv2d_weight.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

// Layers per Conv4 block: convolution, batch norm, ReLU, max-pool.
constexpr size_t kLayersPerBlock = 4;

// The convolution geometry the forward pass supports.
const std::vector<int64_t> kUnitStride = {1, 1};
const std::vector<int64_t> kUnitDilation = {1, 1};
const std::vector<int64_t> kNoPadding = {0, 0};
constexpr int64_t kGroups = 1;

// The values of a LibTorch option array.
std::vector<int64_t> Values(const torch::ExpandingArray<2>& array) {
  return {array->begin(), array->end()};
}

// Returns INVALID_ARGUMENT naming layer `index` unless `ok`.
absl::Status CheckLayer(bool ok, size_t index, const char* expected) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("Conv4 layer ", index, " is not ", expected));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FoldedConv4>> FoldedConv4::Create(
    const Conv4& network, bool use_mkldnn) {
  // Check the layout.
  const torch::nn::Sequential& body = network->body();
  if (body->size() == 0 || body->size() % kLayersPerBlock != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Conv4 has ", body->size(), " layers; expected a positive multiple of ",
        kLayersPerBlock));
  }
  use_mkldnn = use_mkldnn && at::hasMKLDNN();

  // Fold each block in double precision, then pack it.
  std::vector<Block> blocks;
  for (size_t first = 0; first < body->size(); first += kLayersPerBlock) {
    const auto* conv = body->ptr(first)->as<torch::nn::Conv2dImpl>();
    const auto* norm = body->ptr(first + 1)->as<torch::nn::BatchNorm2dImpl>();
    const auto* pool = body->ptr(first + 3)->as<torch::nn::MaxPool2dImpl>();
    FEWSHOT_RETURN_IF_ERROR(CheckLayer(
        conv != nullptr && Values(conv->options.stride()) == kUnitStride &&
            Values(conv->options.dilation()) == kUnitDilation &&
            conv->options.groups() == kGroups &&
            c10::holds_alternative<torch::ExpandingArray<2>>(
                conv->options.padding()),
        first, "a Conv2d with stride 1, dilation 1, groups 1, fixed padding"));
    FEWSHOT_RETURN_IF_ERROR(
        CheckLayer(norm != nullptr && norm->options.track_running_stats(),
                   first + 1, "a BatchNorm2d with running statistics"));
    FEWSHOT_RETURN_IF_ERROR(
        CheckLayer(body->ptr(first + 2)->as<torch::nn::ReLUImpl>() != nullptr,
                   first + 2, "a ReLU"));
    FEWSHOT_RETURN_IF_ERROR(CheckLayer(
        pool != nullptr && Values(pool->options.padding()) == kNoPadding &&
            Values(pool->options.dilation()) == kUnitDilation &&
            !pool->options.ceil_mode(),
        first + 3, "a MaxPool2d without padding, dilation or ceil mode"));

    absl::StatusOr<Block> block = CallTorch("batch-norm folding", [&] {
      torch::NoGradGuard no_grad;
      const torch::Tensor weight = conv->weight.to(torch::kFloat64);
      const int64_t channels = weight.size(0);
      const torch::Tensor bias =
          conv->bias.defined() ? conv->bias.to(torch::kFloat64)
                               : torch::zeros({channels}, weight.options());
      const torch::Tensor gamma =
          norm->weight.defined() ? norm->weight.to(torch::kFloat64)
                                 : torch::ones({channels}, weight.options());
      const torch::Tensor beta =
          norm->bias.defined() ? norm->bias.to(torch::kFloat64)
                               : torch::zeros({channels}, weight.options());
      const torch::Tensor scale =
          gamma / torch::sqrt(norm->running_var.to(torch::kFloat64) +
                              norm->options.eps());

      Block folded;
      folded.padding =
          Values(c10::get<torch::ExpandingArray<2>>(conv->options.padding()));
      folded.pool_kernel = Values(pool->options.kernel_size());
      folded.pool_stride = Values(pool->options.stride());
      folded.weight =
          (weight * scale.view({-1, 1, 1, 1})).to(torch::kFloat32).contiguous();
      folded.bias =
          ((bias - norm->running_mean.to(torch::kFloat64)) * scale + beta)
              .to(torch::kFloat32)
              .contiguous();
      if (use_mkldnn) {
        folded.weight = at::mkldnn_reorder_conv2d_weight(
            folded.weight.to_mkldnn(), folded.padding, kUnitStride,
            kUnitDilation, kGroups);
      }
      return folded;
    });
    if (!block.ok()) return block.status();
    blocks.push_back(*std::move(block));
  }
  return std::unique_ptr<FoldedConv4>(
      new FoldedConv4(std::move(blocks), use_mkldnn));
}

FoldedConv4::FoldedConv4(std::vector<Block> blocks, bool use_mkldnn)
    : blocks_(std::move(blocks)), use_mkldnn_(use_mkldnn) {}

absl::StatusOr<torch::Tensor> FoldedConv4::Forward(
    const torch::Tensor& x) const {
  return CallTorch("folded encoder forward", [&] { return Run(x); });
}

torch::Tensor FoldedConv4::Run(const torch::Tensor& x) const {
  // oneDNN keeps activations in its own blocked layout between layers.
  torch::Tensor h = use_mkldnn_ ? x.contiguous().to_mkldnn() : x.contiguous();

  // Convolution (batch norm included), ReLU in place, max-pool.
  for (const Block& block : blocks_) {
    h = use_mkldnn_
            ? at::mkldnn_convolution(h, block.weight, block.bias, block.padding,
                                     kUnitStride, kUnitDilation, kGroups)
            : at::conv2d(h, block.weight, block.bias, kUnitStride,
                         block.padding, kUnitDilation, kGroups);
    h.relu_();
    h = at::max_pool2d(h, block.pool_kernel, block.pool_stride);
  }

  // Back to a dense NCHW tensor, one row per image.
  if (use_mkldnn_) h = h.to_dense();
  return h.flatten(/*start_dim=*/1);
}

}  // namespace fewshot::core
