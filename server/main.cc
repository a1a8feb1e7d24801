// fewshot-server: serves a model bundle over gRPC. Flags only; the server
// itself is server/server.h. SIGINT or SIGTERM shuts it down gracefully.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "core/util/logging.h"
#include "core/util/torch_threads.h"
#include "server/server.h"
#include "server/server_options.h"

namespace {

// $FEWSHOT_MODEL_DIR, else the bundled model relative to the working folder.
std::string DefaultModelDir() {
  const char* from_env = std::getenv("FEWSHOT_MODEL_DIR");
  return from_env != nullptr && *from_env != '\0' ? from_env
                                                  : "models/omniglot-conv4";
}

}  // namespace

ABSL_FLAG(std::string, address, "127.0.0.1:50051",
          "host:port to serve gRPC on (port 0 picks a free port)");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1:9464",
          "host:port to serve Prometheus /metrics on; empty disables it");
ABSL_FLAG(std::string, model_dir, DefaultModelDir(),
          "model bundle folder (default: $FEWSHOT_MODEL_DIR, else "
          "models/omniglot-conv4)");
ABSL_FLAG(int, torch_threads, 1, "LibTorch intra-op threads");
ABSL_FLAG(int, workers, 2, "worker threads running the model");
ABSL_FLAG(int, grpc_max_threads, 0,
          "threads gRPC may use to receive and answer calls of the "
          "synchronous methods (0: no limit, one per call in progress); a "
          "call finding none free gets RESOURCE_EXHAUSTED. Predict and "
          "StreamPredict are served by callbacks, hold no thread while "
          "waiting, and are bounded by --queue_capacity instead");
ABSL_FLAG(int, grpc_max_pollers, 64,
          "gRPC threads kept waiting for calls between calls (0: gRPC's "
          "default of 2, which ends and recreates threads under "
          "concurrency)");
ABSL_FLAG(int, queue_capacity, 64,
          "requests that may wait for a worker; more are rejected at once");
ABSL_FLAG(int, max_batch_size, 64,
          "images per encoder forward pass; concurrent calls are merged up "
          "to this (1 disables merging)");
ABSL_FLAG(int64_t, max_batch_delay_us, 0,
          "microseconds a call may wait for others to join its forward pass; "
          "calls that queue while the workers are busy are merged anyway");
ABSL_FLAG(int, max_adaptations, 10000,
          "adaptations kept in memory; the least recently used is evicted");
ABSL_FLAG(std::string, store, "memory",
          "where adaptations are kept: memory (lost on exit), disk (an "
          "append-only log in --store_dir, synced before each write is "
          "acknowledged) or redis (shared by replicas, at --redis_address)");
ABSL_FLAG(std::string, redis_address, "127.0.0.1:6379",
          "host:port of Redis for --store=redis");
ABSL_FLAG(std::string, redis_key_prefix,
          "fewshot:", "prefix of every Redis key of --store=redis");
ABSL_FLAG(std::string, store_dir, "",
          "folder of the disk store's log; required with --store=disk");
ABSL_FLAG(int64_t, store_max_bytes, 0,
          "bytes of adaptations kept in memory (0: no byte budget); with "
          "--store=disk, evicted ones stay on disk");
ABSL_FLAG(int64_t, store_ttl_seconds, 0,
          "an adaptation unused this long leaves memory (0: never); with "
          "--store=disk it stays on disk");
ABSL_FLAG(int, max_support_examples, 500, "support examples per request");
ABSL_FLAG(int, max_queries, 500, "queries per request");
ABSL_FLAG(int, max_classes, 100, "classes per support set");
ABSL_FLAG(int64_t, max_image_bytes, 4 << 20, "encoded bytes per image");
ABSL_FLAG(int64_t, max_image_pixels, 4096 * 4096, "pixels per image");
ABSL_FLAG(int, max_label_length, 128, "bytes per class label");
ABSL_FLAG(int, max_stream_messages_in_flight, 8,
          "StreamPredict messages of one stream worked on at once (read "
          "ahead of their answers, which keep their order); 1 answers each "
          "message before reading the next");
ABSL_FLAG(int, max_message_bytes, 64 << 20, "bytes per request message");

