// Assembles, starts and stops the server described in server.h.
#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/bundle/model_bundle.h"
#include "core/util/logging.h"
#include "core/util/status_macros.h"
#include "core/util/torch_threads.h"
#include "server/disk_adaptation_store.h"
#ifdef FEWSHOT_HAVE_REDIS
#include "server/redis_adaptation_store.h"
#endif

namespace fewshot::server {
namespace {

// Gives the calling pool worker `threads` LibTorch intra-op threads, each
// worker being a thread of its own for LibTorch's setting; 0 leaves its
// default. A failure is logged: the worker still runs, only at another
// thread count.
void SetWorkerTorchThreads(int threads) {
  if (threads == 0) return;
  const absl::Status status = core::SetIntraOpThreadsOfThisThread(threads);
  if (!status.ok()) FEWSHOT_LOG(WARNING) << "pool worker: " << status;
}

// INVALID_ARGUMENT unless `value` >= `minimum`.
absl::Status CheckAtLeast(const char* field, int64_t value, int64_t minimum) {
  if (value >= minimum) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", value, "; expected at least ", minimum));
}

// Checks the options that have no natural fallback.
absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("address is empty; expected host:port");
  }
  if (options.model_dir.empty()) {
    return absl::InvalidArgumentError(
        "model_dir is empty; expected a model bundle folder");
  }
  const RequestLimits& limits = options.limits;
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_message_bytes", options.max_message_bytes, 1));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("grpc_max_threads", options.grpc_max_threads, 0));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("grpc_max_pollers", options.grpc_max_pollers, 0));
  FEWSHOT_RETURN_IF_ERROR(CheckAtLeast("workers", options.workers, 1));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("torch_threads", options.torch_threads, 0));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("queue_capacity", options.queue_capacity, 0));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_batch_size", options.max_batch_size, 1));
  if (options.max_batch_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_delay is ", absl::FormatDuration(options.max_batch_delay),
        "; expected zero or more"));
  }
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_adaptations", options.max_adaptations, 1));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("store_max_bytes", options.store_max_bytes, 0));
  if (options.store_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("store_ttl is ", absl::FormatDuration(options.store_ttl),
                     "; expected zero (never) or more"));
  }
  if (options.store != "memory" && options.store != "disk" &&
      options.store != "redis") {
    return absl::InvalidArgumentError(absl::StrCat(
        "store is \"", options.store, "\"; expected memory, disk or redis"));
  }
  if (options.store == "disk" && options.store_dir.empty()) {
    return absl::InvalidArgumentError(
        "store_dir is empty; the disk store needs a folder");
  }
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_support_examples", limits.max_support_examples, 2));
  FEWSHOT_RETURN_IF_ERROR(CheckAtLeast("max_queries", limits.max_queries, 1));
  FEWSHOT_RETURN_IF_ERROR(CheckAtLeast("max_classes", limits.max_classes, 2));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_image_bytes", limits.max_image_bytes, 1));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_image_pixels", limits.max_image_pixels, 1));
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtLeast("max_label_length", limits.max_label_length, 1));
  FEWSHOT_RETURN_IF_ERROR(CheckAtLeast("max_stream_messages_in_flight",
                                       limits.max_stream_messages_in_flight,
                                       1));
  return absl::OkStatus();
}

// The Redis store at options.redis_address.
absl::StatusOr<std::unique_ptr<AdaptationStore>> MakeRedisStore(
    const ServerOptions& options) {
#ifdef FEWSHOT_HAVE_REDIS
  const size_t colon = options.redis_address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(options.redis_address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("redis_address is \"",
                                                   options.redis_address,
                                                   "\"; expected host:port"));
  }
  RedisAdaptationStoreOptions redis;
  redis.host = options.redis_address.substr(0, colon);
  redis.port = port;
  redis.key_prefix = options.redis_key_prefix;
  FEWSHOT_ASSIGN_OR_RETURN(std::unique_ptr<RedisAdaptationStore> store,
                           RedisAdaptationStore::Connect(std::move(redis)));
  return std::unique_ptr<AdaptationStore>(std::move(store));
#else
  return absl::FailedPreconditionError(
      "store is \"redis\", but this build has no Redis client; rebuild with "
      "libhiredis-dev installed");
#endif
}

