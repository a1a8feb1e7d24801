// Data-parallel meta-training support: joins a group of worker processes
// through a c10d TCPStore rendezvous and averages gradients across them with
// Gloo all-reduces, so that every worker applies the same optimiser step.
//
// Example (on every worker, with its own rank):
//   DistributedOptions options;
//   options.rank = rank;
//   options.world_size = 2;
//   options.address = "127.0.0.1";
//   options.port = 29500;
//   FEWSHOT_ASSIGN_OR_RETURN(std::unique_ptr<GradientAverager> averager,
//                            GradientAverager::Create(options));
//   FEWSHOT_RETURN_IF_ERROR(averager->BroadcastParameters(params));
//   ... loss.backward();
//   FEWSHOT_RETURN_IF_ERROR(averager->AverageGradients(params));
//   optimizer.step();
#ifndef FEWSHOT_CORE_TRAIN_GRADIENT_AVERAGER_H_
#define FEWSHOT_CORE_TRAIN_GRADIENT_AVERAGER_H_

#include <torch/torch.h>

#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fewshot::core {

struct DistributedOptions {
  // This worker's rank in [0, world_size); rank 0 hosts the store.
  int rank = 0;
  int world_size = 1;
  // Where rank 0's TCPStore listens; every worker connects there.
  std::string address = "127.0.0.1";
  int port = 29500;
  // Address this worker's Gloo transport binds to. Empty: the store address
  // when it is a loopback address, else this machine's hostname.
  std::string bind_address;
  // How long to wait for all workers to join.
  absl::Duration rendezvous_timeout = absl::Seconds(120);
  // How long one collective may wait for the other workers, e.g. for a
  // worker that stalls; a worker that exits is noticed at once.
  absl::Duration step_timeout = absl::Seconds(300);
};

// One worker's membership of a data-parallel group.
//
// Not thread-safe: one training loop calls it. Every worker must make the
// same sequence of calls with tensors of the same shapes and types, or the
// collectives fail (after step_timeout at the latest).
class GradientAverager {
 public:
  // Joins the group: rank 0 starts the store, then all workers connect and
  // build a Gloo process group. Returns INVALID_ARGUMENT for a bad rank,
  // world size or port, DEADLINE_EXCEEDED when not all workers joined
  // within rendezvous_timeout, and UNAVAILABLE for other network failures.
  //
  // NOTE: LibTorch 1.13's TCPStore listens on all interfaces, whatever
  // `address` is; only the Gloo transport binds to bind_address.
  static absl::StatusOr<std::unique_ptr<GradientAverager>> Create(
      const DistributedOptions& options);

  // Like Create, but meets the other workers through `store` (for example
  // one c10d::HashStore shared by workers that are threads of one process)
  // instead of rank 0's TCPStore; `address` and `port` only name the group
  // in messages. The collectives still run over Gloo's TCP transport.
  static absl::StatusOr<std::unique_ptr<GradientAverager>> CreateWithStore(
      const DistributedOptions& options, c10::intrusive_ptr<c10d::Store> store);

  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;
  ~GradientAverager();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }

  // Replaces the gradient of every parameter with its mean over all
  // workers (sum, then divide by the world size), and does the same in
  // place for the floating-point tensors in `also_average` (e.g. batch-norm
  // statistics or the step's loss); other tensors there are left alone. A
  // parameter without a gradient counts as a zero gradient. Returns
  // DEADLINE_EXCEEDED when a worker did not answer within step_timeout and
  // UNAVAILABLE when a worker left.
  absl::Status AverageGradients(
      const std::vector<torch::Tensor>& parameters,
      const std::vector<torch::Tensor>& also_average = {});

  // Overwrites every tensor, in place, with rank 0's values (e.g. the
  // initial weights). REQUIRES: the tensors are contiguous. Errors as for
  // AverageGradients.
  absl::Status BroadcastParameters(const std::vector<torch::Tensor>& tensors);

 private:
  GradientAverager(DistributedOptions options,
                   c10::intrusive_ptr<c10d::Store> store,
                   c10::intrusive_ptr<c10d::ProcessGroup> group);

  // Builds the Gloo process group through `store`.
  static absl::StatusOr<std::unique_ptr<GradientAverager>> JoinGroup(
      const DistributedOptions& options, c10::intrusive_ptr<c10d::Store> store);

  // Sums `tensors` (one flat buffer) over all workers in place and waits.
  absl::Status AllReduceSum(std::vector<torch::Tensor>& tensors);

  const DistributedOptions options_;
  // The store must outlive the process group that rendezvoused through it.
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_TRAIN_GRADIENT_AVERAGER_H_
