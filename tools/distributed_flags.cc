// Defines the data-parallel training flags of fewshot-train.
#include "tools/distributed_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(int, world_size, 1,
          "Worker processes training together (1: train alone)");
ABSL_FLAG(int, rank, 0,
          "This worker's rank in [0, world_size); rank 0 hosts the "
          "rendezvous and alone writes checkpoints and the bundle");
ABSL_FLAG(std::string, dist_addr, "127.0.0.1",
          "Host or IP address of rank 0's rendezvous store");
ABSL_FLAG(int, dist_port, 29500, "TCP port of rank 0's rendezvous store");
ABSL_FLAG(std::string, dist_bind, "",
          "Address this worker's Gloo transport binds to (default: "
          "--dist_addr when it is a loopback address, else the hostname)");
ABSL_FLAG(absl::Duration, dist_rendezvous_timeout, absl::Seconds(120),
          "How long to wait for all workers to join");
ABSL_FLAG(absl::Duration, dist_step_timeout, absl::Seconds(300),
          "How long one gradient exchange may wait for a stalled worker");

namespace fewshot::tools {

absl::StatusOr<std::unique_ptr<core::GradientAverager>>
GradientAveragerFromFlags() {
  core::DistributedOptions options;
  options.world_size = absl::GetFlag(FLAGS_world_size);
  options.rank = absl::GetFlag(FLAGS_rank);
  options.address = absl::GetFlag(FLAGS_dist_addr);
  options.port = absl::GetFlag(FLAGS_dist_port);
  options.bind_address = absl::GetFlag(FLAGS_dist_bind);
  options.rendezvous_timeout = absl::GetFlag(FLAGS_dist_rendezvous_timeout);
  options.step_timeout = absl::GetFlag(FLAGS_dist_step_timeout);
  if (options.world_size == 1 && options.rank != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--rank=", options.rank,
        " needs --world_size greater than the rank; with --world_size=1 "
        "the only rank is 0"));
  }
  if (options.world_size == 1) return nullptr;
  absl::StatusOr<std::unique_ptr<core::GradientAverager>> averager =
      core::GradientAverager::Create(options);
  if (!averager.ok() &&
      averager.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::InvalidArgumentError(
        absl::StrCat(averager.status().message(),
                     " (flags --rank, --world_size, --dist_addr, "
                     "--dist_port)"));
  }
  return averager;
}

}  // namespace fewshot::tools
