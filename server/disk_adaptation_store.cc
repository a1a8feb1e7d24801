// Implements the append-only log store described in
// disk_adaptation_store.h.
#include "server/disk_adaptation_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/adapt/state_codec.h"
#include "core/util/checksum.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"

namespace fewshot::server {
namespace {

constexpr char kLogName[] = "adaptations.log";
constexpr char kCompactSuffix[] = ".compact";
constexpr uint32_t kRecordMarker = 0x46534c47;  // "GLSF" little-endian.
constexpr uint8_t kPutRecord = 1;
constexpr uint8_t kDeleteRecord = 2;
// Marker, type, revision, id size, body size.
constexpr int64_t kRecordHeaderSize = 4 + 1 + 8 + 4 + 8;
constexpr int64_t kRecordTrailerSize = 8;
// Ids are 32 hex digits; anything much longer is damage.
constexpr uint32_t kMaxIdSize = 256;

// An INTERNAL status for a failed system call on `path`.
absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

void AppendInt(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) {
    out->push_back(static_cast<char>(value >> (8 * i)));
  }
}

uint64_t ReadInt(const char* in, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<uint8_t>(in[i]);
  }
  return value;
}

// One whole record.
std::string EncodeRecord(uint8_t type, const std::string& id, int64_t revision,
                         const std::string& body) {
  std::string record;
  record.reserve(kRecordHeaderSize + id.size() + body.size() +
                 kRecordTrailerSize);
  AppendInt(kRecordMarker, 4, &record);
  AppendInt(type, 1, &record);
  AppendInt(static_cast<uint64_t>(revision), 8, &record);
  AppendInt(id.size(), 4, &record);
  AppendInt(body.size(), 8, &record);
  record.append(id);
  record.append(body);
  AppendInt(core::Checksum(record), 8, &record);
  return record;
}

// Writes all of `data` at the end of `fd` and syncs it.
absl::Status WriteAllAndSync(int fd, absl::string_view data,
                             const std::string& path) {
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(written));
  }
  if (::fdatasync(fd) != 0) return IoError("cannot sync", path);
  return absl::OkStatus();
}

// Reads exactly `size` bytes at `offset`; false at end of file.
absl::StatusOr<bool> ReadExactly(int fd, int64_t offset, int64_t size,
                                 std::string* out, const std::string& path) {
  out->resize(size);
  int64_t done = 0;
  while (done < size) {
    const ssize_t got =
        ::pread(fd, out->data() + done, size - done, offset + done);
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", path);
    }
    if (got == 0) return false;
    done += got;
  }
  return true;
}

// Syncs the folder so that a created or renamed file survives a crash.
absl::Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open", dir);
  const int result = ::fsync(fd);
  ::close(fd);
  if (result != 0) return IoError("cannot sync", dir);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DiskAdaptationStore>> DiskAdaptationStore::Open(
    DiskAdaptationStoreOptions options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError(
        "store_dir is empty; expected a folder for the adaptation log");
  }
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return IoError("cannot create", options.dir);
  }
  const std::string path = absl::StrCat(options.dir, "/", kLogName);
  const int fd =
      ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open", path);
  FEWSHOT_RETURN_IF_ERROR(SyncDir(options.dir));

  std::unique_ptr<DiskAdaptationStore> store(
      new DiskAdaptationStore(std::move(options), fd));
  FEWSHOT_RETURN_IF_ERROR(store->Replay());
  {
    absl::MutexLock lock(&store->mutex_);
    FEWSHOT_RETURN_IF_ERROR(store->MaybeCompactLocked());
  }
  FEWSHOT_LOG(INFO) << "adaptation log " << store->log_path_ << ": "
                    << store->size() << " adaptations, " << store->log_bytes()
                    << " bytes";
  return store;
}

DiskAdaptationStore::DiskAdaptationStore(DiskAdaptationStoreOptions options,
                                         int fd)
    : options_(std::move(options)),
      log_path_(absl::StrCat(options_.dir, "/", kLogName)),
      cache_(options_.cache),
      fd_(fd) {}

DiskAdaptationStore::~DiskAdaptationStore() {
  absl::MutexLock lock(&mutex_);
  if (fd_ >= 0) ::close(fd_);
}

