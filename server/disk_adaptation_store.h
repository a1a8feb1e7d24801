// A durable adaptation store: an append-only log of serialised operations
// in one folder, synced to disk before a write is acknowledged, replayed on
// start and compacted when mostly dead, with a bounded in-memory cache in
// front of it.
//
// Log record: u32 marker, u8 type (put or delete), i64 revision, u32 id
// size, u64 body size, the id, the body (core/adapt/state_codec.h for a
// put), and a u64 checksum of everything before it. A torn record at the
// end (a crash during a write that was never acknowledged) is cut off on
// start.
//
// Example:
//   absl::StatusOr<std::unique_ptr<DiskAdaptationStore>> store =
//       DiskAdaptationStore::Open({.dir = "/var/lib/fewshot"});
#ifndef FEWSHOT_SERVER_DISK_ADAPTATION_STORE_H_
#define FEWSHOT_SERVER_DISK_ADAPTATION_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/adapt/adaptation_state.h"
#include "server/adaptation_store.h"

namespace fewshot::server {

struct DiskAdaptationStoreOptions {
  // The folder holding the log; created if missing.
  std::string dir;
  // The memory cache's budget and idle time to live. Evicted or expired
  // states stay on disk and are read back on the next use.
  InMemoryAdaptationStoreOptions cache;
  // The log is rewritten with live records only once it is larger than
  // this and more than half of it is dead.
  int64_t compact_min_bytes = 64 << 20;
};

// Thread-safe. Writes are serialised: each appends one record and syncs it
// (fdatasync) before returning, so an acknowledged write survives a crash
// of the process or the machine.
//
// NOTE: one process per folder; nothing stops two from sharing one.
class DiskAdaptationStore final : public AdaptationStore {
 public:
  // Opens or creates the log in options.dir and replays it. INTERNAL for
  // an I/O error; a damaged tail is cut off with a warning.
  static absl::StatusOr<std::unique_ptr<DiskAdaptationStore>> Open(
      DiskAdaptationStoreOptions options);

  ~DiskAdaptationStore() override;

  DiskAdaptationStore(const DiskAdaptationStore&) = delete;
  DiskAdaptationStore& operator=(const DiskAdaptationStore&) = delete;

  // \see AdaptationStore.
  absl::StatusOr<std::string> Put(
      std::shared_ptr<const core::AdaptationState> state) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> Get(
      const std::string& id) override ABSL_LOCKS_EXCLUDED(mutex_);
  absl::Status Update(const std::string& id,
                      std::shared_ptr<const core::AdaptationState> state,
                      int64_t expected_revision) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  absl::Status Delete(const std::string& id) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  int64_t size() const override ABSL_LOCKS_EXCLUDED(mutex_);
  // Bytes held by the memory cache.
  int64_t bytes() const override;

  // Rewrites the log with live records only. Open and writes call it when
  // the log is mostly dead; public for tests.
  absl::Status Compact() ABSL_LOCKS_EXCLUDED(mutex_);

  // The log's current size in bytes.
  int64_t log_bytes() const ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  // Where a live state's latest record body sits in the log.
  struct Location {
    int64_t offset = 0;
    int64_t length = 0;
    int64_t revision = 0;
  };

  DiskAdaptationStore(DiskAdaptationStoreOptions options, int fd);

  // Reads the log, fills index_, and cuts off a damaged tail.
  absl::Status Replay() ABSL_LOCKS_EXCLUDED(mutex_);

  // Appends one record and syncs it; on success sets `*body_at` to where
  // its body starts.
  absl::Status AppendLocked(uint8_t type, const std::string& id,
                            int64_t revision, const std::string& body,
                            int64_t* body_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Reads the body at `location`.
  absl::StatusOr<std::string> ReadBodyLocked(const Location& location)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  absl::Status CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status MaybeCompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Constant after construction.
  const DiskAdaptationStoreOptions options_;
  const std::string log_path_;

  InMemoryAdaptationStore cache_;

  mutable absl::Mutex mutex_;
  int fd_ ABSL_GUARDED_BY(mutex_);
  int64_t log_size_ ABSL_GUARDED_BY(mutex_) = 0;
  // Bytes of the records index_ points at.
  int64_t live_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::flat_hash_map<std::string, Location> index_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_DISK_ADAPTATION_STORE_H_
