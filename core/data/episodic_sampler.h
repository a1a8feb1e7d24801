// Draws N-way K-shot Q-query episodes from an ImageDataset. Episode i of a
// sampler depends only on (seed, i), so training can resume exactly and
// evaluations are reproducible.
//
// Example:
//   EpisodicSampler sampler(&dataset, {.ways = 5, .shots = 1, .queries = 15},
//                           preprocessing, /*seed=*/7);
//   Episode episode = sampler.Sample(/*index=*/0);
#ifndef FEWSHOT_CORE_DATA_EPISODIC_SAMPLER_H_
#define FEWSHOT_CORE_DATA_EPISODIC_SAMPLER_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "core/data/image_dataset.h"
#include "core/data/preprocessing.h"

namespace fewshot::core {

struct EpisodeShape {
  int ways = 5;
  int shots = 1;
  int queries = 15;  // Per class.
};

// One episode. Rows are class-major: the support rows of episode class 0
// come first, then class 1, and so on; the same for queries.
struct Episode {
  torch::Tensor support;         // float [ways * shots, C, H, W]
  torch::Tensor support_labels;  // int64 [ways * shots], values 0..ways-1
  torch::Tensor query;           // float [ways * queries, C, H, W]
  torch::Tensor query_labels;    // int64 [ways * queries]
  // The sampled classes, as virtual class ids (see EpisodicSampler).
  std::vector<int64_t> classes;
};

struct SamplerOptions {
  // Adds each class rotated by 90, 180 and 270 degrees as three new
  // classes, as is usual for Omniglot training.
  bool rotations = false;
  // When true, every class of an episode comes from one group; groups
  // are given by `class_group` (e.g. the alphabet of each character).
  bool within_group = false;
  std::vector<int> class_group;
};

// Thread-safe: Sample() is const and keeps no state between calls.
class EpisodicSampler {
 public:
  // REQUIRES: `dataset` outlives the sampler.
  EpisodicSampler(const ImageDataset* dataset, EpisodeShape shape,
                  Preprocessing preprocessing, uint64_t seed,
                  SamplerOptions options = {});

  // Returns INVALID_ARGUMENT when the data set cannot supply the shape:
  // too few classes, or a class with fewer than shots + queries images.
  absl::Status Validate() const;

  // Classes the sampler draws from (4x the data set's with rotations).
  int64_t num_virtual_classes() const;

  // REQUIRES: Validate() is OK.
  Episode Sample(int64_t index) const;

 private:
  const ImageDataset* dataset_;
  EpisodeShape shape_;
  Preprocessing preprocessing_;
  uint64_t seed_;
  SamplerOptions options_;
  int rotations_per_class_;
  // With options.within_group: the virtual classes of each group that can
  // fill an episode.
  std::vector<std::vector<int64_t>> group_classes_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_EPISODIC_SAMPLER_H_
