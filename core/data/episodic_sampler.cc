// Seeded N-way K-shot episode sampling with optional rotated classes.
#include "core/data/episodic_sampler.h"

#include <algorithm>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"

namespace fewshot::core {
namespace {

// SplitMix64 finaliser: decorrelates (seed, index) into an RNG seed.
uint64_t MixSeed(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// `count` distinct values from 0..population-1, in random order.
std::vector<int64_t> SampleDistinct(int64_t population, int count,
                                    std::mt19937_64& rng) {
  std::vector<int64_t> values(population);
  for (int64_t i = 0; i < population; ++i) values[i] = i;
  for (int i = 0; i < count; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, population - 1);
    std::swap(values[i], values[pick(rng)]);
  }
  values.resize(count);
  return values;
}

}  // namespace

EpisodicSampler::EpisodicSampler(const ImageDataset* dataset,
                                 EpisodeShape shape,
                                 Preprocessing preprocessing, uint64_t seed,
                                 SamplerOptions options)
    : dataset_(dataset),
      shape_(shape),
      preprocessing_(preprocessing),
      seed_(seed),
      options_(std::move(options)),
      rotations_per_class_(options_.rotations ? 4 : 1) {
  if (!options_.within_group) return;
  std::map<int, std::vector<int64_t>> by_group;
  for (int64_t v = 0; v < num_virtual_classes(); ++v) {
    const size_t base = static_cast<size_t>(v / rotations_per_class_);
    if (base < options_.class_group.size()) {
      by_group[options_.class_group[base]].push_back(v);
    }
  }
  for (auto& [group, classes] : by_group) {
    if (static_cast<int>(classes.size()) >= shape_.ways) {
      group_classes_.push_back(std::move(classes));
    }
  }
}

int64_t EpisodicSampler::num_virtual_classes() const {
  return static_cast<int64_t>(dataset_->num_classes()) * rotations_per_class_;
}

absl::Status EpisodicSampler::Validate() const {
  if (shape_.ways < 2 || shape_.shots < 1 || shape_.queries < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "episode shape ", shape_.ways, "-way ", shape_.shots, "-shot ",
        shape_.queries, "-query needs ways >= 2, shots >= 1, queries >= 1"));
  }
  if (num_virtual_classes() < shape_.ways) {
    return absl::InvalidArgumentError(
        absl::StrCat(shape_.ways, "-way episodes need ", shape_.ways,
                     " classes; the data set has ", num_virtual_classes()));
  }
  const int64_t needed = shape_.shots + shape_.queries;
  for (int c = 0; c < dataset_->num_classes(); ++c) {
    if (dataset_->class_size(c) < needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "class ", dataset_->class_names[c], " has ",
          dataset_->class_size(c), " images; shots + queries = ", needed));
    }
  }
  if (options_.within_group && group_classes_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no group has ", shape_.ways, " classes for within-group episodes"));
  }
  return absl::OkStatus();
}

Episode EpisodicSampler::Sample(int64_t index) const {
  std::mt19937_64 rng(MixSeed(seed_, static_cast<uint64_t>(index)));

  // Pick the episode's classes.
  Episode episode;
  if (options_.within_group) {
    std::uniform_int_distribution<size_t> pick_group(
        0, group_classes_.size() - 1);
    const std::vector<int64_t>& group = group_classes_[pick_group(rng)];
    for (int64_t i : SampleDistinct(group.size(), shape_.ways, rng)) {
      episode.classes.push_back(group[i]);
    }
  } else {
    episode.classes =
        SampleDistinct(num_virtual_classes(), shape_.ways, rng);
  }

  // Pick the images of each class and split them into support and query.
  const int per_class = shape_.shots + shape_.queries;
  std::vector<torch::Tensor> support_parts, query_parts;
  for (int64_t virtual_class : episode.classes) {
    const int base = static_cast<int>(virtual_class / rotations_per_class_);
    const int quarter_turns =
        static_cast<int>(virtual_class % rotations_per_class_);
    const std::vector<int64_t> picks =
        SampleDistinct(dataset_->class_size(base), per_class, rng);
    std::vector<int64_t> rows;
    for (int64_t pick : picks) rows.push_back(dataset_->class_begin[base] + pick);

    torch::Tensor images = dataset_->images.index_select(
        0, torch::tensor(rows, torch::kInt64));
    if (quarter_turns != 0) images = torch::rot90(images, quarter_turns, {1, 2});
    support_parts.push_back(images.slice(0, 0, shape_.shots));
    query_parts.push_back(images.slice(0, shape_.shots, per_class));
  }

  // Assemble normalised inputs and class-major labels.
  episode.support = NormalizeBytes(torch::cat(support_parts), preprocessing_);
  episode.query = NormalizeBytes(torch::cat(query_parts), preprocessing_);
  const torch::Tensor classes = torch::arange(shape_.ways, torch::kInt64);
  episode.support_labels = classes.repeat_interleave(shape_.shots);
  episode.query_labels = classes.repeat_interleave(shape_.queries);
  return episode;
}

}  // namespace fewshot::core