namespace {

// The server options the flags describe.
fewshot::server::ServerOptions OptionsFromFlags() {
  fewshot::server::ServerOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.model_dir = absl::GetFlag(FLAGS_model_dir);
  options.workers = absl::GetFlag(FLAGS_workers);
  options.torch_threads = absl::GetFlag(FLAGS_torch_threads);
  options.grpc_max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  options.grpc_max_pollers = absl::GetFlag(FLAGS_grpc_max_pollers);
  options.queue_capacity = absl::GetFlag(FLAGS_queue_capacity);
  options.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.max_batch_delay =
      absl::Microseconds(absl::GetFlag(FLAGS_max_batch_delay_us));
  options.store = absl::GetFlag(FLAGS_store);
  options.store_dir = absl::GetFlag(FLAGS_store_dir);
  options.redis_address = absl::GetFlag(FLAGS_redis_address);
  options.redis_key_prefix = absl::GetFlag(FLAGS_redis_key_prefix);
  options.max_adaptations = absl::GetFlag(FLAGS_max_adaptations);
  options.store_max_bytes = absl::GetFlag(FLAGS_store_max_bytes);
  options.store_ttl = absl::Seconds(absl::GetFlag(FLAGS_store_ttl_seconds));
  options.limits.max_support_examples =
      absl::GetFlag(FLAGS_max_support_examples);
  options.limits.max_queries = absl::GetFlag(FLAGS_max_queries);
  options.limits.max_classes = absl::GetFlag(FLAGS_max_classes);
  options.limits.max_image_bytes = absl::GetFlag(FLAGS_max_image_bytes);
  options.limits.max_image_pixels = absl::GetFlag(FLAGS_max_image_pixels);
  options.limits.max_label_length = absl::GetFlag(FLAGS_max_label_length);
  options.limits.max_stream_messages_in_flight =
      absl::GetFlag(FLAGS_max_stream_messages_in_flight);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only the waiter below receives them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGINT);
  sigaddset(&shutdown_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);

  absl::SetProgramUsageMessage(
      "Serves few-shot adaptation of a model bundle over gRPC.");
  absl::ParseCommandLine(argc, argv);

  // Debian's Abseil is built with Mutex deadlock detection on, which
  // records a lock graph on every contended lock: about 2% of a loaded
  // server's CPU. The tests, run under sanitizers too, keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // LibTorch threads must be set before the model is loaded.
  const int torch_threads = absl::GetFlag(FLAGS_torch_threads);
  if (absl::Status status = fewshot::core::ConfigureTorchThreads(
          torch_threads, /*inter_op_threads=*/1);
      !status.ok()) {
    FEWSHOT_LOG(ERROR) << "--torch_threads: " << status;
    return EXIT_FAILURE;
  }

  // Load the model and start serving.
  const fewshot::server::ServerOptions options = OptionsFromFlags();
  absl::StatusOr<std::unique_ptr<fewshot::server::Server>> server =
      fewshot::server::Server::BuildAndStart(options);
  if (!server.ok()) {
    FEWSHOT_LOG(ERROR) << "cannot start: " << server.status();
    return EXIT_FAILURE;
  }
  FEWSHOT_LOG(INFO) << "serving model " << (*server)->model_name()
                    << " version " << (*server)->model_version() << "; gRPC on "
                    << options.address << " (port " << (*server)->port()
                    << "); metrics on "
                    << (options.metrics_address.empty()
                            ? std::string("(disabled)")
                            : options.metrics_address)
                    << "; store " << options.store << "; " << options.workers
                    << " workers; " << torch_threads
                    << " torch threads; gRPC threads "
                    << (options.grpc_max_threads > 0
                            ? std::to_string(options.grpc_max_threads)
                            : std::string("unlimited"))
                    << " (" << options.grpc_max_pollers << " kept polling)"
                    << "; batches of up to " << options.max_batch_size
                    << " images";

  // Shut down on the first SIGINT or SIGTERM.
  std::thread signal_waiter([&shutdown_signals, &server] {
    int signal_number = 0;
    sigwait(&shutdown_signals, &signal_number);
    FEWSHOT_LOG(INFO) << "received " << strsignal(signal_number)
                      << "; shutting down";
    (*server)->Shutdown();
  });
  (*server)->Wait();
  signal_waiter.join();
  return EXIT_SUCCESS;
}
