// Implements EmbeddingBatcher: the queue, the dispatcher that forms
// batches, and the pool task that runs one and splits its output.
#include "server/embedding_batcher.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/util/torch_errors.h"

namespace fewshot::server {
namespace {

// How often a waiting caller checks for cancellation.
constexpr absl::Duration kCancellationPollInterval = absl::Milliseconds(20);

}  // namespace

// One caller's inputs and, once its batch ran, its rows. Shared by the
// caller and the batch; either may outlive the other.
struct EmbeddingBatcher::Submission {
  torch::Tensor inputs;
  int64_t images = 0;
  absl::Time enqueued;
  absl::Time deadline;
  // Set by a blocking caller when it stops waiting; the batch then drops
  // it. An asynchronous caller says so through `cancelled` instead.
  std::atomic<bool> abandoned{false};
  std::function<bool()> cancelled;
  // Written before `done` is notified and `on_done` runs.
  absl::Status status;
  torch::Tensor embeddings;
  absl::Notification done;
  EmbedDone on_done;

  // A submission of `inputs` [n, C, H, W]; INVALID_ARGUMENT for another
  // shape.
  static absl::StatusOr<std::shared_ptr<Submission>> Of(torch::Tensor inputs,
                                                        absl::Time deadline) {
    if (inputs.dim() != 4 || inputs.size(0) < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs have ", inputs.dim(),
                       " dimensions; expected [n >= 1, C, H, W]"));
    }
    auto submission = std::make_shared<Submission>();
    submission->images = inputs.size(0);
    submission->inputs = std::move(inputs);
    submission->enqueued = absl::Now();
    submission->deadline = deadline;
    return submission;
  }

  // True when nobody waits for the rows any more.
  bool Unwanted() const {
    return abandoned.load() || (cancelled && cancelled());
  }

  // Hands the outcome to whoever waits for it. Called once.
  void Complete(absl::Status outcome, torch::Tensor rows = torch::Tensor()) {
    status = std::move(outcome);
    embeddings = std::move(rows);
    EmbedDone callback = std::move(on_done);
    done.Notify();
    if (!callback) return;
    if (status.ok()) {
      callback(embeddings);
    } else {
      callback(status);
    }
  }
};

absl::StatusOr<std::unique_ptr<EmbeddingBatcher>> EmbeddingBatcher::Create(
    EmbeddingBatcherOptions options, EmbedFunction embed, ThreadPool* pool) {
  if (options.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_size is ", options.max_batch_size, "; expected at least 1"));
  }
  if (options.max_inflight_batches < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_inflight_batches is ",
                                                   options.max_inflight_batches,
                                                   "; expected at least 1"));
  }
  if (options.max_batch_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_delay is ", absl::FormatDuration(options.max_batch_delay),
        "; expected zero or more"));
  }
  if (options.queue_capacity < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "queue_capacity is ", options.queue_capacity, "; expected 0 or more"));
  }
  return std::unique_ptr<EmbeddingBatcher>(
      new EmbeddingBatcher(std::move(options), std::move(embed), pool));
}

