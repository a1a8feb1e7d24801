// Implements the in-memory adaptation store and id generation.
#include "server/adaptation_store.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace fewshot::server {
namespace {

// Bytes of randomness in an id.
constexpr int kIdBytes = 16;

}  // namespace

absl::Status UnknownAdaptationError(const std::string& id) {
  return absl::NotFoundError(absl::StrCat(
      "adaptation_id \"", id,
      "\" is unknown; it may have expired, been evicted or deleted, so adapt "
      "again"));
}

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
  Insert(*id, std::move(state));
  return id;
}

void InMemoryAdaptationStore::Insert(
    const std::string& id, std::shared_ptr<const core::AdaptationState> state) {
  Dropped dropped;
  {
    absl::MutexLock lock(&mutex_);
    InsertLocked(id, std::move(state), &dropped);
  }
  Report(dropped);
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
InMemoryAdaptationStore::Get(const std::string& id) {
  Dropped dropped;
  absl::StatusOr<std::shared_ptr<const core::AdaptationState>> result;
  {
    absl::MutexLock lock(&mutex_);
    EnforceLimitsLocked(&dropped);
    auto found = entries_.find(id);
    if (found == entries_.end()) {
      result = UnknownAdaptationError(id);
    } else {
      found->second.last_used = Now();
      recency_.splice(recency_.begin(), recency_, found->second.recency);
      result = found->second.state;
    }
  }
  Report(dropped);
  return result;
}

absl::Status InMemoryAdaptationStore::Update(
    const std::string& id, std::shared_ptr<const core::AdaptationState> state,
    int64_t expected_revision) {
  Dropped dropped;
  absl::Status status;
  {
    absl::MutexLock lock(&mutex_);
    EnforceLimitsLocked(&dropped);
    auto found = entries_.find(id);
    if (found == entries_.end()) {
      status = UnknownAdaptationError(id);
    } else if (found->second.state->revision != expected_revision) {
      status = absl::AbortedError(absl::StrCat(
          "adaptation_id \"", id, "\" changed concurrently; try again"));
    } else {
      InsertLocked(id, std::move(state), &dropped);
    }
  }
  Report(dropped);
  return status;
}

absl::Status InMemoryAdaptationStore::Delete(const std::string& id) {
  // Declared before the lock so that the state is freed after unlocking.
  std::shared_ptr<const core::AdaptationState> released;
  absl::MutexLock lock(&mutex_);
  auto found = entries_.find(id);
  if (found == entries_.end()) return UnknownAdaptationError(id);
  released = found->second.state;
  EraseLocked(found);
  return absl::OkStatus();
}

int64_t InMemoryAdaptationStore::size() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int64_t>(entries_.size());
}

int64_t InMemoryAdaptationStore::bytes() const {
  absl::MutexLock lock(&mutex_);
  return bytes_;
}

absl::Time InMemoryAdaptationStore::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

void InMemoryAdaptationStore::InsertLocked(
    const std::string& id, std::shared_ptr<const core::AdaptationState> state,
    Dropped* dropped) {
  mutex_.AssertHeld();
  auto found = entries_.find(id);
  if (found != entries_.end()) {
    bytes_ -= found->second.bytes;
    recency_.splice(recency_.begin(), recency_, found->second.recency);
  } else {
    recency_.push_front(id);
    found = entries_.emplace(id, Entry{}).first;
    found->second.recency = recency_.begin();
  }
  Entry& entry = found->second;
  entry.bytes = state->ByteSize();
  std::swap(entry.state, state);
  if (state != nullptr) dropped->replaced.push_back(std::move(state));
  entry.last_used = Now();
  bytes_ += entry.bytes;
  EnforceLimitsLocked(dropped);
}

void InMemoryAdaptationStore::EnforceLimitsLocked(Dropped* dropped) {
  mutex_.AssertHeld();

  // Idle entries sit at the old end, since every use moves one to the front.
  if (options_.ttl > absl::ZeroDuration()) {
    const absl::Time cutoff = Now() - options_.ttl;
    while (!recency_.empty()) {
      auto oldest = entries_.find(recency_.back());
      if (oldest->second.last_used > cutoff) break;
      dropped->expired.push_back(oldest->second.state);
      EraseLocked(oldest);
    }
  }

  // Then the budgets, keeping at least the most recent entry.
  auto over_budget = [this] {
    mutex_.AssertHeld();
    return static_cast<int64_t>(entries_.size()) > options_.capacity ||
           (options_.max_bytes > 0 && bytes_ > options_.max_bytes);
  };
  while (entries_.size() > 1 && over_budget()) {
    auto oldest = entries_.find(recency_.back());
    dropped->evicted.push_back(oldest->second.state);
    EraseLocked(oldest);
  }
}

void InMemoryAdaptationStore::EraseLocked(
    absl::flat_hash_map<std::string, Entry>::iterator entry) {
  mutex_.AssertHeld();
  bytes_ -= entry->second.bytes;
  recency_.erase(entry->second.recency);
  entries_.erase(entry);
}

void InMemoryAdaptationStore::Report(const Dropped& dropped) const {
  if (options_.on_evict) {
    for (size_t i = 0; i < dropped.evicted.size(); ++i) options_.on_evict();
  }
  if (options_.on_expire) {
    for (size_t i = 0; i < dropped.expired.size(); ++i) options_.on_expire();
  }
}

}  // namespace fewshot::server
