// Sets LibTorch's thread counts explicitly, once per process, instead of
// relying on its defaults (which follow the machine's core count).
#ifndef FEWSHOT_CORE_UTIL_TORCH_THREADS_H_
#define FEWSHOT_CORE_UTIL_TORCH_THREADS_H_

#include "absl/status/status.h"

namespace fewshot::core {

// Sets the intra-op (within one operator) and inter-op thread counts.
// Returns INVALID_ARGUMENT for counts below 1. Call before any LibTorch
// work; inter-op threads can be set only once per process.
absl::Status ConfigureTorchThreads(int intra_op_threads,
                                   int inter_op_threads);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_UTIL_TORCH_THREADS_H_
