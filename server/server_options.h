// Everything the server needs to start: addresses, the model folder,
// scheduling and storage sizes, and the per-request limits.
#ifndef FEWSHOT_SERVER_SERVER_OPTIONS_H_
#define FEWSHOT_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "server/request_limits.h"

namespace fewshot::server {

struct ServerOptions {
  // --- Network ---

  // host:port for gRPC; port 0 picks a free port (see Server::port()).
  std::string address = "127.0.0.1:50051";
  // host:port for the Prometheus /metrics page; empty disables it, port 0
  // picks a free port (see Server::metrics_port()).
  std::string metrics_address = "127.0.0.1:9464";
  // The largest request message the server accepts.
  int max_message_bytes = 64 << 20;

  // --- Model ---

  // The model bundle folder (see core/bundle/model_bundle.h).
  std::string model_dir = "models/omniglot-conv4";

  // --- Scheduling ---

  // The thread split (see docs/performance.md, "Thread split"): gRPC's
  // threads receive, validate, decode and answer calls; `workers` pool
  // threads run forward passes and method work, each forward pass using
  // `torch_threads` LibTorch intra-op threads.

  // Threads gRPC may use to poll and run calls of the synchronous methods
  // (all but Predict and StreamPredict, which are served by callbacks and
  // hold no thread while they wait); 0 keeps gRPC's default
  // (a thread per call in progress, no limit). A call arriving when all are
  // taken is answered RESOURCE_EXHAUSTED by gRPC itself.
  int grpc_max_threads = 0;
  // gRPC threads kept waiting for calls between calls; 0 keeps gRPC's
  // default (2), with which a thread that finishes a call while two others
  // wait exits, so concurrent calls keep creating and ending threads. 64
  // served 12-16% more one-query Predict calls at concurrency 32 than 0
  // (docs/performance.md).
  int grpc_max_pollers = 64;
  // Threads running forward passes and method work.
  int workers = 2;
  // LibTorch intra-op threads of each pool worker, set by the worker when
  // it starts; main.cc's --torch_threads. 0 leaves the workers' LibTorch
  // default (one per core).
  int torch_threads = 1;
  // Requests waiting for a worker, and requests waiting for the encoder
  // batcher; more are rejected at once.
  int queue_capacity = 64;
  // Images per encoder forward pass; 1 disables merging of calls.
  int max_batch_size = 64;
  // How long a call may wait for others to join its forward pass. Zero
  // measured best on 2 cores: a batch forms anyway from the calls that
  // queue while the workers are busy (see docs/performance.md).
  absl::Duration max_batch_delay = absl::ZeroDuration();

  // --- Adaptations ---

  // Where adaptations are kept: "memory" (lost on exit), "disk" (an
  // append-only log in store_dir, synced before each write is
  // acknowledged; memory is then a cache in front of it) or "redis"
  // (shared by replicas; only in builds with hiredis).
  std::string store = "memory";
  // The log folder of the disk store.
  std::string store_dir;
  // host:port of the Redis store, and the prefix of its keys.
  std::string redis_address = "127.0.0.1:6379";
  std::string redis_key_prefix = "fewshot:";
  // Adaptations kept in memory; the least recently used is evicted.
  int max_adaptations = 10000;
  // Bytes of adaptations kept in memory; 0 means no byte budget.
  int64_t store_max_bytes = 0;
  // An adaptation unused this long leaves memory; zero means never. With
  // the disk store it stays on disk.
  absl::Duration store_ttl = absl::ZeroDuration();

  // --- Requests ---

  RequestLimits limits;

  // --- Shutdown ---

  // How long in-flight calls may run after shutdown starts.
  absl::Duration shutdown_grace = absl::Seconds(10);
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_SERVER_OPTIONS_H_
