// Measures the per-image work before the encoder: decoding a 105x105
// Omniglot-sized grayscale PNG and preprocessing it into a 28x28 input.
#include <benchmark/benchmark.h>
#include <png.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/data/image_decoder.h"
#include "core/data/preprocessing.h"

namespace fewshot::core {
namespace {

// Omniglot's image size.
constexpr int kSide = 105;

// A 105x105 grayscale PNG like an Omniglot character: white, with a few
// dark strokes.
const std::string& CharacterPng() {
  static const std::string* png = [] {
    std::vector<unsigned char> pixels(kSide * kSide, 255);
    for (int i = 10; i < 95; ++i) {
      for (int w = 0; w < 3; ++w) {
        pixels[i * kSide + 30 + w] = 0;           // Vertical stroke.
        pixels[(52 + w) * kSide + i] = 0;         // Horizontal stroke.
        pixels[i * kSide + (i + w) % kSide] = 0;  // Diagonal stroke.
      }
    }
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = kSide;
    image.height = kSide;
    image.format = PNG_FORMAT_GRAY;
    png_alloc_size_t size = 0;
    png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0,
                              nullptr);
    auto* bytes = new std::string(size, '\0');
    png_image_write_to_memory(&image, bytes->data(), &size, 0, pixels.data(), 0,
                              nullptr);
    bytes->resize(size);
    return bytes;
  }();
  return *png;
}

void BM_DecodePng(benchmark::State& state) {
  const std::string& png = CharacterPng();
  for (auto _ : state) {
    absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
    if (!image.ok()) {
      state.SkipWithError(image.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(image->pixels.data());
  }
  state.SetBytesProcessed(state.iterations() * png.size());
}
BENCHMARK(BM_DecodePng);

void BM_Preprocess(benchmark::State& state) {
  absl::StatusOr<GrayImage> image = DecodeImage(CharacterPng(), ImageLimits{});
  if (!image.ok()) {
    state.SkipWithError(image.status().ToString().c_str());
    return;
  }
  const Preprocessing preprocessing;
  for (auto _ : state) {
    torch::Tensor input = ImageToInput(*image, preprocessing);
    benchmark::DoNotOptimize(input.data_ptr());
  }
}
BENCHMARK(BM_Preprocess);

void BM_DecodeAndPreprocess(benchmark::State& state) {
  const std::string& png = CharacterPng();
  const Preprocessing preprocessing;
  for (auto _ : state) {
    absl::StatusOr<GrayImage> image = DecodeImage(png, ImageLimits{});
    if (!image.ok()) {
      state.SkipWithError(image.status().ToString().c_str());
      return;
    }
    torch::Tensor input = ImageToInput(*image, preprocessing);
    benchmark::DoNotOptimize(input.data_ptr());
  }
}
BENCHMARK(BM_DecodeAndPreprocess);

}  // namespace
}  // namespace fewshot::core
