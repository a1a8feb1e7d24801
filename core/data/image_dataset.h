// A class-indexed set of same-size grayscale images, held compactly as
// uint8 so that the whole Omniglot set fits in a few tens of megabytes.
#ifndef FEWSHOT_CORE_DATA_IMAGE_DATASET_H_
#define FEWSHOT_CORE_DATA_IMAGE_DATASET_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fewshot::core {

// Images of one class are contiguous rows of `images`. Not thread-safe to
// mutate; safe to read from many threads.
struct ImageDataset {
  // uint8 [num_images, height, width]; ink is high (already inverted).
  torch::Tensor images;
  // class_begin[c] .. class_begin[c + 1] are the rows of class c; its size
  // is num_classes() + 1.
  std::vector<int64_t> class_begin;
  // A readable name per class, e.g. "Greek/character03".
  std::vector<std::string> class_names;

  int num_classes() const { return static_cast<int>(class_names.size()); }
  int64_t num_images() const { return images.size(0); }
  int64_t class_size(int c) const {
    return class_begin[c + 1] - class_begin[c];
  }
};

// Checks the invariants above; returns INVALID_ARGUMENT naming the first
// one broken.
absl::Status ValidateDataset(const ImageDataset& dataset);

// Writes `dataset` to one binary file (atomically, via a temporary file).
absl::Status SaveDatasetCache(const ImageDataset& dataset,
                              const std::string& path,
                              const std::string& fingerprint);

// Reads a file written by SaveDatasetCache. Returns NOT_FOUND when the file
// is missing and FAILED_PRECONDITION when its fingerprint differs from
// `fingerprint` (the source changed) or it is damaged.
absl::StatusOr<ImageDataset> LoadDatasetCache(const std::string& path,
                                              const std::string& fingerprint);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_IMAGE_DATASET_H_
