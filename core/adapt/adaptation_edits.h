// Changes to a built adaptation state that keep it consistent: adding
// labelled examples (possibly of new classes), removing examples by id and
// removing a class. Each does the bookkeeping common to all methods (rows,
// labels, example ids, times, revision) and lets the method update what it
// derived incrementally.
//
// Example:
//   AdaptationState next = *stored;  // Tensors are shared, not copied.
//   absl::StatusOr<std::vector<int64_t>> ids =
//       AddExamples(method, embeddings, {"cat", "owl"}, now_ms, &next);
#ifndef FEWSHOT_CORE_ADAPT_ADAPTATION_EDITS_H_
#define FEWSHOT_CORE_ADAPT_ADAPTATION_EDITS_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"
#include "core/adapt/adaptation_state.h"

namespace fewshot::core {

// Gives the support rows of a freshly built `state` ids 0..n-1 and sets its
// times to `now_unix_ms`.
void StampNewState(int64_t now_unix_ms, AdaptationState* state);

// Appends `embeddings` [m, D] labelled `labels` (m entries; unknown labels
// become new classes, in order of first appearance) and returns their new
// example ids. INVALID_ARGUMENT if the sizes disagree or the class count
// would exceed `max_classes`. `state` is unchanged on error.
absl::StatusOr<std::vector<int64_t>> AddExamples(
    const AdaptationMethod& method, const torch::Tensor& embeddings,
    const std::vector<std::string>& labels, int max_classes,
    int64_t now_unix_ms, AdaptationState* state);

// Removes the rows with `example_ids`. NOT_FOUND names an unknown id;
// FAILED_PRECONDITION if a class would be left without examples (remove
// the class instead). `state` is unchanged on error.
absl::Status RemoveExamples(const AdaptationMethod& method,
                            const std::vector<int64_t>& example_ids,
                            int64_t now_unix_ms, AdaptationState* state);

// Removes class `label` and its rows. NOT_FOUND for an unknown label;
// FAILED_PRECONDITION if fewer than 2 classes would remain. `state` is
// unchanged on error.
absl::Status RemoveClass(const AdaptationMethod& method,
                         const std::string& label, int64_t now_unix_ms,
                         AdaptationState* state);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_ADAPTATION_EDITS_H_
