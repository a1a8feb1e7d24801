// libFuzzer target for image decoding: feeds arbitrary bytes to
// core::DecodeImage and, when they decode, preprocesses the image with
// core::ImageToInput as the server does.
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/data/gray_image.h"
#include "core/data/image_decoder.h"
#include "core/data/preprocessing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The server's default limits and the Omniglot Conv-4 input recipe.
  static const fewshot::core::ImageLimits kLimits;
  static const fewshot::core::Preprocessing kPreprocessing;

  absl::StatusOr<fewshot::core::GrayImage> image = fewshot::core::DecodeImage(
      absl::string_view(reinterpret_cast<const char*>(data), size), kLimits);
  if (!image.ok()) return 0;
  fewshot::core::ImageToInput(*image, kPreprocessing);
  return 0;
}
