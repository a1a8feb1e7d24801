// An adaptation store shared by server replicas: states live in a Redis
// server (one hash per adaptation: its revision and its serialised state),
// so an adaptation made or changed through one replica is usable through
// every other as soon as the call returns.
//
// Example:
//   absl::StatusOr<std::unique_ptr<RedisAdaptationStore>> store =
//       RedisAdaptationStore::Connect({.host = "127.0.0.1", .port = 6379});
#ifndef FEWSHOT_SERVER_REDIS_ADAPTATION_STORE_H_
#define FEWSHOT_SERVER_REDIS_ADAPTATION_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/adapt/adaptation_state.h"
#include "server/adaptation_store.h"

struct redisContext;

namespace fewshot::server {

struct RedisAdaptationStoreOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Prepended to every key, so that several deployments can share a Redis.
  std::string key_prefix = "fewshot:";
  // Deadline of connecting and of each command.
  absl::Duration timeout = absl::Seconds(2);
};

// Thread-safe; commands are serialised over one connection, which is
// re-opened after an error. Nothing is cached: every Get reads Redis, so
// replicas never serve a stale revision. Updates compare and set the
// revision atomically in a Lua script.
//
// NOTE: durability is Redis's (its RDB/AOF settings); an acknowledged
// write is in Redis's memory, not necessarily on its disk.
class RedisAdaptationStore final : public AdaptationStore {
 public:
  // Connects and checks the server answers PING; UNAVAILABLE otherwise.
  static absl::StatusOr<std::unique_ptr<RedisAdaptationStore>> Connect(
      RedisAdaptationStoreOptions options);

  ~RedisAdaptationStore() override;

  RedisAdaptationStore(const RedisAdaptationStore&) = delete;
  RedisAdaptationStore& operator=(const RedisAdaptationStore&) = delete;

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
  // The adaptations in Redis under this prefix, or -1 when unreachable.
  int64_t size() const override ABSL_LOCKS_EXCLUDED(mutex_);
  // Always 0: nothing is held in this process.
  int64_t bytes() const override { return 0; }

 private:
  // What one command returned.
  struct Reply {
    // An integer reply.
    int64_t integer = 0;
    // A string reply; nil leaves `is_nil` set.
    std::string text;
    bool is_nil = false;
  };

  explicit RedisAdaptationStore(RedisAdaptationStoreOptions options);

  // (Re)opens the connection.
  absl::Status ConnectLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Runs one command; UNAVAILABLE for connection trouble (after one
  // reconnect), INTERNAL for an error reply.
  absl::StatusOr<Reply> Command(const std::vector<std::string>& args) const
      ABSL_LOCKS_EXCLUDED(mutex_);

  std::string Key(const std::string& id) const;

  const RedisAdaptationStoreOptions options_;
  const std::string ids_key_;

  mutable absl::Mutex mutex_;
  mutable redisContext* context_ ABSL_GUARDED_BY(mutex_) = nullptr;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_REDIS_ADAPTATION_STORE_H_
