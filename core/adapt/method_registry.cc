// The table of adaptation methods this build knows.
#include "core/adapt/method_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/adapt/attention.h"
#include "core/adapt/maml.h"
#include "core/adapt/prototypical.h"

namespace fewshot::core {

std::vector<std::string> KnownMethodNames() {
  return {PrototypicalMethod::kName, MamlMethod::kName, AttentionMethod::kName};
}

absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethod(
    const std::string& name) {
  if (name.empty() || name == PrototypicalMethod::kName) {
    return std::make_unique<PrototypicalMethod>();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown method '", name,
      "' without a model bundle; known methods: ", PrototypicalMethod::kName,
      " (the others need the bundle's learned heads)"));
}

absl::StatusOr<std::unique_ptr<AdaptationMethod>> CreateMethodFromBundle(
    const std::string& name, const ModelBundle& bundle) {
  const std::string wanted = name.empty() ? PrototypicalMethod::kName : name;
  const MethodSpec* spec = bundle.metadata.FindMethod(wanted);
  const std::vector<std::string> known = KnownMethodNames();
  if (spec == nullptr ||
      std::find(known.begin(), known.end(), wanted) == known.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method '", wanted, "' is not offered by model '", bundle.metadata.name,
        "'; it carries: ", absl::StrJoin(bundle.metadata.MethodNames(), ", "),
        "; this build knows: ", absl::StrJoin(known, ", ")));
  }
  if (wanted == PrototypicalMethod::kName) {
    return std::make_unique<PrototypicalMethod>(
        TemperatureSchedule::FromSpec(*spec));
  }
  const auto head = bundle.heads.find(wanted);
  if (head == bundle.heads.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", bundle.metadata.name, "' lists method '", wanted,
        "' without its head weights; train it with fewshot-train --method=",
        wanted));
  }
  absl::StatusOr<std::unique_ptr<AdaptationMethod>> method;
  if (wanted == MamlMethod::kName) {
    method = MamlMethod::Create(head->second, *spec);
  } else {
    method = AttentionMethod::Create(head->second, *spec);
  }
  if (!method.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", bundle.metadata.name, "': ", method.status().message()));
  }
  return method;
}

}  // namespace fewshot::core
