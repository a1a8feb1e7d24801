// Reads PNG files from disk into API examples: a support set from a folder
// with one sub-folder per class, and queries from files or folders.
#ifndef FEWSHOT_CLIENT_IMAGE_FILES_H_
#define FEWSHOT_CLIENT_IMAGE_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fewshot/v1/types.pb.h"

namespace fewshot::client {

// A query read from disk, with the path it came from.
struct QueryFile {
  std::string path;
  v1::Example example;
};

// Reads `dir`/<label>/*.png: each sub-folder is a class named after it.
// Classes and files are taken in name order; hidden entries (".name") are
// skipped. Returns NOT_FOUND for a missing folder and INVALID_ARGUMENT when
// it holds no class folder, a file beside the class folders, an empty class
// folder, or a file that is not a non-empty PNG.
absl::StatusOr<std::vector<v1::LabeledExample>> ReadSupportFolder(
    const std::string& dir);

// Reads each path: a PNG file, or a folder whose files (recursively, in name
// order, hidden entries skipped) are all taken. Returns NOT_FOUND for a
// missing path and INVALID_ARGUMENT for no paths, an empty folder, or a file
// that is not a non-empty PNG.
absl::StatusOr<std::vector<QueryFile>> ReadQueryFiles(
    const std::vector<std::string>& paths);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_IMAGE_FILES_H_
