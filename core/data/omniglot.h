// Loads the Omniglot data set from its two zip archives, decodes and
// resizes every drawing, and caches the result in a compact binary file so
// that later runs start in seconds.
//
// Example:
//   OmniglotOptions options;
//   options.data_dir = ResolveOmniglotDir(absl::GetFlag(FLAGS_data_dir));
//   absl::StatusOr<ImageDataset> train =
//       LoadOmniglot(OmniglotSplit::kBackground, options);
#ifndef FEWSHOT_CORE_DATA_OMNIGLOT_H_
#define FEWSHOT_CORE_DATA_OMNIGLOT_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/data/image_dataset.h"
#include "core/data/preprocessing.h"

namespace fewshot::core {

// The two official halves: 30 background alphabets (964 characters) for
// training and 20 evaluation alphabets (659 characters) for testing. They
// share no alphabet.
enum class OmniglotSplit { kBackground, kEvaluation };

// "background" or "evaluation".
const char* OmniglotSplitName(OmniglotSplit split);

// The environment variable that names the data folder when no flag does.
inline constexpr char kOmniglotDirEnv[] = "FEWSHOT_OMNIGLOT_DIR";
// The environment variable that names the cache folder when no flag does.
inline constexpr char kCacheDirEnv[] = "FEWSHOT_CACHE_DIR";

// Picks the data folder: `flag_value` if set, else $FEWSHOT_OMNIGLOT_DIR,
// else "../shared/data/omniglot" relative to the working directory.
std::string ResolveOmniglotDir(const std::string& flag_value);

// Picks the cache folder: `flag_value` if set, else $FEWSHOT_CACHE_DIR,
// else ".cache" relative to the working directory.
std::string ResolveCacheDir(const std::string& flag_value);

struct OmniglotOptions {
  // Folder holding images_background.zip and images_evaluation.zip.
  std::string data_dir;
  // Folder for the decoded cache; empty disables caching.
  std::string cache_dir;
  // Only height, width and invert are used; normalisation happens later.
  Preprocessing preprocessing;
};

// Loads one split, from the cache when it is current. Classes are ordered
// by alphabet, then character; images within a class by file name.
// Returns NOT_FOUND when the zip is missing.
absl::StatusOr<ImageDataset> LoadOmniglot(OmniglotSplit split,
                                          const OmniglotOptions& options);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_OMNIGLOT_H_
