// Dynamic batching of encoder work: concurrent callers submit model inputs
// [n, C, H, W], a dispatcher thread merges queued submissions into one
// forward pass of at most max_batch_size images (or waits at most
// max_batch_delay for more), runs it on the worker pool, and hands each
// caller back its own rows of the embeddings. With no delay set, a caller
// that finds nothing queued and a batch slot free skips the dispatcher.
//
// Example:
//   absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> batcher =
//       EmbeddingBatcher::Create(options, [&encoder](torch::Tensor batch) {
//         return encoder.Embed(batch);
//       }, &pool);
//   absl::StatusOr<torch::Tensor> rows =
//       (*batcher)->Embed(inputs, deadline, [&] { return cancelled; });
#ifndef FEWSHOT_SERVER_EMBEDDING_BATCHER_H_
#define FEWSHOT_SERVER_EMBEDDING_BATCHER_H_

#include <torch/torch.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/thread_pool.h"

namespace fewshot::server {

struct EmbeddingBatcherOptions {
  // Images per forward pass; 1 disables merging. A submission with more
  // images runs alone.
  int max_batch_size = 64;
  // How long the oldest submission may wait for others to join its batch;
  // zero still merges what queued while max_inflight_batches were running.
  absl::Duration max_batch_delay = absl::ZeroDuration();
  // Submissions that may wait for a batch; more are rejected at once.
  int queue_capacity = 64;
  // Batches handed to the pool at once; further submissions keep queueing
  // (and so form bigger batches) until one finishes.
  int max_inflight_batches = 2;
  // Called after every forward pass with its images and how long it took;
  // may be empty.
  std::function<void(int64_t images, absl::Duration forward)> on_batch;
};

// Thread-safe. The destructor calls Shutdown().
//
// NOTE: `embed` and `pool` are borrowed; the pool must not be shut down
// before the batcher, or the batches still queued fail with its status.
class EmbeddingBatcher {
 public:
  // Runs one forward pass: [n, C, H, W] in, [n, D] out.
  using EmbedFunction =
      std::function<absl::StatusOr<torch::Tensor>(const torch::Tensor&)>;

  // Starts the dispatcher. Returns INVALID_ARGUMENT for a max_batch_size or
  // max_inflight_batches below 1, a negative delay or queue capacity.
  static absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> Create(
      EmbeddingBatcherOptions options, EmbedFunction embed, ThreadPool* pool);

  ~EmbeddingBatcher();

  EmbeddingBatcher(const EmbeddingBatcher&) = delete;
  EmbeddingBatcher& operator=(const EmbeddingBatcher&) = delete;

  // The embeddings [n, D] of `inputs` [n, C, H, W], computed in a batch
  // with other callers' inputs. Blocks until they are ready. Returns at
  // once RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE after
  // Shutdown() has begun; DEADLINE_EXCEEDED when `deadline` passes and
  // CANCELLED when `cancelled` returns true (polled), in which case the
  // inputs are dropped if their batch has not started yet.
  absl::StatusOr<torch::Tensor> Embed(torch::Tensor inputs, absl::Time deadline,
                                      const std::function<bool()>& cancelled)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Receives the embeddings of an EmbedAsync call, or why there are none.
  using EmbedDone = std::function<void(absl::StatusOr<torch::Tensor>)>;

  // Embed without blocking: `done` runs exactly once, on a pool worker once
  // the batch has run, or on this thread when the inputs are refused at
  // once (as Embed refuses them). Inputs whose deadline has passed, or for
  // which `cancelled` (polled when their batch is formed and when it
  // starts) returns true, are dropped with DEADLINE_EXCEEDED or CANCELLED
  // when their batch starts. `cancelled` may be empty and must stay
  // callable until `done` has run.
  void EmbedAsync(torch::Tensor inputs, absl::Time deadline,
                  std::function<bool()> cancelled, EmbedDone done)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // What Embed would answer at once were it called now: RESOURCE_EXHAUSTED
  // while the queue is full, UNAVAILABLE after Shutdown() has begun, else
  // OK. Lets a caller refuse a request before decoding its images; Embed
  // still checks again, since the queue may fill in between.
  absl::Status CheckRoom() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Whether fewer than half the queue's places are taken and Shutdown()
  // has not begun: room for work that could as well wait, such as a
  // stream's messages read ahead of their answers, which must not take
  // the places of calls that cannot.
  bool HasSpareRoom() const ABSL_LOCKS_EXCLUDED(mutex_);

  // Stops accepting inputs, runs every queued submission, waits for the
  // batches in flight and stops the dispatcher. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Submission;
  using Batch = std::vector<std::shared_ptr<Submission>>;

  EmbeddingBatcher(EmbeddingBatcherOptions options, EmbedFunction embed,
                   ThreadPool* pool);

  // The body of the dispatcher thread.
  void DispatchLoop() ABSL_LOCKS_EXCLUDED(mutex_);

  // Queues `submission`, hands it to the pool directly when it can run
  // alone, or refuses it.
  absl::Status Submit(std::shared_ptr<Submission> submission)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Removes from the queue the next batch to run: up to max_batch_size
  // images, or one larger submission alone. Submissions whose callers
  // stopped waiting move to `dropped`, to be completed outside the lock.
  Batch TakeBatch(Batch& dropped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Hands `batch`, already counted in flight, to the pool; if the pool
  // refuses it, its callers fail at once with the pool's status.
  void SubmitBatch(Batch batch) ABSL_LOCKS_EXCLUDED(mutex_);

  // Runs `batch` through the encoder and hands out the rows. Runs on a
  // pool worker.
  void RunBatch(Batch batch) ABSL_LOCKS_EXCLUDED(mutex_);

  // Called when a batch has ended, however it ended.
  void BatchDone() ABSL_LOCKS_EXCLUDED(mutex_);

  // True when the dispatcher can form a batch, or has nothing left to do.
  bool CanDispatch() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // True when the queue holds a full batch or shutdown has begun.
  bool FullOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // True when no batch is in flight.
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // The status of a submission arriving now: UNAVAILABLE, RESOURCE_EXHAUSTED
  // or OK.
  absl::Status Admission() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Constant after construction.
  const EmbeddingBatcherOptions options_;
  const EmbedFunction embed_;
  ThreadPool* const pool_;
  std::thread dispatcher_;

  mutable absl::Mutex mutex_;
  std::deque<std::shared_ptr<Submission>> queue_ ABSL_GUARDED_BY(mutex_);
  int64_t queued_images_ ABSL_GUARDED_BY(mutex_) = 0;
  int inflight_batches_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Set by the first Shutdown() call, which joins the dispatcher.
  bool joined_ ABSL_GUARDED_BY(join_mutex_) = false;
  absl::Mutex join_mutex_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_EMBEDDING_BATCHER_H_
