// Read-only access to the entries of a zip file, used to read Omniglot
// without unpacking it.
#ifndef FEWSHOT_CORE_DATA_ZIP_ARCHIVE_H_
#define FEWSHOT_CORE_DATA_ZIP_ARCHIVE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

typedef struct zip zip_t;

namespace fewshot::core {

// Not thread-safe: use one ZipArchive per thread.
class ZipArchive {
 public:
  // Returns NOT_FOUND when `path` does not exist and INVALID_ARGUMENT when
  // it is not a readable zip.
  static absl::StatusOr<std::unique_ptr<ZipArchive>> Open(
      const std::string& path);
  ~ZipArchive();

  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  // Names of every file entry (folders excluded), sorted.
  std::vector<std::string> FileNames() const;

  // The uncompressed bytes of entry `name`, or NOT_FOUND.
  absl::StatusOr<std::string> Read(const std::string& name) const;

 private:
  explicit ZipArchive(zip_t* archive) : archive_(archive) {}
  zip_t* archive_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_DATA_ZIP_ARCHIVE_H_
