// A decoded single-channel image with float pixels, the common form between
// image decoding and model preprocessing.
#ifndef FEWSHOT_CORE_DATA_GRAY_IMAGE_H_
#define FEWSHOT_CORE_DATA_GRAY_IMAGE_H_

#include <vector>

namespace fewshot::core {

// Row-major pixels in [0, 1], where 0 is black and 1 is white. Colour images
// are converted to luminance when decoded.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<float> pixels;  // width * height values.
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_GRAY_IMAGE_H_