absl::Status DiskAdaptationStore::Replay() {
  absl::MutexLock lock(&mutex_);
  int64_t offset = 0;
  std::string header;
  std::string rest;
  while (true) {
    // The header, then the id, body and checksum it announces.
    FEWSHOT_ASSIGN_OR_RETURN(
        bool whole,
        ReadExactly(fd_, offset, kRecordHeaderSize, &header, log_path_));
    if (!whole || ReadInt(header.data(), 4) != kRecordMarker) break;
    const uint8_t type = static_cast<uint8_t>(header[4]);
    const int64_t revision = static_cast<int64_t>(ReadInt(&header[5], 8));
    const uint32_t id_size = static_cast<uint32_t>(ReadInt(&header[13], 4));
    const uint64_t body_size = ReadInt(&header[17], 8);
    struct stat file;
    if (::fstat(fd_, &file) != 0) return IoError("cannot stat", log_path_);
    if (id_size > kMaxIdSize ||
        body_size > static_cast<uint64_t>(file.st_size)) {
      break;
    }
    FEWSHOT_ASSIGN_OR_RETURN(
        whole, ReadExactly(fd_, offset + kRecordHeaderSize,
                           id_size + body_size + kRecordTrailerSize, &rest,
                           log_path_));
    if (!whole) break;
    const size_t checked = rest.size() - kRecordTrailerSize;
    const uint64_t checksum = core::ExtendChecksum(
        core::Checksum(header), absl::string_view(rest).substr(0, checked));
    if (checksum != ReadInt(&rest[checked], 8)) break;

    // Apply it.
    const std::string id = rest.substr(0, id_size);
    const int64_t record_size = kRecordHeaderSize + rest.size();
    auto previous = index_.find(id);
    if (previous != index_.end()) {
      live_bytes_ -= kRecordHeaderSize + id_size + previous->second.length +
                     kRecordTrailerSize;
      index_.erase(previous);
    }
    if (type == kPutRecord) {
      index_[id] = Location{offset + kRecordHeaderSize + id_size,
                            static_cast<int64_t>(body_size), revision};
      live_bytes_ += record_size;
    }
    offset += record_size;
  }

  // Cut off whatever follows the last whole record.
  struct stat file;
  if (::fstat(fd_, &file) != 0) return IoError("cannot stat", log_path_);
  if (file.st_size > offset) {
    FEWSHOT_LOG(WARNING) << "adaptation log " << log_path_ << ": cutting off "
                         << file.st_size - offset
                         << " bytes of an incomplete or damaged record";
    if (::ftruncate(fd_, offset) != 0 || ::fdatasync(fd_) != 0) {
      return IoError("cannot truncate", log_path_);
    }
  }
  log_size_ = offset;
  return absl::OkStatus();
}

absl::StatusOr<std::string> DiskAdaptationStore::Put(
    std::shared_ptr<const core::AdaptationState> state) {
  FEWSHOT_ASSIGN_OR_RETURN(std::string id, NewAdaptationId());
  const std::string body = core::EncodeAdaptationState(*state);

  absl::MutexLock lock(&mutex_);
  int64_t body_at = 0;
  FEWSHOT_RETURN_IF_ERROR(
      AppendLocked(kPutRecord, id, state->revision, body, &body_at));
  index_[id] =
      Location{body_at, static_cast<int64_t>(body.size()), state->revision};
  live_bytes_ +=
      kRecordHeaderSize + id.size() + body.size() + kRecordTrailerSize;
  cache_.Insert(id, std::move(state));
  FEWSHOT_RETURN_IF_ERROR(MaybeCompactLocked());
  return id;
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
DiskAdaptationStore::Get(const std::string& id) {
  // Most reads are served by the cache.
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> cached =
      cache_.Get(id);
  if (cached.ok()) return cached;

  // Otherwise read the latest record, decode it outside the lock, and
  // cache it unless a newer revision was written meanwhile.
  std::string body;
  int64_t revision = 0;
  {
    absl::MutexLock lock(&mutex_);
    auto found = index_.find(id);
    if (found == index_.end()) return UnknownAdaptationError(id);
    revision = found->second.revision;
    FEWSHOT_ASSIGN_OR_RETURN(body, ReadBodyLocked(found->second));
  }
  FEWSHOT_ASSIGN_OR_RETURN(core::AdaptationState decoded,
                           core::DecodeAdaptationState(body));
  auto state =
      std::make_shared<const core::AdaptationState>(std::move(decoded));
  absl::MutexLock lock(&mutex_);
  auto found = index_.find(id);
  if (found != index_.end() && found->second.revision == revision) {
    cache_.Insert(id, state);
  }
  return state;
}

absl::Status DiskAdaptationStore::Update(
    const std::string& id, std::shared_ptr<const core::AdaptationState> state,
    int64_t expected_revision) {
  const std::string body = core::EncodeAdaptationState(*state);

  absl::MutexLock lock(&mutex_);
  auto found = index_.find(id);
  if (found == index_.end()) return UnknownAdaptationError(id);
  if (found->second.revision != expected_revision) {
    return absl::AbortedError(absl::StrCat(
        "adaptation_id \"", id, "\" changed concurrently; try again"));
  }
  int64_t body_at = 0;
  FEWSHOT_RETURN_IF_ERROR(
      AppendLocked(kPutRecord, id, state->revision, body, &body_at));
  live_bytes_ += static_cast<int64_t>(body.size()) - found->second.length;
  found->second =
      Location{body_at, static_cast<int64_t>(body.size()), state->revision};
  cache_.Insert(id, std::move(state));
  return MaybeCompactLocked();
}

absl::Status DiskAdaptationStore::Delete(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto found = index_.find(id);
  if (found == index_.end()) return UnknownAdaptationError(id);
  int64_t body_at = 0;
  FEWSHOT_RETURN_IF_ERROR(
      AppendLocked(kDeleteRecord, id, found->second.revision, "", &body_at));
  live_bytes_ -=
      kRecordHeaderSize + id.size() + found->second.length + kRecordTrailerSize;
  index_.erase(found);
  cache_.Delete(id).IgnoreError();
  return MaybeCompactLocked();
}

int64_t DiskAdaptationStore::size() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(index_.size());
}

