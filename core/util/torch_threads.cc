// Applies explicit LibTorch thread counts.
#include "core/util/torch_threads.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {

absl::Status ConfigureTorchThreads(int intra_op_threads, int inter_op_threads) {
  if (intra_op_threads < 1 || inter_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("thread counts must be >= 1; got intra-op ",
                     intra_op_threads, " and inter-op ", inter_op_threads));
  }

  FEWSHOT_RETURN_IF_ERROR(SetIntraOpThreadsOfThisThread(intra_op_threads));
  if (torch::get_num_interop_threads() == inter_op_threads) {
    return absl::OkStatus();
  }
  return CallTorch("setting inter-op threads",
                   [&] {
                     torch::set_num_interop_threads(inter_op_threads);
                     return 0;
                   })
      .status();
}

absl::Status SetIntraOpThreadsOfThisThread(int intra_op_threads) {
  if (intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra-op threads must be >= 1; got ", intra_op_threads));
  }
  torch::set_num_threads(intra_op_threads);
  return absl::OkStatus();
}

}  // namespace fewshot::core
