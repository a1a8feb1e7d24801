// Runs LibTorch calls so that their exceptions become absl::Status values
// instead of crossing a module boundary.
#ifndef FEWSHOT_CORE_UTIL_TORCH_ERRORS_H_
#define FEWSHOT_CORE_UTIL_TORCH_ERRORS_H_

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace fewshot::core {

// Calls `fn` and returns its result; a thrown exception becomes an
// INTERNAL status whose message starts with `what`.
//
// Example:
//   absl::StatusOr<torch::Tensor> out =
//       CallTorch("encoder forward", [&] { return net->forward(x); });
template <typename Fn>
auto CallTorch(absl::string_view what, Fn&& fn)
    -> absl::StatusOr<std::invoke_result_t<Fn>> {
  try {
    return std::forward<Fn>(fn)();
  } catch (const std::exception& e) {
    std::string message = e.what();
    // LibTorch messages carry a long C++ backtrace after the first line.
    const size_t newline = message.find('\n');
    if (newline != std::string::npos) message.resize(newline);
    return absl::InternalError(absl::StrCat(what, ": ", message));
  }
}

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_UTIL_TORCH_ERRORS_H_