int64_t DiskAdaptationStore::bytes() const { return cache_.bytes(); }

int64_t DiskAdaptationStore::log_bytes() const {
  absl::MutexLock lock(&mutex_);
  return log_size_;
}

absl::Status DiskAdaptationStore::Compact() {
  absl::MutexLock lock(&mutex_);
  return CompactLocked();
}

absl::Status DiskAdaptationStore::AppendLocked(uint8_t type,
                                               const std::string& id,
                                               int64_t revision,
                                               const std::string& body,
                                               int64_t* body_at) {
  mutex_.AssertHeld();
  const std::string record = EncodeRecord(type, id, revision, body);
  if (absl::Status status = WriteAllAndSync(fd_, record, log_path_);
      !status.ok()) {
    // Cut off a partial record so that later appends stay readable.
    if (::ftruncate(fd_, log_size_) != 0) {
      FEWSHOT_LOG(ERROR) << "cannot truncate " << log_path_ << ": "
                         << std::strerror(errno);
    }
    return status;
  }
  *body_at = log_size_ + kRecordHeaderSize + id.size();
  log_size_ += record.size();
  return absl::OkStatus();
}

absl::StatusOr<std::string> DiskAdaptationStore::ReadBodyLocked(
    const Location& location) {
  mutex_.AssertHeld();
  std::string body;
  FEWSHOT_ASSIGN_OR_RETURN(
      bool whole,
      ReadExactly(fd_, location.offset, location.length, &body, log_path_));
  if (!whole) {
    return absl::DataLossError(
        absl::StrCat(log_path_, " ends inside a record it indexed"));
  }
  return body;
}

absl::Status DiskAdaptationStore::MaybeCompactLocked() {
  mutex_.AssertHeld();
  if (log_size_ <= options_.compact_min_bytes || live_bytes_ * 2 > log_size_) {
    return absl::OkStatus();
  }
  return CompactLocked();
}

absl::Status DiskAdaptationStore::CompactLocked() {
  mutex_.AssertHeld();

  // Write the live records to a new file and sync it.
  const std::string compact_path = absl::StrCat(log_path_, kCompactSuffix);
  const int out = ::open(compact_path.c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return IoError("cannot create", compact_path);
  std::string records;
  absl::flat_hash_map<std::string, Location> moved;
  int64_t size = 0;
  for (const auto& [id, location] : index_) {
    absl::StatusOr<std::string> body = ReadBodyLocked(location);
    if (!body.ok()) {
      ::close(out);
      return body.status();
    }
    moved[id] =
        Location{size + kRecordHeaderSize + static_cast<int64_t>(id.size()),
                 location.length, location.revision};
    const std::string record =
        EncodeRecord(kPutRecord, id, location.revision, *body);
    size += record.size();
    records.append(record);
  }
  const absl::Status written = WriteAllAndSync(out, records, compact_path);
  ::close(out);
  FEWSHOT_RETURN_IF_ERROR(written);

  // Swap it in atomically, then reopen it for appending.
  if (::rename(compact_path.c_str(), log_path_.c_str()) != 0) {
    return IoError("cannot rename", compact_path);
  }
  FEWSHOT_RETURN_IF_ERROR(SyncDir(options_.dir));
  const int fd = ::open(log_path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot reopen", log_path_);
  ::close(fd_);
  fd_ = fd;
  FEWSHOT_LOG(INFO) << "compacted " << log_path_ << " from " << log_size_
                    << " to " << size << " bytes";
  index_ = std::move(moved);
  log_size_ = size;
  live_bytes_ = size;
  return absl::OkStatus();
}

}  // namespace fewshot::server
