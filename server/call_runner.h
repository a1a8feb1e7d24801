// Runs one gRPC call's model work on the worker pool and waits for it, so
// that handler threads never run the model themselves and a full queue,
// an expired deadline or a cancelled call ends the wait at once.
//
// Example:
//   auto output = std::make_shared<torch::Tensor>();
//   absl::Status status = RunForCall(*context, pool, [input, output] {
//     return Embed(*input, output.get());
//   });
#ifndef FEWSHOT_SERVER_CALL_RUNNER_H_
#define FEWSHOT_SERVER_CALL_RUNNER_H_

#include <grpcpp/server_context.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/thread_pool.h"

namespace fewshot::server {

// The call's deadline; "no deadline" becomes absl::InfiniteFuture().
absl::Time CallDeadline(const grpc::ServerContextBase& context);

// Submits `work` to `pool` and blocks until it finishes, returning its
// status. Returns early, without waiting for the work, with
// RESOURCE_EXHAUSTED or UNAVAILABLE when the pool refuses it,
// DEADLINE_EXCEEDED when the call's deadline passes and CANCELLED when the
// client cancels; work that has not started by then is skipped.
//
// NOTE: `work` may outlive this call, so it must own (e.g. through
// std::shared_ptr) everything it reads or writes, and must not touch
// `context`.
absl::Status RunForCall(const grpc::ServerContext& context, ThreadPool& pool,
                        absl::AnyInvocable<absl::Status() &&> work);

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_CALL_RUNNER_H_
