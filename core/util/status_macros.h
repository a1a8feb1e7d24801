// Early-return helpers for absl::Status and absl::StatusOr.
#ifndef FEWSHOT_CORE_UTIL_STATUS_MACROS_H_
#define FEWSHOT_CORE_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FEWSHOT_STATUS_CONCAT_INNER_(a, b) a##b
#define FEWSHOT_STATUS_CONCAT_(a, b) FEWSHOT_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define FEWSHOT_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    const absl::Status fewshot_status_ = (expr);       \
    if (!fewshot_status_.ok()) return fewshot_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr); on error returns its status,
// otherwise moves its value into `lhs`.
#define FEWSHOT_ASSIGN_OR_RETURN(lhs, rexpr) \
  FEWSHOT_ASSIGN_OR_RETURN_IMPL_(            \
      FEWSHOT_STATUS_CONCAT_(fewshot_statusor_, __LINE__), lhs, rexpr)

#define FEWSHOT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return statusor.status();              \
  lhs = std::move(statusor).value()

#endif  // FEWSHOT_CORE_UTIL_STATUS_MACROS_H_
