// Reads zip entries with libzip.
#include "core/data/zip_archive.h"

#include <zip.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace fewshot::core {

absl::StatusOr<std::unique_ptr<ZipArchive>> ZipArchive::Open(
    const std::string& path) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("no such file: ", path));
  }
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (archive == nullptr) {
    zip_error_t zip_error;
    zip_error_init_with_code(&zip_error, error);
    const std::string message = zip_error_strerror(&zip_error);
    zip_error_fini(&zip_error);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open zip ", path, ": ", message));
  }
  return std::unique_ptr<ZipArchive>(new ZipArchive(archive));
}

ZipArchive::~ZipArchive() { zip_discard(archive_); }

std::vector<std::string> ZipArchive::FileNames() const {
  std::vector<std::string> names;
  const zip_int64_t count = zip_get_num_entries(archive_, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive_, i, 0);
    if (name == nullptr) continue;
    std::string entry(name);
    if (!entry.empty() && entry.back() != '/') names.push_back(entry);
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::string> ZipArchive::Read(const std::string& name) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(archive_, name.c_str(), 0, &stat) != 0 ||
      (stat.valid & ZIP_STAT_SIZE) == 0) {
    return absl::NotFoundError(absl::StrCat("no entry ", name, " in zip"));
  }

  zip_file_t* file = zip_fopen(archive_, name.c_str(), 0);
  if (file == nullptr) {
    return absl::DataLossError(absl::StrCat("cannot open entry ", name));
  }
  std::string bytes(stat.size, '\0');
  const zip_int64_t read = zip_fread(file, bytes.data(), stat.size);
  zip_fclose(file);
  if (read != static_cast<zip_int64_t>(stat.size)) {
    return absl::DataLossError(absl::StrCat("short read of entry ", name));
  }
  return bytes;
}

}  // namespace fewshot::core
