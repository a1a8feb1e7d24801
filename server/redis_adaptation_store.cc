// Implements the Redis adaptation store with hiredis.
#include "server/redis_adaptation_store.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/adapt/state_codec.h"
#include "core/util/status_macros.h"

namespace fewshot::server {
namespace {

// KEYS[1] adaptation, KEYS[2] id set; ARGV id, revision, state. Creates
// the adaptation unless it exists: 1 created, 0 exists.
constexpr char kPutScript[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'state', ARGV[3]) "
    "redis.call('SADD', KEYS[2], ARGV[1]) "
    "return 1";

// KEYS[1] adaptation; ARGV expected revision, new revision, state. -1 no
// such adaptation, 0 revision changed, 1 replaced.
constexpr char kUpdateScript[] =
    "local rev = redis.call('HGET', KEYS[1], 'rev') "
    "if not rev then return -1 end "
    "if rev ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'state', ARGV[3]) "
    "return 1";

// KEYS[1] adaptation, KEYS[2] id set; ARGV id. Deleted count.
constexpr char kDeleteScript[] =
    "local n = redis.call('DEL', KEYS[1]) "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "return n";

}  // namespace

absl::StatusOr<std::unique_ptr<RedisAdaptationStore>>
RedisAdaptationStore::Connect(RedisAdaptationStoreOptions options) {
  std::unique_ptr<RedisAdaptationStore> store(
      new RedisAdaptationStore(std::move(options)));
  FEWSHOT_ASSIGN_OR_RETURN(Reply pong, store->Command({"PING"}));
  if (pong.text != "PONG") {
    return absl::UnavailableError(
        absl::StrCat("redis at ", store->options_.host, ":",
                     store->options_.port, " answered PING with ", pong.text));
  }
  return store;
}

RedisAdaptationStore::RedisAdaptationStore(RedisAdaptationStoreOptions options)
    : options_(std::move(options)),
      ids_key_(absl::StrCat(options_.key_prefix, "ids")) {}

RedisAdaptationStore::~RedisAdaptationStore() {
  absl::MutexLock lock(&mutex_);
  if (context_ != nullptr) redisFree(context_);
}

absl::StatusOr<std::string> RedisAdaptationStore::Put(
    std::shared_ptr<const core::AdaptationState> state) {
  FEWSHOT_ASSIGN_OR_RETURN(std::string id, NewAdaptationId());
  FEWSHOT_ASSIGN_OR_RETURN(
      Reply reply, Command({"EVAL", kPutScript, "2", Key(id), ids_key_, id,
                            absl::StrCat(state->revision),
                            core::EncodeAdaptationState(*state)}));
  if (reply.integer != 1) {
    return absl::InternalError(
        absl::StrCat("adaptation id ", id, " already exists in redis"));
  }
  return id;
}

absl::StatusOr<std::shared_ptr<const core::AdaptationState>>
RedisAdaptationStore::Get(const std::string& id) {
  FEWSHOT_ASSIGN_OR_RETURN(Reply reply, Command({"HGET", Key(id), "state"}));
  if (reply.is_nil) return UnknownAdaptationError(id);
  FEWSHOT_ASSIGN_OR_RETURN(core::AdaptationState state,
                           core::DecodeAdaptationState(reply.text));
  return std::make_shared<const core::AdaptationState>(std::move(state));
}

absl::Status RedisAdaptationStore::Update(
    const std::string& id, std::shared_ptr<const core::AdaptationState> state,
    int64_t expected_revision) {
  FEWSHOT_ASSIGN_OR_RETURN(
      Reply reply,
      Command({"EVAL", kUpdateScript, "1", Key(id),
               absl::StrCat(expected_revision), absl::StrCat(state->revision),
               core::EncodeAdaptationState(*state)}));
  if (reply.integer == -1) return UnknownAdaptationError(id);
  if (reply.integer == 0) {
    return absl::AbortedError(absl::StrCat(
        "adaptation_id \"", id, "\" changed concurrently; try again"));
  }
  return absl::OkStatus();
}

absl::Status RedisAdaptationStore::Delete(const std::string& id) {
  FEWSHOT_ASSIGN_OR_RETURN(Reply reply, Command({"EVAL", kDeleteScript, "2",
                                                 Key(id), ids_key_, id}));
  if (reply.integer == 0) return UnknownAdaptationError(id);
  return absl::OkStatus();
}

int64_t RedisAdaptationStore::size() const {
  absl::StatusOr<Reply> reply = Command({"SCARD", ids_key_});
  return reply.ok() ? reply->integer : -1;
}

std::string RedisAdaptationStore::Key(const std::string& id) const {
  return absl::StrCat(options_.key_prefix, "adaptation:", id);
}

absl::Status RedisAdaptationStore::ConnectLocked() const {
  mutex_.AssertHeld();
  if (context_ != nullptr) redisFree(context_);
  context_ = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                     absl::ToTimeval(options_.timeout));
  if (context_ == nullptr || context_->err != 0) {
    const std::string why =
        context_ == nullptr ? "out of memory" : context_->errstr;
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
    return absl::UnavailableError(absl::StrCat("cannot connect to redis at ",
                                               options_.host, ":",
                                               options_.port, ": ", why));
  }
  redisSetTimeout(context_, absl::ToTimeval(options_.timeout));
  return absl::OkStatus();
}

absl::StatusOr<RedisAdaptationStore::Reply> RedisAdaptationStore::Command(
    const std::vector<std::string>& args) const {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }

  absl::MutexLock lock(&mutex_);
  redisReply* reply = nullptr;
  for (int attempt = 0; attempt < 2 && reply == nullptr; ++attempt) {
    if (context_ == nullptr || context_->err != 0) {
      FEWSHOT_RETURN_IF_ERROR(ConnectLocked());
    }
    reply = static_cast<redisReply*>(redisCommandArgv(
        context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  }
  if (reply == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "redis command ", args[0],
        " failed: ", context_ != nullptr ? context_->errstr : "no connection"));
  }

  Reply result;
  absl::Status status;
  switch (reply->type) {
    case REDIS_REPLY_INTEGER:
      result.integer = reply->integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      result.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_NIL:
      result.is_nil = true;
      break;
    case REDIS_REPLY_ERROR:
      status = absl::InternalError(
          absl::StrCat("redis command ", args[0],
                       " failed: ", std::string(reply->str, reply->len)));
      break;
    default:
      status = absl::InternalError(
          absl::StrCat("redis command ", args[0],
                       " gave an unexpected reply type ", reply->type));
  }
  freeReplyObject(reply);
  if (!status.ok()) return status;
  return result;
}

}  // namespace fewshot::server
