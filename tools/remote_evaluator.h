// Runs the evaluator's seeded episodes against a running fewshot server
// through its public API: per episode one Adapt call with the support set
// as preprocessed tensors, one Predict call with every query, then
// DeleteAdaptation. The result has the same fields as an in-process
// evaluation; latencies are the Adapt and Predict calls as the client saw
// them.
//
// Example:
//   absl::StatusOr<core::Preprocessing> preprocessing =
//       PreprocessingOfServer(*client);
//   absl::StatusOr<core::EvaluationResult> result = EvaluateEpisodesOverGrpc(
//       *client, "protonet", test_set, *preprocessing, options);
#ifndef FEWSHOT_TOOLS_REMOTE_EVALUATOR_H_
#define FEWSHOT_TOOLS_REMOTE_EVALUATOR_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "client/fewshot_client.h"
#include "core/data/image_dataset.h"
#include "core/data/preprocessing.h"
#include "core/eval/evaluator.h"

namespace fewshot::tools {

// The server's input recipe, from GetModelInfo.
absl::StatusOr<core::Preprocessing> PreprocessingOfServer(
    client::FewShotClient& client);

// Like core::EvaluateEpisodes, with the model behind `client`. `method` is
// sent in each Adapt call (empty: the server's default). Class c of an
// episode is labelled "class<c>". Returns the first failed call's status,
// with the episode index in its message.
absl::StatusOr<core::EvaluationResult> EvaluateEpisodesOverGrpc(
    client::FewShotClient& client, const std::string& method,
    const core::ImageDataset& dataset, const core::Preprocessing& preprocessing,
    const core::EvaluationOptions& options,
    const std::function<void(int)>& progress = {});

}  // namespace fewshot::tools

#endif  // FEWSHOT_TOOLS_REMOTE_EVALUATOR_H_
