// Small in-memory data sets for core tests, so that they run without
// Omniglot.
#ifndef FEWSHOT_TESTS_CORE_SYNTHETIC_DATASET_H_
#define FEWSHOT_TESTS_CORE_SYNTHETIC_DATASET_H_

#include <string>

#include "core/data/image_dataset.h"

namespace fewshot::testing {

// `classes` classes of `per_class` images of size x size. Every pixel of
// image i of class c holds (c * per_class + i) % 256, so each image can be
// traced back to its class and index.
inline core::ImageDataset MakeTracedDataset(int classes, int per_class,
                                            int size = 28) {
  core::ImageDataset dataset;
  const int64_t n = static_cast<int64_t>(classes) * per_class;
  dataset.images =
      (torch::arange(n, torch::kInt64) % 256)
          .to(torch::kUInt8)
          .view({n, 1, 1})
          .expand({n, size, size})
          .contiguous();
  for (int c = 0; c <= classes; ++c) {
    dataset.class_begin.push_back(static_cast<int64_t>(c) * per_class);
  }
  for (int c = 0; c < classes; ++c) {
    dataset.class_names.push_back("class" + std::to_string(c));
  }
  return dataset;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_CORE_SYNTHETIC_DATASET_H_
