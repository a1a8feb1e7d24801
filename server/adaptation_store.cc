// Implements the in-memory adaptation store and id generation.
#include "server/adaptation_store.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fewshot::server {
namespace {

// Bytes of randomness in an id.
constexpr int kIdBytes = 16;

// The error returned for an id the store does not hold.
absl::Status UnknownIdError(const std::string& id) {
  return absl::NotFoundError(absl::StrCat(
      "adaptation_id \"", id,
      "\" is unknown; it may have been evicted or deleted, so adapt again"));
}

}  // namespace

absl::StatusOr<std::string> NewAdaptationId() {
  char bytes[kIdBytes];
  size_t filled = 0;
  while (filled < sizeof(bytes)) {
    const ssize_t got = getrandom(bytes + filled, sizeof(bytes) - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("getrandom failed: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(got);
  }
  return absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

InMemoryAdaptationStore::InMemoryAdaptationStore(
    InMemoryAdaptationStoreOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::string> InMemoryAdaptationStore::Put(
    std::shared_ptr<const core::AdaptationState> state) {
  absl::StatusOr<std::string> id = NewAdaptationId();
  if (!id.ok()) return id.status();

  // Insert as most recent, then evict from the old end while over capacity.
  // Evicted states are released after the lock is dropped.
  std::vector<std::shared_ptr<const core::AdaptationState>> evicted;
  {
    absl::MutexLock lock(&mutex_);
    recency_.push_front(*id);
    entries_[*id] = Entry{std::move(state), recency_.begin()};
    while (static_cast<int64_t>(entries_.size()) > options_.capacity) {
      auto oldest = entries_.find(recency_.back());
      evicted.push_back(std::move(oldest->second.state));
      entries_.erase(oldest);
      recency_.pop_back();
    }
  }

  // Report evictions.
  if (options_.on_evict) {
    for (size_t i = 0; i < evicted.size(); ++i) options_.on_evict();
  }
  return id;
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
InMemoryAdaptationStore::Get(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return UnknownIdError(id);
  recency_.splice(recency_.begin(), recency_, found->second.recency);
  return found->second.state;
}

absl::Status InMemoryAdaptationStore::Delete(const std::string& id) {
  // Declared before the lock so that the state is freed after unlocking.
  std::shared_ptr<const core::AdaptationState> released;
  absl::MutexLock lock(&mutex_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return UnknownIdError(id);
  released = std::move(found->second.state);
  recency_.erase(found->second.recency);
  entries_.erase(found);
  return absl::OkStatus();
}

int64_t InMemoryAdaptationStore::size() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(entries_.size());
}

}  // namespace fewshot::server
