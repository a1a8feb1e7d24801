// Validation and the binary cache format of ImageDataset.
//
// Cache layout (little-endian): magic "FSDS", format u32, fingerprint
// (u32 length + bytes), class count u64, height u64, width u64, image count
// u64, class_begin (count + 1) x i64, class names (u32 length + bytes each),
// then the uint8 pixels.
#include "core/data/image_dataset.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace fewshot::core {
namespace {

constexpr char kCacheMagic[4] = {'F', 'S', 'D', 'S'};
constexpr uint32_t kCacheFormat = 1;

template <typename T>
void WritePod(std::ostream& out, T value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(value));
}

void WriteString(std::ostream& out, const std::string& value) {
  WritePod<uint32_t>(out, static_cast<uint32_t>(value.size()));
  out.write(value.data(), static_cast<std::streamsize>(value.size()));
}

template <typename T>
bool ReadPod(std::istream& in, T* value) {
  return static_cast<bool>(
      in.read(reinterpret_cast<char*>(value), sizeof(*value)));
}

// A temporary name beside `path` that no other writer uses: processes
// training side by side may build the same cache at once, and the last
// rename wins with a complete file.
std::string UniqueTemporaryPath(const std::string& path) {
  static std::atomic<uint64_t> next_id{0};
  return absl::StrCat(path, ".tmp.", getpid(), ".", next_id.fetch_add(1));
}

bool ReadString(std::istream& in, std::string* value) {
  uint32_t size = 0;
  if (!ReadPod(in, &size) || size > (1u << 20)) return false;
  value->resize(size);
  return static_cast<bool>(in.read(value->data(), size));
}

}  // namespace

absl::Status ValidateDataset(const ImageDataset& dataset) {
  if (!dataset.images.defined() || dataset.images.dim() != 3 ||
      dataset.images.scalar_type() != torch::kUInt8) {
    return absl::InvalidArgumentError(
        "dataset.images must be a uint8 tensor [n, height, width]");
  }
  if (dataset.class_begin.size() != dataset.class_names.size() + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.class_begin has ", dataset.class_begin.size(),
        " entries; expected classes + 1 = ", dataset.class_names.size() + 1));
  }
  if (dataset.class_begin.front() != 0 ||
      dataset.class_begin.back() != dataset.images.size(0)) {
    return absl::InvalidArgumentError(
        "dataset.class_begin must start at 0 and end at the image count");
  }
  for (size_t c = 0; c + 1 < dataset.class_begin.size(); ++c) {
    if (dataset.class_begin[c + 1] <= dataset.class_begin[c]) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset class ", c, " has no images"));
    }
  }
  return absl::OkStatus();
}

absl::Status SaveDatasetCache(const ImageDataset& dataset,
                              const std::string& path,
                              const std::string& fingerprint) {
  const absl::Status valid = ValidateDataset(dataset);
  if (!valid.ok()) return valid;

  const std::filesystem::path target(path);
  std::error_code error;
  if (target.has_parent_path()) {
    std::filesystem::create_directories(target.parent_path(), error);
  }
  const std::string temporary = UniqueTemporaryPath(path);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write cache file ", temporary));
    }
    out.write(kCacheMagic, sizeof(kCacheMagic));
    WritePod<uint32_t>(out, kCacheFormat);
    WriteString(out, fingerprint);
    WritePod<uint64_t>(out, dataset.class_names.size());
    WritePod<uint64_t>(out, dataset.images.size(1));
    WritePod<uint64_t>(out, dataset.images.size(2));
    WritePod<uint64_t>(out, dataset.images.size(0));
    for (int64_t begin : dataset.class_begin) WritePod<int64_t>(out, begin);
    for (const std::string& name : dataset.class_names) {
      WriteString(out, name);
    }
    const torch::Tensor pixels = dataset.images.contiguous();
    out.write(reinterpret_cast<const char*>(pixels.data_ptr<uint8_t>()),
              pixels.numel());
    if (!out) {
      std::filesystem::remove(temporary, error);
      return absl::DataLossError(
          absl::StrCat("failed writing cache file ", temporary));
    }
  }
  std::filesystem::rename(temporary, target, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return absl::DataLossError(absl::StrCat("cannot rename ", temporary, " to ",
                                            path, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageDataset> LoadDatasetCache(const std::string& path,
                                              const std::string& fingerprint) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("no cache at ", path));

  char magic[4];
  uint32_t format = 0;
  std::string stored_fingerprint;
  if (!in.read(magic, sizeof(magic)) ||
      std::memcmp(magic, kCacheMagic, sizeof(magic)) != 0 ||
      !ReadPod(in, &format) || format != kCacheFormat ||
      !ReadString(in, &stored_fingerprint)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a dataset cache of this version"));
  }
  if (stored_fingerprint != fingerprint) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " was built from other data"));
  }

  uint64_t classes = 0, height = 0, width = 0, images = 0;
  if (!ReadPod(in, &classes) || !ReadPod(in, &height) || !ReadPod(in, &width) ||
      !ReadPod(in, &images) || classes > (1u << 24) ||
      height * width > (1u << 24)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has a damaged header"));
  }

  ImageDataset dataset;
  dataset.class_begin.resize(classes + 1);
  for (int64_t& begin : dataset.class_begin) {
    if (!ReadPod(in, &begin)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is truncated in the class index"));
    }
  }
  dataset.class_names.resize(classes);
  for (std::string& name : dataset.class_names) {
    if (!ReadString(in, &name)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is truncated in the class names"));
    }
  }
  dataset.images =
      torch::empty({static_cast<int64_t>(images), static_cast<int64_t>(height),
                    static_cast<int64_t>(width)},
                   torch::kUInt8);
  if (!in.read(reinterpret_cast<char*>(dataset.images.data_ptr<uint8_t>()),
               dataset.images.numel())) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is truncated in the pixels"));
  }

  const absl::Status valid = ValidateDataset(dataset);
  if (!valid.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is inconsistent: ", valid.message()));
  }
  return dataset;
}

}  // namespace fewshot::core
