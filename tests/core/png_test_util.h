// Builds PNG bytes in memory for decoder and server tests.
#ifndef FEWSHOT_TESTS_CORE_PNG_TEST_UTIL_H_
#define FEWSHOT_TESTS_CORE_PNG_TEST_UTIL_H_

#include <png.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace fewshot::testing {

// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 gray, 2 gray +
// alpha, 3 RGB, 4 RGBA) as a PNG.
inline std::string EncodePng(const std::vector<unsigned char>& pixels,
                             int width, int height, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = channels == 1   ? PNG_FORMAT_GRAY
                 : channels == 2 ? PNG_FORMAT_GA
                 : channels == 3 ? PNG_FORMAT_RGB
                                 : PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0,
                                 nullptr)) {
    throw std::runtime_error(image.message);
  }
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&image, bytes.data(), &size, 0,
                                 pixels.data(), 0, nullptr)) {
    throw std::runtime_error(image.message);
  }
  bytes.resize(size);
  return bytes;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_CORE_PNG_TEST_UTIL_H_
