// Sets LibTorch's thread counts explicitly instead of relying on its
// defaults (which follow the machine's core count).
#ifndef FEWSHOT_CORE_UTIL_TORCH_THREADS_H_
#define FEWSHOT_CORE_UTIL_TORCH_THREADS_H_

#include "absl/status/status.h"

namespace fewshot::core {

// Sets the intra-op (within one operator) and inter-op thread counts.
// Returns INVALID_ARGUMENT for counts below 1. Call before any LibTorch
// work; inter-op threads can be set only once per process.
absl::Status ConfigureTorchThreads(int intra_op_threads, int inter_op_threads);

// Sets the intra-op thread count of the calling thread only: LibTorch's
// setting is OpenMP's, which each thread keeps for itself, and a thread
// that never set it uses one per core. Threads that run model work call
// this when they start. Returns INVALID_ARGUMENT for a count below 1.
absl::Status SetIntraOpThreadsOfThisThread(int intra_op_threads);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_UTIL_TORCH_THREADS_H_