EmbeddingBatcher::EmbeddingBatcher(EmbeddingBatcherOptions options,
                                   EmbedFunction embed, ThreadPool* pool)
    : options_(std::move(options)), embed_(std::move(embed)), pool_(pool) {
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

EmbeddingBatcher::~EmbeddingBatcher() { Shutdown(); }

absl::StatusOr<torch::Tensor> EmbeddingBatcher::Embed(
    torch::Tensor inputs, absl::Time deadline,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<std::shared_ptr<Submission>> made =
      Submission::Of(std::move(inputs), deadline);
  if (!made.ok()) return made.status();
  std::shared_ptr<Submission> submission = *std::move(made);
  if (absl::Status queued = Submit(submission); !queued.ok()) return queued;

  // Wait, giving up when the deadline passes or the caller cancels.
  while (!submission->done.WaitForNotificationWithDeadline(
      std::min(deadline, absl::Now() + kCancellationPollInterval))) {
    if (absl::Now() >= deadline) {
      submission->abandoned.store(true);
      return absl::DeadlineExceededError(
          "the deadline passed before the encoder finished");
    }
    if (cancelled && cancelled()) {
      submission->abandoned.store(true);
      return absl::CancelledError("the client cancelled the call");
    }
  }
  if (!submission->status.ok()) return submission->status;
  return submission->embeddings;
}

absl::Status EmbeddingBatcher::CheckRoom() const {
  absl::MutexLock lock(&mutex_);
  return Admission();
}

bool EmbeddingBatcher::HasSpareRoom() const {
  absl::MutexLock lock(&mutex_);
  return !stopping_ &&
         static_cast<int>(queue_.size()) < (options_.queue_capacity + 1) / 2;
}

void EmbeddingBatcher::EmbedAsync(torch::Tensor inputs, absl::Time deadline,
                                  std::function<bool()> cancelled,
                                  EmbedDone done) {
  absl::StatusOr<std::shared_ptr<Submission>> made =
      Submission::Of(std::move(inputs), deadline);
  if (!made.ok()) {
    done(made.status());
    return;
  }
  std::shared_ptr<Submission> submission = *std::move(made);
  submission->cancelled = std::move(cancelled);
  submission->on_done = std::move(done);

  // A refused submission never reached the queue: answer it here.
  if (absl::Status queued = Submit(submission); !queued.ok()) {
    submission->Complete(std::move(queued));
  }
}

absl::Status EmbeddingBatcher::Submit(std::shared_ptr<Submission> submission) {
  // Queue it, or refuse at once. With no delay to wait out, a submission
  // that finds nothing queued and a batch slot free is a batch of its own
  // already, so it goes to the pool directly instead of waking the
  // dispatcher first.
  bool runs_alone = false;
  {
    absl::MutexLock lock(&mutex_);
    if (absl::Status admitted = Admission(); !admitted.ok()) return admitted;
    runs_alone = queue_.empty() &&
                 options_.max_batch_delay == absl::ZeroDuration() &&
                 inflight_batches_ < options_.max_inflight_batches;
    if (runs_alone) {
      ++inflight_batches_;
    } else {
      queued_images_ += submission->images;
      queue_.push_back(submission);
    }
  }
  if (runs_alone) SubmitBatch({std::move(submission)});
  return absl::OkStatus();
}

void EmbeddingBatcher::Shutdown() {
  absl::MutexLock join_lock(&join_mutex_);
  if (joined_) return;

  // Let the dispatcher hand out what is queued, then wait for the batches.
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  dispatcher_.join();
  {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(this, &EmbeddingBatcher::Idle));
  }
  joined_ = true;
}

void EmbeddingBatcher::DispatchLoop() {
  while (true) {
    Batch batch;
    Batch dropped;
    {
      // Wait for a free batch slot and a queued submission.
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(this, &EmbeddingBatcher::CanDispatch));
      if (queue_.empty()) return;

      // Let others join until the batch is full or the oldest waited long
      // enough.
      const absl::Time flush_at =
          queue_.front()->enqueued + options_.max_batch_delay;
      if (absl::Now() < flush_at) {
        mutex_.AwaitWithDeadline(
            absl::Condition(this, &EmbeddingBatcher::FullOrStopping), flush_at);
      }
      batch = TakeBatch(dropped);
      if (!batch.empty()) ++inflight_batches_;
    }

    for (const std::shared_ptr<Submission>& submission : dropped) {
      submission->Complete(absl::CancelledError("the call ended first"));
    }
    if (!batch.empty()) SubmitBatch(std::move(batch));
  }
}

void EmbeddingBatcher::SubmitBatch(Batch batch) {
  auto shared = std::make_shared<Batch>(std::move(batch));
  const absl::Status submitted =
      pool_->TrySubmit([this, shared] { RunBatch(std::move(*shared)); });
  if (!submitted.ok()) {
    for (const std::shared_ptr<Submission>& submission : *shared) {
      submission->Complete(submitted);
    }
    BatchDone();
  }
}

