// Where the server keeps adaptations between calls: an interface so that
// memory, disk and shared stores are interchangeable, and the in-memory
// store, bounded by an entry count and a byte budget with least-recently-
// used eviction and an optional idle time to live.
//
// Example:
//   InMemoryAdaptationStore store({.capacity = 10000, .max_bytes = 1 << 30});
//   absl::StatusOr<std::string> id = store.Put(std::move(state));
//   absl::StatusOr<std::shared_ptr<const core::AdaptationState>> found =
//       store.Get(*id);
#ifndef FEWSHOT_SERVER_ADAPTATION_STORE_H_
#define FEWSHOT_SERVER_ADAPTATION_STORE_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/adapt/adaptation_state.h"

namespace fewshot::server {

// Implementations are thread-safe. States are immutable once stored, so
// readers share them without copying; a change stores a new state.
class AdaptationStore {
 public:
  virtual ~AdaptationStore() = default;

  // Keeps `state` under a new, unguessable id and returns the id. Once it
  // returns, the state is as durable as the store promises.
  virtual absl::StatusOr<std::string> Put(
      std::shared_ptr<const core::AdaptationState> state) = 0;

  // Returns the state kept under `id`, or NOT_FOUND.
  virtual absl::StatusOr<std::shared_ptr<const core::AdaptationState>> Get(
      const std::string& id) = 0;

  // Replaces the state kept under `id` by `state`, provided the kept one
  // still has revision `expected_revision`; ABORTED when another update
  // came first (read again and retry), NOT_FOUND when there is none.
  virtual absl::Status Update(
      const std::string& id, std::shared_ptr<const core::AdaptationState> state,
      int64_t expected_revision) = 0;

  // Forgets the state kept under `id`; NOT_FOUND if there is none.
  virtual absl::Status Delete(const std::string& id) = 0;

  // The number of states kept.
  virtual int64_t size() const = 0;

  // Approximate bytes of states held in memory.
  virtual int64_t bytes() const = 0;
};

struct InMemoryAdaptationStoreOptions {
  // States kept at most; more evict the least recently used.
  int64_t capacity = 10000;
  // Bytes of states (AdaptationState::ByteSize) kept at most; 0 means no
  // byte budget. The most recent state is kept even if it alone is larger.
  int64_t max_bytes = 0;
  // A state not used for this long is dropped; zero means never.
  absl::Duration ttl = absl::ZeroDuration();
  // Called once per state evicted for the budget, or dropped for the time
  // to live, outside the store's lock; may be empty.
  std::function<void()> on_evict = nullptr;
  std::function<void()> on_expire = nullptr;
  // The time source; empty means absl::Now. Tests set it.
  std::function<absl::Time()> clock = nullptr;
};

// Keeps states in process memory; they are lost when the process exits.
// Every Get, Put, Update and Insert counts as a use, for both the eviction
// order and the time to live.
class InMemoryAdaptationStore final : public AdaptationStore {
 public:
  // REQUIRES: options.capacity >= 1, options.max_bytes >= 0.
  explicit InMemoryAdaptationStore(InMemoryAdaptationStoreOptions options);

  InMemoryAdaptationStore(const InMemoryAdaptationStore&) = delete;
  InMemoryAdaptationStore& operator=(const InMemoryAdaptationStore&) = delete;

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
  int64_t bytes() const override ABSL_LOCKS_EXCLUDED(mutex_);

  // Keeps `state` under the caller's `id`, replacing any state there. For
  // stores that use this one as a cache in front of durable storage.
  void Insert(const std::string& id,
              std::shared_ptr<const core::AdaptationState> state)
      ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Entry {
    std::shared_ptr<const core::AdaptationState> state;
    int64_t bytes = 0;
    absl::Time last_used;
    // This entry's place in recency_.
    std::list<std::string>::iterator recency;
  };

  // States dropped under the lock, released and reported after it.
  struct Dropped {
    std::vector<std::shared_ptr<const core::AdaptationState>> evicted;
    std::vector<std::shared_ptr<const core::AdaptationState>> expired;
    std::vector<std::shared_ptr<const core::AdaptationState>> replaced;
  };

  absl::Time Now() const;

  // Inserts or replaces `id` as the most recent entry, then restores the
  // budgets and the time to live.
  void InsertLocked(const std::string& id,
                    std::shared_ptr<const core::AdaptationState> state,
                    Dropped* dropped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Drops entries idle longer than the time to live, then the least
  // recently used ones while over a budget (never the most recent).
  void EnforceLimitsLocked(Dropped* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  void EraseLocked(absl::flat_hash_map<std::string, Entry>::iterator entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Calls the eviction and expiry callbacks. Call without the lock.
  void Report(const Dropped& dropped) const ABSL_LOCKS_EXCLUDED(mutex_);

  // Constant after construction.
  const InMemoryAdaptationStoreOptions options_;

  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mutex_);
  // Ids from most to least recently used.
  std::list<std::string> recency_ ABSL_GUARDED_BY(mutex_);
  int64_t bytes_ ABSL_GUARDED_BY(mutex_) = 0;
};

// Returns a new random 128-bit id as 32 lowercase hex digits, drawn from
// the operating system's cryptographic random source.
absl::StatusOr<std::string> NewAdaptationId();

// The NOT_FOUND error for an id no store holds.
absl::Status UnknownAdaptationError(const std::string& id);

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_ADAPTATION_STORE_H_