// The store the options ask for, reporting to `metrics`.
absl::StatusOr<std::unique_ptr<AdaptationStore>> MakeStore(
    const ServerOptions& options, ServerMetrics* metrics) {
  InMemoryAdaptationStoreOptions memory;
  memory.capacity = options.max_adaptations;
  memory.max_bytes = options.store_max_bytes;
  memory.ttl = options.store_ttl;
  memory.on_evict = [metrics] { metrics->RecordAdaptationEvicted(); };
  memory.on_expire = [metrics] { metrics->RecordAdaptationExpired(); };
  if (options.store == "redis") return MakeRedisStore(options);
  if (options.store == "disk") {
    DiskAdaptationStoreOptions disk_options;
    disk_options.dir = options.store_dir;
    disk_options.cache = std::move(memory);
    FEWSHOT_ASSIGN_OR_RETURN(
        std::unique_ptr<DiskAdaptationStore> disk,
        DiskAdaptationStore::Open(std::move(disk_options)));
    metrics->SetCachedAdaptations(disk->size());
    return std::unique_ptr<AdaptationStore>(std::move(disk));
  }
  return std::unique_ptr<AdaptationStore>(
      std::make_unique<InMemoryAdaptationStore>(std::move(memory)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(
    const ServerOptions& options) {
  // Check the options and load the model.
  FEWSHOT_RETURN_IF_ERROR(ValidateOptions(options));
  FEWSHOT_ASSIGN_OR_RETURN(core::ModelBundle bundle,
                           core::LoadModelBundle(options.model_dir));
  std::unique_ptr<Server> server(new Server(options));
  server->model_name_ = bundle.metadata.name;
  server->model_version_ = bundle.metadata.version;

  // Build the parts: metrics, store, pool, service.
  server->metrics_ = std::make_unique<ServerMetrics>(bundle.metadata.name,
                                                     bundle.metadata.version);
  ServerMetrics* metrics = server->metrics_.get();
  FEWSHOT_ASSIGN_OR_RETURN(server->store_, MakeStore(options, metrics));
  FEWSHOT_ASSIGN_OR_RETURN(
      server->pool_,
      ThreadPool::Create(
          {.workers = options.workers,
           .queue_capacity = options.queue_capacity,
           .on_queue_depth =
               [metrics](int64_t depth) { metrics->SetQueueDepth(depth); },
           .on_worker_start =
               [threads = options.torch_threads] {
                 SetWorkerTorchThreads(threads);
               }}));
  FEWSHOT_ASSIGN_OR_RETURN(
      server->service_,
      FewShotService::Create(
          std::move(bundle), options.limits,
          {.max_batch_size = options.max_batch_size,
           .max_batch_delay = options.max_batch_delay,
           .queue_capacity = std::max(1, options.queue_capacity),
           .max_inflight_batches = options.workers},
          server->store_.get(), server->pool_.get(), metrics));

  // Serve /metrics, unless disabled.
  if (!options.metrics_address.empty()) {
    FEWSHOT_ASSIGN_OR_RETURN(
        server->metrics_http_,
        MetricsHttpServer::Start(options.metrics_address,
                                 [metrics] { return metrics->Render(); }));
  }

  // Assemble and start gRPC, with the health service and reflection.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  if (options.grpc_max_pollers > 0) {
    builder.SetSyncServerOption(
        grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
        options.grpc_max_pollers);
  }
  if (options.grpc_max_threads > 0) {
    grpc::ResourceQuota quota("fewshot-server");
    quota.SetMaxThreads(options.grpc_max_threads);
    builder.SetResourceQuota(quota);
  }
  builder.RegisterService(server->service_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", options.address,
                     " (address in use or not local?)"));
  }
  return server;
}

Server::Server(const ServerOptions& options) : options_(options) {}

Server::~Server() {
  if (grpc_server_ != nullptr) Shutdown();
}

void Server::Wait() {
  grpc_server_->Wait();
  absl::MutexLock lock(&shutdown_mutex_);
  shutdown_mutex_.Await(absl::Condition(&shut_down_));
}

void Server::Shutdown() {
  absl::MutexLock lock(&shutdown_mutex_);
  if (shut_down_) return;

  // Stop accepting calls; in-flight calls get the grace period, then are
  // cancelled. Their queued work still runs, since the pool is alive.
  grpc_server_->Shutdown(
      absl::ToChronoTime(absl::Now() + options_.shutdown_grace));

  // Run what is left in the batcher's queue and the pool's, then stop the
  // workers.
  service_->Shutdown();
  pool_->Shutdown();

  // Metrics last, so that the final counts can still be scraped.
  if (metrics_http_ != nullptr) metrics_http_->Stop();
  shut_down_ = true;
  FEWSHOT_LOG(INFO) << "server stopped";
}

}  // namespace fewshot::server