EmbeddingBatcher::Batch EmbeddingBatcher::TakeBatch(Batch& dropped) {
  mutex_.AssertHeld();
  Batch batch;
  int64_t images = 0;
  while (!queue_.empty()) {
    std::shared_ptr<Submission>& next = queue_.front();

    // Callers that stopped waiting leave the queue without running.
    if (next->Unwanted()) {
      queued_images_ -= next->images;
      dropped.push_back(std::move(next));
      queue_.pop_front();
      continue;
    }

    // Stop before overflowing; a large submission still runs alone.
    if (!batch.empty() && images + next->images > options_.max_batch_size) {
      break;
    }
    images += next->images;
    queued_images_ -= next->images;
    batch.push_back(std::move(next));
    queue_.pop_front();
    if (images >= options_.max_batch_size) break;
  }
  return batch;
}

void EmbeddingBatcher::RunBatch(Batch batch) {
  // Drop the calls that ended while the batch waited for a worker.
  const absl::Time now = absl::Now();
  Batch live;
  std::vector<torch::Tensor> inputs;
  int64_t images = 0;
  for (std::shared_ptr<Submission>& submission : batch) {
    if (submission->Unwanted()) {
      submission->Complete(absl::CancelledError("the call ended first"));
    } else if (now >= submission->deadline) {
      submission->Complete(absl::DeadlineExceededError(
          "the deadline passed while the request waited for the encoder"));
    } else {
      images += submission->images;
      inputs.push_back(submission->inputs);
      live.push_back(std::move(submission));
    }
  }
  if (live.empty()) {
    BatchDone();
    return;
  }

  // One forward pass over every caller's inputs.
  const absl::Time forward_start = absl::Now();
  absl::StatusOr<torch::Tensor> embeddings;
  if (live.size() == 1) {
    embeddings = embed_(inputs.front());
  } else {
    absl::StatusOr<torch::Tensor> merged = core::CallTorch(
        "batching", [&] { return torch::cat(inputs, /*dim=*/0); });
    embeddings = merged.ok() ? embed_(*merged) : merged.status();
  }
  if (options_.on_batch) options_.on_batch(images, absl::Now() - forward_start);

  // Hand each caller its own rows, copied out of a shared batch so that a
  // kept state does not pin (or serialise) the other callers' rows.
  // The batch slot is free before the callers' own work runs.
  BatchDone();
  int64_t offset = 0;
  for (const std::shared_ptr<Submission>& submission : live) {
    if (embeddings.ok() && live.size() == 1) {
      submission->Complete(absl::OkStatus(), *embeddings);
    } else if (embeddings.ok()) {
      submission->Complete(absl::OkStatus(),
                           embeddings
                               ->slice(/*dim=*/0, /*start=*/offset,
                                       /*end=*/offset + submission->images)
                               .clone());
    } else {
      submission->Complete(embeddings.status());
    }
    offset += submission->images;
  }
}

void EmbeddingBatcher::BatchDone() {
  absl::MutexLock lock(&mutex_);
  --inflight_batches_;
}

bool EmbeddingBatcher::CanDispatch() const {
  if (queue_.empty()) return stopping_;
  return inflight_batches_ < options_.max_inflight_batches;
}

bool EmbeddingBatcher::FullOrStopping() const {
  return stopping_ || queued_images_ >= options_.max_batch_size;
}

bool EmbeddingBatcher::Idle() const { return inflight_batches_ == 0; }

absl::Status EmbeddingBatcher::Admission() const {
  if (stopping_) return absl::UnavailableError("the server is shutting down");
  if (static_cast<int>(queue_.size()) >= options_.queue_capacity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the encoder queue is full (", options_.queue_capacity,
                     " requests waiting); try again later"));
  }
  return absl::OkStatus();
}

}  // namespace fewshot::server
