// The table of adaptation methods this build knows.
#include "core/adapt/method_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/adapt/prototypical.h"

namespace fewshot::core {

std::vector<std::string> KnownMethodNames() {
  return {PrototypicalMethod::kName};
}

absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethod(
    const std::string& name) {
  if (name.empty() || name == PrototypicalMethod::kName) {
    return std::make_unique<PrototypicalMethod>();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown method '", name, "'; known methods: ",
                   absl::StrJoin(KnownMethodNames(), ", ")));
}

}  // namespace fewshot::core
