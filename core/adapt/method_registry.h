// Looks up adaptation methods by the name clients send, either with the
// build's defaults (methods that learn nothing) or set up from a model
// bundle's heads and hyper-parameters.
//
// Example:
//   absl::StatusOr<std::unique_ptr<AdaptationMethod>> maml =
//       CreateMethodFromBundle("maml", bundle);
#ifndef FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_
#define FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/adapt/adaptation_method.h"
#include "core/bundle/model_bundle.h"

namespace fewshot::core {

// Names of every method this build knows, default first.
std::vector<std::string> KnownMethodNames();

// Returns the method called `name` (empty means the default, protonet)
// for methods that need no learned head, or INVALID_ARGUMENT listing the
// names this call can create.
absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethod(
    const std::string& name);

// Returns the method called `name` (empty means protonet) set up from
// `bundle`: its head weights, hyper-parameters and temperature.
// INVALID_ARGUMENT listing the methods the bundle carries when it has no
// such method or this build does not know it; INVALID_ARGUMENT when the
// head's weights do not fit the method.
absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethodFromBundle(
    const std::string& name, const ModelBundle& bundle);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_METHOD_REGISTRY_H_
