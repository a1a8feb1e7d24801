// PNG decoding with libpng's simplified API, which handles every bit depth,
// palette, colour type and alpha channel.
#include "core/data/image_decoder.h"

#include <png.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fewshot::core {
namespace {

constexpr unsigned char kPngSignature[8] = {0x89, 'P',  'N',  'G',
                                            '\r', '\n', 0x1a, '\n'};

}  // namespace

absl::StatusOr<GrayImage> DecodeImage(absl::string_view bytes,
                                      const ImageLimits& limits) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError("image is empty");
  }
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("image is ", bytes.size(), " bytes; the limit is ",
                     limits.max_bytes));
  }
  if (bytes.size() < sizeof(kPngSignature) ||
      std::memcmp(bytes.data(), kPngSignature, sizeof(kPngSignature)) != 0) {
    return absl::InvalidArgumentError(
        "image is not a PNG (bad signature); send PNG bytes or a tensor");
  }

  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    const std::string message = image.message;
    png_image_free(&image);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read PNG header: ", message));
  }

  const int64_t pixels = static_cast<int64_t>(image.width) * image.height;
  if (image.width == 0 || image.height == 0 || pixels > limits.max_pixels) {
    const std::string size = absl::StrCat(image.width, "x", image.height);
    png_image_free(&image);
    return absl::InvalidArgumentError(
        absl::StrCat("image is ", size, " pixels; at most ",
                     limits.max_pixels, " pixels are accepted"));
  }

  // Gray output; a transparent pixel is composited over white.
  image.format = PNG_FORMAT_GRAY;
  png_color white{255, 255, 255};
  std::vector<unsigned char> buffer(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, &white, buffer.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode PNG: ", message));
  }

  GrayImage gray;
  gray.width = static_cast<int>(image.width);
  gray.height = static_cast<int>(image.height);
  gray.pixels.resize(buffer.size());
  for (size_t i = 0; i < buffer.size(); ++i) {
    gray.pixels[i] = buffer[i] / 255.0f;
  }
  return gray;
}

}  // namespace fewshot::core
