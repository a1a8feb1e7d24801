// Implements the state edits described in adaptation_edits.h. Each edit
// works on a copy (tensors are shared, never written in place) and commits
// it only when every step succeeded.
#include "core/adapt/adaptation_edits.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

// Keeps the support rows where `keep` (bool [n]) is true, with their ids.
absl::Status KeepRows(const torch::Tensor& keep, AdaptationState* state) {
  FEWSHOT_ASSIGN_OR_RETURN(state->support_embeddings,
                           CallTorch("removing rows", [&] {
                             return state->support_embeddings.index({keep});
                           }));
  FEWSHOT_ASSIGN_OR_RETURN(state->support_labels,
                           CallTorch("removing rows", [&] {
                             return state->support_labels.index({keep});
                           }));
  const torch::Tensor keep_cpu = keep.to(torch::kBool).contiguous();
  const bool* flags = keep_cpu.data_ptr<bool>();
  std::vector<int64_t> kept_ids;
  for (size_t i = 0; i < state->example_ids.size(); ++i) {
    if (flags[i]) kept_ids.push_back(state->example_ids[i]);
  }
  state->example_ids = std::move(kept_ids);
  return absl::OkStatus();
}

// Records one change made at `now_unix_ms`.
void Touch(int64_t now_unix_ms, AdaptationState* state) {
  state->updated_unix_ms = now_unix_ms;
  ++state->revision;
}

}  // namespace

void StampNewState(int64_t now_unix_ms, AdaptationState* state) {
  const int64_t rows =
      state->support_labels.defined() ? state->support_labels.numel() : 0;
  state->example_ids.resize(rows);
  for (int64_t i = 0; i < rows; ++i) state->example_ids[i] = i;
  state->next_example_id = rows;
  state->created_unix_ms = now_unix_ms;
  state->updated_unix_ms = now_unix_ms;
  state->revision = 0;
}

absl::StatusOr<std::vector<int64_t>> AddExamples(
    const AdaptationMethod& method, const torch::Tensor& embeddings,
    const std::vector<std::string>& labels, int max_classes,
    int64_t now_unix_ms, AdaptationState* state) {
  if (embeddings.dim() != 2 ||
      embeddings.size(0) != static_cast<int64_t>(labels.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected one embedding row per label; got ", labels.size(),
        " labels and embeddings of ", embeddings.dim(), " dimensions"));
  }
  AdaptationState next = *state;

  // Map labels to class indices, appending new classes.
  absl::flat_hash_map<std::string, int64_t> index;
  for (size_t c = 0; c < next.labels.size(); ++c) index[next.labels[c]] = c;
  std::vector<int64_t> class_indices;
  class_indices.reserve(labels.size());
  for (const std::string& label : labels) {
    auto [found, inserted] = index.try_emplace(label, next.labels.size());
    if (inserted) next.labels.push_back(label);
    class_indices.push_back(found->second);
  }
  if (next.num_classes() > max_classes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the adaptation would have ", next.num_classes(),
                     " classes; at most ", max_classes, " are allowed"));
  }

  // Append the rows and give them ids.
  const int64_t first_new_row = next.support_labels.numel();
  FEWSHOT_ASSIGN_OR_RETURN(
      next.support_embeddings, CallTorch("appending rows", [&] {
        return torch::cat({next.support_embeddings,
                           embeddings.to(next.support_embeddings.dtype())});
      }));
  FEWSHOT_ASSIGN_OR_RETURN(
      next.support_labels, CallTorch("appending rows", [&] {
        return torch::cat(
            {next.support_labels, torch::tensor(class_indices, torch::kInt64)});
      }));
  std::vector<int64_t> new_ids;
  for (size_t i = 0; i < labels.size(); ++i) {
    new_ids.push_back(next.next_example_id++);
  }
  next.example_ids.insert(next.example_ids.end(), new_ids.begin(),
                          new_ids.end());

  // Update what the method derived, then commit.
  FEWSHOT_RETURN_IF_ERROR(method.Extend(&next, first_new_row));
  Touch(now_unix_ms, &next);
  *state = std::move(next);
  return new_ids;
}

absl::Status RemoveExamples(const AdaptationMethod& method,
                            const std::vector<int64_t>& example_ids,
                            int64_t now_unix_ms, AdaptationState* state) {
  // Find the rows and the classes they belong to.
  absl::flat_hash_map<int64_t, int64_t> row_of;
  for (size_t i = 0; i < state->example_ids.size(); ++i) {
    row_of[state->example_ids[i]] = i;
  }
  const torch::Tensor labels_cpu =
      state->support_labels.to(torch::kInt64).contiguous();
  const int64_t* class_of = labels_cpu.data_ptr<int64_t>();
  std::vector<int64_t> counts = state->ClassCounts();
  std::vector<bool> keep(state->example_ids.size(), true);
  absl::flat_hash_set<int64_t> affected;
  for (const int64_t id : example_ids) {
    const auto found = row_of.find(id);
    if (found == row_of.end()) {
      return absl::NotFoundError(
          absl::StrCat("example id ", id, " is not in the adaptation"));
    }
    if (!keep[found->second]) continue;
    keep[found->second] = false;
    const int64_t c = class_of[found->second];
    affected.insert(c);
    if (--counts[c] == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "removing these examples would leave class '", state->labels[c],
          "' empty; remove the class with RemoveClass instead"));
    }
  }

  // Drop the rows and refit only the affected classes, then commit.
  AdaptationState next = *state;
  std::vector<uint8_t> keep_bytes(keep.begin(), keep.end());
  FEWSHOT_RETURN_IF_ERROR(KeepRows(
      torch::tensor(keep_bytes, torch::kUInt8).to(torch::kBool), &next));
  std::vector<int64_t> classes(affected.begin(), affected.end());
  std::sort(classes.begin(), classes.end());
  FEWSHOT_RETURN_IF_ERROR(method.Refit(&next, classes));
  Touch(now_unix_ms, &next);
  *state = std::move(next);
  return absl::OkStatus();
}

absl::Status RemoveClass(const AdaptationMethod& method,
                         const std::string& label, int64_t now_unix_ms,
                         AdaptationState* state) {
  const auto found =
      std::find(state->labels.begin(), state->labels.end(), label);
  if (found == state->labels.end()) {
    return absl::NotFoundError(
        absl::StrCat("label '", label, "' is not a class of the adaptation"));
  }
  if (state->num_classes() <= 2) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the adaptation has ", state->num_classes(),
        " classes and needs at least 2; delete the adaptation instead"));
  }
  const int64_t removed = found - state->labels.begin();

  // Drop the class's rows, shift later class indices down, then let the
  // method drop it too.
  AdaptationState next = *state;
  FEWSHOT_RETURN_IF_ERROR(KeepRows(next.support_labels != removed, &next));
  FEWSHOT_ASSIGN_OR_RETURN(
      next.support_labels, CallTorch("renumbering classes", [&] {
        return next.support_labels -
               (next.support_labels > removed).to(torch::kInt64);
      }));
  next.labels.erase(next.labels.begin() + removed);
  FEWSHOT_RETURN_IF_ERROR(method.DropClass(&next, removed));
  Touch(now_unix_ms, &next);
  *state = std::move(next);
  return absl::OkStatus();
}

}  // namespace fewshot::core
