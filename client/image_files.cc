// Implements reading support folders and query files: checks every file is
// a non-empty PNG and keeps a stable (name) order.
#include "client/image_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fewshot/v1/types.pb.h"

namespace fewshot::client {
namespace {

namespace fs = std::filesystem;

// The first eight bytes of every PNG file.
constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";
constexpr size_t kPngSignatureSize = sizeof(kPngSignature) - 1;

// True for names such as ".DS_Store" that file managers leave behind.
bool IsHidden(const fs::path& path) {
  return absl::StartsWith(path.filename().string(), ".");
}

// True when the file name ends in ".png", in any letter case.
bool HasPngName(const fs::path& path) {
  return absl::AsciiStrToLower(path.extension().string()) == ".png";
}

// Reads a whole PNG file; rejects other names, empty files and files that do
// not start with the PNG signature.
absl::StatusOr<std::string> ReadPngFile(const fs::path& path) {
  if (!HasPngName(path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": expected a .png file, got another file type"));
  }

  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  }
  std::string bytes((std::istreambuf_iterator<char>(file)),
                    std::istreambuf_iterator<char>());
  if (file.bad()) {
    return absl::DataLossError(absl::StrCat(path.string(), ": read failed"));
  }

  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": file is empty"));
  }
  if (bytes.compare(0, kPngSignatureSize, kPngSignature) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": not a PNG image (missing PNG signature)"));
  }
  return bytes;
}

// The visible entries of `dir`, sorted by name.
absl::StatusOr<std::vector<fs::path>> ListFolder(const fs::path& dir) {
  std::error_code error;
  fs::directory_iterator it(dir, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat(dir.string(), ": cannot list folder: ", error.message()));
  }

  std::vector<fs::path> entries;
  for (const fs::directory_entry& entry : it) {
    if (!IsHidden(entry.path())) entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Appends every visible file below `dir` (recursively, in path order) to
// `files`.
absl::Status ListFilesRecursively(const fs::path& dir,
                                  std::vector<fs::path>* files) {
  absl::StatusOr<std::vector<fs::path>> entries = ListFolder(dir);
  if (!entries.ok()) return entries.status();

  for (const fs::path& entry : *entries) {
    std::error_code error;
    if (fs::is_directory(entry, error)) {
      absl::Status status = ListFilesRecursively(entry, files);
      if (!status.ok()) return status;
    } else {
      files->push_back(entry);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<v1::LabeledExample>> ReadSupportFolder(
    const std::string& dir) {
  // Check the folder exists.
  std::error_code error;
  if (!fs::exists(dir, error)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": support folder does not exist"));
  }
  if (!fs::is_directory(dir, error)) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir,
        ": expected a support folder with one sub-folder per class, "
        "got a file"));
  }

  // Read each class folder in name order.
  absl::StatusOr<std::vector<fs::path>> class_dirs = ListFolder(dir);
  if (!class_dirs.ok()) return class_dirs.status();
  std::vector<v1::LabeledExample> support;
  for (const fs::path& class_dir : *class_dirs) {
    if (!fs::is_directory(class_dir, error)) {
      return absl::InvalidArgumentError(absl::StrCat(
          class_dir.string(),
          ": expected only class folders in the support folder, got a file"));
    }
    absl::StatusOr<std::vector<fs::path>> files = ListFolder(class_dir);
    if (!files.ok()) return files.status();
    if (files->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          class_dir.string(), ": class folder holds no .png files"));
    }

    const std::string label = class_dir.filename().string();
    for (const fs::path& file : *files) {
      if (fs::is_directory(file, error)) {
        return absl::InvalidArgumentError(absl::StrCat(
            file.string(),
            ": expected only .png files in a class folder, got a folder"));
      }
      absl::StatusOr<std::string> bytes = ReadPngFile(file);
      if (!bytes.ok()) return bytes.status();

      v1::LabeledExample& example = support.emplace_back();
      example.set_label(label);
      example.mutable_example()->set_image(*std::move(bytes));
    }
  }

  if (support.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": expected one sub-folder of .png files per class, found none"));
  }
  return support;
}

absl::StatusOr<std::vector<QueryFile>> ReadQueryFiles(
    const std::vector<std::string>& paths) {
  if (paths.empty()) {
    return absl::InvalidArgumentError(
        "queries: expected at least one file or folder, got none");
  }

  // Expand folders into their files, keeping the order of `paths`.
  std::vector<fs::path> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (!fs::exists(path, error)) {
      return absl::NotFoundError(absl::StrCat(path, ": does not exist"));
    }
    if (!fs::is_directory(path, error)) {
      files.emplace_back(path);
      continue;
    }
    const size_t before = files.size();
    absl::Status status = ListFilesRecursively(path, &files);
    if (!status.ok()) return status;
    if (files.size() == before) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": query folder holds no .png files"));
    }
  }

  // Read each file.
  std::vector<QueryFile> queries;
  queries.reserve(files.size());
  for (const fs::path& file : files) {
    absl::StatusOr<std::string> bytes = ReadPngFile(file);
    if (!bytes.ok()) return bytes.status();

    QueryFile& query = queries.emplace_back();
    query.path = file.string();
    query.example.set_image(*std::move(bytes));
  }
  return queries;
}

}  // namespace fewshot::client
