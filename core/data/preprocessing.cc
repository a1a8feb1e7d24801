// Image resizing, inversion and normalisation shared by training and
// serving.
#include "core/data/preprocessing.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fewshot::core {
namespace {

// For each destination index along one axis, the source cells it covers
// and their weights (overlap lengths, summing to the scale).
struct AxisWeights {
  std::vector<int> first;
  std::vector<std::vector<float>> weights;
};

AxisWeights ComputeAxisWeights(int source_size, int target_size) {
  AxisWeights axis;
  const double scale = static_cast<double>(source_size) / target_size;
  for (int out = 0; out < target_size; ++out) {
    const double begin = out * scale;
    const double end = begin + scale;
    const int first = static_cast<int>(std::floor(begin));
    const int last = std::min(source_size - 1,
                              static_cast<int>(std::ceil(end)) - 1);
    std::vector<float> weights;
    for (int in = first; in <= last; ++in) {
      const double overlap =
          std::min<double>(end, in + 1) - std::max<double>(begin, in);
      weights.push_back(static_cast<float>(std::max(0.0, overlap) / scale));
    }
    axis.first.push_back(first);
    axis.weights.push_back(std::move(weights));
  }
  return axis;
}

}  // namespace

absl::Status ValidatePreprocessing(const Preprocessing& preprocessing) {
  if (preprocessing.channels != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "preprocessing.channels is ", preprocessing.channels,
        "; only 1 (grayscale) is supported"));
  }
  if (preprocessing.height < 1 || preprocessing.width < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "preprocessing size is ", preprocessing.height, "x",
        preprocessing.width, "; both must be >= 1"));
  }
  if (!(preprocessing.stddev > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "preprocessing.stddev is ", preprocessing.stddev, "; must be > 0"));
  }
  return absl::OkStatus();
}

GrayImage ResizeArea(const GrayImage& image, int height, int width) {
  const AxisWeights rows = ComputeAxisWeights(image.height, height);
  const AxisWeights cols = ComputeAxisWeights(image.width, width);

  GrayImage out;
  out.height = height;
  out.width = width;
  out.pixels.assign(static_cast<size_t>(height) * width, 0.0f);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      float sum = 0.0f;
      for (size_t i = 0; i < rows.weights[y].size(); ++i) {
        const int source_y = rows.first[y] + static_cast<int>(i);
        const float* source_row = &image.pixels[source_y * image.width];
        float row_sum = 0.0f;
        for (size_t j = 0; j < cols.weights[x].size(); ++j) {
          row_sum += cols.weights[x][j] * source_row[cols.first[x] + j];
        }
        sum += rows.weights[y][i] * row_sum;
      }
      out.pixels[y * width + x] = sum;
    }
  }
  return out;
}

torch::Tensor ImageToBytes(const GrayImage& image,
                           const Preprocessing& preprocessing) {
  const GrayImage resized =
      ResizeArea(image, preprocessing.height, preprocessing.width);
  torch::Tensor bytes = torch::empty(
      {preprocessing.height, preprocessing.width}, torch::kUInt8);
  uint8_t* data = bytes.data_ptr<uint8_t>();
  for (size_t i = 0; i < resized.pixels.size(); ++i) {
    float value = std::clamp(resized.pixels[i], 0.0f, 1.0f);
    if (preprocessing.invert) value = 1.0f - value;
    data[i] = static_cast<uint8_t>(std::lround(value * 255.0f));
  }
  return bytes;
}

torch::Tensor NormalizeBytes(const torch::Tensor& bytes,
                             const Preprocessing& preprocessing) {
  torch::Tensor values = bytes.to(torch::kFloat32).div_(255.0f);
  values.sub_(preprocessing.mean).div_(preprocessing.stddev);
  return values.unsqueeze(-3);
}

torch::Tensor ImageToInput(const GrayImage& image,
                           const Preprocessing& preprocessing) {
  return NormalizeBytes(ImageToBytes(image, preprocessing), preprocessing);
}

}  // namespace fewshot::core
