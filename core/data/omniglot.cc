// Omniglot loading: zip -> decoded, resized uint8 images grouped by
// character, with a binary cache keyed by the zip and the preprocessing.
#include "core/data/omniglot.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/data/image_decoder.h"
#include "core/data/zip_archive.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"

namespace fewshot::core {
namespace {

// Bumped whenever decoding or resizing changes, to invalidate caches.
constexpr int kLoaderVersion = 1;

// The value of environment variable `name`, or empty.
std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

// Identifies the zip contents and the preprocessing cheaply: size and
// modification time of the zip, target size and polarity.
std::string Fingerprint(const std::string& zip_path,
                        const Preprocessing& preprocessing) {
  std::error_code error;
  const auto size = std::filesystem::file_size(zip_path, error);
  const auto time = std::filesystem::last_write_time(zip_path, error);
  return absl::StrCat("omniglot-v", kLoaderVersion, ";size=", size,
                      ";mtime=", time.time_since_epoch().count(),
                      ";h=", preprocessing.height,
                      ";w=", preprocessing.width,
                      ";invert=", preprocessing.invert);
}

// Decodes every drawing in the zip, grouped by "<Alphabet>/<character>".
absl::StatusOr<ImageDataset> DecodeZip(const std::string& zip_path,
                                       const Preprocessing& preprocessing) {
  FEWSHOT_ASSIGN_OR_RETURN(std::unique_ptr<ZipArchive> archive,
                           ZipArchive::Open(zip_path));

  // Entries look like images_background/<Alphabet>/<character>/<file>.png.
  std::map<std::string, std::vector<std::string>> files_by_class;
  for (const std::string& name : archive->FileNames()) {
    if (!absl::EndsWith(name, ".png")) continue;
    std::vector<std::string> parts = absl::StrSplit(name, '/');
    if (parts.size() != 4) continue;
    files_by_class[absl::StrCat(parts[1], "/", parts[2])].push_back(name);
  }
  if (files_by_class.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(zip_path, " holds no <alphabet>/<character>/*.png"));
  }

  ImageDataset dataset;
  std::vector<torch::Tensor> images;
  dataset.class_begin.push_back(0);
  const ImageLimits limits;
  for (const auto& [class_name, files] : files_by_class) {
    for (const std::string& file : files) {
      FEWSHOT_ASSIGN_OR_RETURN(std::string bytes, archive->Read(file));
      absl::StatusOr<GrayImage> image = DecodeImage(bytes, limits);
      if (!image.ok()) {
        return absl::DataLossError(
            absl::StrCat(file, ": ", image.status().message()));
      }
      images.push_back(ImageToBytes(*image, preprocessing));
    }
    dataset.class_names.push_back(class_name);
    dataset.class_begin.push_back(static_cast<int64_t>(images.size()));
  }
  dataset.images = torch::stack(images);
  return dataset;
}

}  // namespace

const char* OmniglotSplitName(OmniglotSplit split) {
  return split == OmniglotSplit::kBackground ? "background" : "evaluation";
}

std::string ResolveOmniglotDir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const std::string from_env = GetEnv(kOmniglotDirEnv);
  return from_env.empty() ? "../shared/data/omniglot" : from_env;
}

std::string ResolveCacheDir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  const std::string from_env = GetEnv(kCacheDirEnv);
  return from_env.empty() ? ".cache" : from_env;
}

absl::StatusOr<ImageDataset> LoadOmniglot(OmniglotSplit split,
                                          const OmniglotOptions& options) {
  FEWSHOT_RETURN_IF_ERROR(ValidatePreprocessing(options.preprocessing));
  const std::string split_name = OmniglotSplitName(split);
  const std::string zip_path = (std::filesystem::path(options.data_dir) /
                                absl::StrCat("images_", split_name, ".zip"))
                                   .string();
  if (!std::filesystem::exists(zip_path)) {
    return absl::NotFoundError(absl::StrCat(
        "Omniglot archive not found at ", zip_path,
        "; pass --data_dir or set ", kOmniglotDirEnv));
  }

  // Try the cache first.
  const std::string fingerprint =
      Fingerprint(zip_path, options.preprocessing);
  std::string cache_path;
  if (!options.cache_dir.empty()) {
    cache_path = (std::filesystem::path(options.cache_dir) /
                  absl::StrCat("omniglot_", split_name, "_",
                               options.preprocessing.height, "x",
                               options.preprocessing.width, ".bin"))
                     .string();
    absl::StatusOr<ImageDataset> cached =
        LoadDatasetCache(cache_path, fingerprint);
    if (cached.ok()) return cached;
    if (!absl::IsNotFound(cached.status())) {
      FEWSHOT_LOG(WARNING) << "rebuilding cache: "
                           << cached.status().message();
    }
  }

  // Decode the zip and refresh the cache.
  FEWSHOT_ASSIGN_OR_RETURN(ImageDataset dataset,
                           DecodeZip(zip_path, options.preprocessing));
  if (!cache_path.empty()) {
    const absl::Status saved =
        SaveDatasetCache(dataset, cache_path, fingerprint);
    if (!saved.ok()) {
      FEWSHOT_LOG(WARNING) << "could not cache Omniglot: " << saved.message();
    }
  }
  return dataset;
}

}  // namespace fewshot::core
