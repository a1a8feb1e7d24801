// Decodes encoded images (PNG) from memory into GrayImage, with limits that
// keep hostile inputs from exhausting memory.
//
// Example:
//   absl::StatusOr<GrayImage> image = DecodeImage(bytes, ImageLimits{});
//   if (!image.ok()) return image.status();  // INVALID_ARGUMENT
#ifndef FEWSHOT_CORE_DATA_IMAGE_DECODER_H_
#define FEWSHOT_CORE_DATA_IMAGE_DECODER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/data/gray_image.h"

namespace fewshot::core {

// Bounds on what DecodeImage accepts.
struct ImageLimits {
  int64_t max_bytes = 4 << 20;        // Encoded size.
  int64_t max_pixels = 4096 * 4096;   // width * height before decoding.
};

// Decodes a PNG of any bit depth, grayscale or colour, with or without
// alpha (alpha is composited over white). Returns INVALID_ARGUMENT for
// empty, oversized, non-PNG or corrupt input. Thread-safe.
absl::StatusOr<GrayImage> DecodeImage(absl::string_view bytes,
                                      const ImageLimits& limits);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_IMAGE_DECODER_H_
