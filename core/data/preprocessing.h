// The recipe that turns a decoded image into the encoder's input tensor. It
// is stored in the model bundle so that training and serving agree.
#ifndef FEWSHOT_CORE_DATA_PREPROCESSING_H_
#define FEWSHOT_CORE_DATA_PREPROCESSING_H_

#include <torch/torch.h>

#include "absl/status/status.h"
#include "core/data/gray_image.h"

namespace fewshot::core {

struct Preprocessing {
  int channels = 1;
  int height = 28;
  int width = 28;
  // When true, pixel values are flipped (1 - v) so that dark ink on a light
  // background becomes high values, as in the training data.
  bool invert = true;
  // Applied after inversion: (v - mean) / stddev.
  float mean = 0.0f;
  float stddev = 1.0f;
};

// Returns INVALID_ARGUMENT when the recipe cannot be applied (non-positive
// sizes, stddev <= 0, channels other than 1).
absl::Status ValidatePreprocessing(const Preprocessing& preprocessing);

// Resizes `image` to height x width with an area (box) filter, so that every
// source pixel contributes in proportion to its overlap. Returns values in
// the source range, before inversion and normalisation.
GrayImage ResizeArea(const GrayImage& image, int height, int width);

// Resizes, inverts if asked, and returns a uint8 [height, width] tensor
// (0..255): the compact form kept in the data set cache.
torch::Tensor ImageToBytes(const GrayImage& image,
                           const Preprocessing& preprocessing);

// Converts uint8 images [..., H, W] from ImageToBytes into normalised float
// model input [..., 1, H, W].
torch::Tensor NormalizeBytes(const torch::Tensor& bytes,
                             const Preprocessing& preprocessing);

// The full path for one image: resize, invert, normalise. Returns a float
// tensor [channels, height, width].
torch::Tensor ImageToInput(const GrayImage& image,
                           const Preprocessing& preprocessing);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_PREPROCESSING_H_
