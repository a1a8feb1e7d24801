// Command-line flags for data-parallel meta-training: how many worker
// processes there are, which one this is, and where they meet.
//
//   fewshot-train --world_size=2 --rank=0 --dist_addr=127.0.0.1 ... &
//   fewshot-train --world_size=2 --rank=1 --dist_addr=127.0.0.1 ...
#ifndef FEWSHOT_TOOLS_DISTRIBUTED_FLAGS_H_
#define FEWSHOT_TOOLS_DISTRIBUTED_FLAGS_H_

#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/train/gradient_averager.h"

ABSL_DECLARE_FLAG(int, world_size);
ABSL_DECLARE_FLAG(int, rank);
ABSL_DECLARE_FLAG(std::string, dist_addr);
ABSL_DECLARE_FLAG(int, dist_port);
ABSL_DECLARE_FLAG(std::string, dist_bind);
ABSL_DECLARE_FLAG(absl::Duration, dist_rendezvous_timeout);
ABSL_DECLARE_FLAG(absl::Duration, dist_step_timeout);

namespace fewshot::tools {

// Joins the data-parallel group the flags describe; blocks until every
// worker has joined. Returns null for --world_size=1 (training alone), and
// GradientAverager::Create's errors otherwise, INVALID_ARGUMENT for a bad
// --rank or --world_size among them.
absl::StatusOr<std::unique_ptr<core::GradientAverager>>
GradientAveragerFromFlags();

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_DISTRIBUTED_FLAGS_H_
