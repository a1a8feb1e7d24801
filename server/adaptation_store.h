// Where the server keeps adaptations between Adapt and Predict: an
// interface so that memory, disk and shared stores are interchangeable,
// and the in-memory store with least-recently-used eviction.
//
// Example:
//   InMemoryAdaptationStore store({.capacity = 10000});
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

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/adapt/adaptation_state.h"

namespace fewshot::server {

// Implementations are thread-safe. States are immutable once stored, so
// readers share them without copying.
class AdaptationStore {
 public:
  virtual ~AdaptationStore() = default;

  // Keeps `state` under a new, unguessable id and returns the id.
  virtual absl::StatusOr<std::string> Put(
      std::shared_ptr<const core::AdaptationState> state) = 0;

  // Returns the state kept under `id`, or NOT_FOUND.
  virtual absl::StatusOr<std::shared_ptr<const core::AdaptationState>> Get(
      const std::string& id) = 0;

  // Forgets the state kept under `id`; NOT_FOUND if there is none.
  virtual absl::Status Delete(const std::string& id) = 0;

  // The number of states kept.
  virtual int64_t size() const = 0;
};

struct InMemoryAdaptationStoreOptions {
  // States kept at most; Put() beyond it evicts the least recently used.
  int64_t capacity = 10000;
  // Called once per evicted state, outside the store's lock; may be empty.
  std::function<void()> on_evict;
};

// Keeps states in process memory; they are lost when the process exits.
// Get() and Put() count as uses for the eviction order.
class InMemoryAdaptationStore final : public AdaptationStore {
 public:
  // REQUIRES: options.capacity >= 1.
  explicit InMemoryAdaptationStore(InMemoryAdaptationStoreOptions options);

  InMemoryAdaptationStore(const InMemoryAdaptationStore&) = delete;
  InMemoryAdaptationStore& operator=(const InMemoryAdaptationStore&) = delete;

  // \see AdaptationStore.
  absl::StatusOr<std::string> Put(
      std::shared_ptr<const core::AdaptationState> state) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> Get(
      const std::string& id) override ABSL_LOCKS_EXCLUDED(mutex_);
  absl::Status Delete(const std::string& id) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  int64_t size() const override ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Entry {
    std::shared_ptr<const core::AdaptationState> state;
    // This entry's place in recency_.
    std::list<std::string>::iterator recency;
  };

  // Constant after construction.
  const InMemoryAdaptationStoreOptions options_;

  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mutex_);
  // Ids from most to least recently used.
  std::list<std::string> recency_ ABSL_GUARDED_BY(mutex_);
};

// Returns a new random 128-bit id as 32 lowercase hex digits, drawn from
// the operating system's cryptographic random source.
absl::StatusOr<std::string> NewAdaptationId();

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_ADAPTATION_STORE_H_
