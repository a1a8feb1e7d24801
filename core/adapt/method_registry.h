// Looks up adaptation methods by the name clients send.
#ifndef FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_
#define FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"

namespace fewshot::core {

// Names of every method this build knows, default first.
std::vector<std::string> KnownMethodNames();

// Returns the method called `name` (empty means the default), or
// INVALID_ARGUMENT listing the known names.
absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethod(
    const std::string& name);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_
