// Implements the request checks described in request_validation.h.
#include "server/request_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/status_macros.h"

namespace fewshot::server {
namespace {

// Formats a shape as "[1,28,28]".
template <typename Dims>
std::string ShapeString(const Dims& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

// INVALID_ARGUMENT for a repeated field with more than `limit` entries.
absl::Status CheckAtMost(absl::string_view field, int64_t count,
                         int64_t limit) {
  if (count <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, " has ", count, " entries; at most ", limit, " are allowed"));
}

// INVALID_ARGUMENT for an empty adaptation_id.
absl::Status CheckAdaptationId(const std::string& id) {
  if (!id.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "adaptation_id is empty; pass the id returned by Adapt");
}

}  // namespace

RequestValidator::RequestValidator(RequestLimits limits,
                                   core::Preprocessing input,
                                   std::vector<std::string> methods)
    : limits_(limits), input_(input), methods_(std::move(methods)) {}

absl::Status RequestValidator::ValidateAdapt(
    const v1::AdaptRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(ValidateMethod(request.method()));
  FEWSHOT_RETURN_IF_ERROR(ValidateMamlOptions(
      request.method(), request.has_maml(), request.maml()));
  return ValidateSupport(request.support());
}

absl::Status RequestValidator::ValidatePredict(
    const v1::PredictRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(CheckAdaptationId(request.adaptation_id()));
  FEWSHOT_RETURN_IF_ERROR(ValidateMinConfidence(request.min_confidence()));
  return ValidateQueries(request.queries());
}

absl::Status RequestValidator::ValidateClassify(
    const v1::ClassifyRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(ValidateMethod(request.method()));
  FEWSHOT_RETURN_IF_ERROR(ValidateMamlOptions(
      request.method(), request.has_maml(), request.maml()));
  FEWSHOT_RETURN_IF_ERROR(ValidateMinConfidence(request.min_confidence()));
  FEWSHOT_RETURN_IF_ERROR(ValidateSupport(request.support()));
  return ValidateQueries(request.queries());
}

absl::Status RequestValidator::ValidateDeleteAdaptation(
    const v1::DeleteAdaptationRequest& request) const {
  return CheckAdaptationId(request.adaptation_id());
}

absl::Status RequestValidator::ValidateAddExamples(
    const v1::AddExamplesRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(CheckAdaptationId(request.adaptation_id()));
  return ValidateLabeledExamples(request.examples(), "examples");
}

absl::Status RequestValidator::ValidateFeedback(
    const v1::FeedbackRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(CheckAdaptationId(request.adaptation_id()));
  if (!request.has_query()) {
    return absl::InvalidArgumentError(
        "query is missing; expected the image or tensor that was classified");
  }
  FEWSHOT_RETURN_IF_ERROR(ValidateExample(request.query(), "query"));
  return ValidateLabel(request.correct_label(), "correct_label");
}

absl::Status RequestValidator::ValidateRemoveExamples(
    const v1::RemoveExamplesRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(CheckAdaptationId(request.adaptation_id()));
  if (request.example_ids().empty()) {
    return absl::InvalidArgumentError(
        "example_ids is empty; expected ids returned by Adapt, AddExamples "
        "or Feedback");
  }
  FEWSHOT_RETURN_IF_ERROR(CheckAtMost("example_ids", request.example_ids_size(),
                                      limits_.max_support_examples));
  for (int i = 0; i < request.example_ids_size(); ++i) {
    int64_t id = -1;
    if (!absl::SimpleAtoi(request.example_ids(i), &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "example_ids[", i, "] is \"", request.example_ids(i),
          "\"; expected an id returned by Adapt, AddExamples or Feedback"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateRemoveClass(
    const v1::RemoveClassRequest& request) const {
  FEWSHOT_RETURN_IF_ERROR(CheckAdaptationId(request.adaptation_id()));
  return ValidateLabel(request.label(), "label");
}

absl::Status RequestValidator::ValidateGetAdaptation(
    const v1::GetAdaptationRequest& request) const {
  return CheckAdaptationId(request.adaptation_id());
}

absl::Status RequestValidator::ValidateLabel(const std::string& label,
                                             absl::string_view field) const {
  if (label.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is empty; expected a class label"));
  }
  if (static_cast<int64_t>(label.size()) > limits_.max_label_length) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", label.size(), " bytes; at most ",
                     limits_.max_label_length, " are allowed"));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateLabeledExamples(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& examples,
    absl::string_view field) const {
  // Size first, so that a huge request is not walked.
  if (examples.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is empty; expected at least one labelled example"));
  }
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtMost(field, examples.size(), limits_.max_support_examples));

  // Each labelled example.
  for (int i = 0; i < examples.size(); ++i) {
    const v1::LabeledExample& labeled = examples[i];
    const std::string item = absl::StrCat(field, "[", i, "]");
    FEWSHOT_RETURN_IF_ERROR(
        ValidateLabel(labeled.label(), absl::StrCat(item, ".label")));
    if (!labeled.has_example()) {
      return absl::InvalidArgumentError(absl::StrCat(
          item, ".example is missing; expected an image or a tensor"));
    }
    FEWSHOT_RETURN_IF_ERROR(
        ValidateExample(labeled.example(), absl::StrCat(item, ".example")));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateSupport(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support)
    const {
  // Size first, so that a huge request is not walked.
  if (support.empty()) {
    return absl::InvalidArgumentError(
        "support is empty; expected at least one example for each of at "
        "least 2 classes");
  }
  FEWSHOT_RETURN_IF_ERROR(ValidateLabeledExamples(support, "support"));
  absl::flat_hash_set<absl::string_view> labels;
  for (const v1::LabeledExample& labeled : support) {
    labels.insert(labeled.label());
  }

  // The classes they form.
  if (labels.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("support has ", labels.size(),
                     " distinct label; expected at least 2 classes"));
  }
  if (static_cast<int64_t>(labels.size()) > limits_.max_classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "support has ", labels.size(), " distinct labels; at most ",
        limits_.max_classes, " classes are allowed"));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateQueries(
    const google::protobuf::RepeatedPtrField<v1::Example>& queries) const {
  if (queries.empty()) {
    return absl::InvalidArgumentError(
        "queries is empty; expected at least one example to classify");
  }
  FEWSHOT_RETURN_IF_ERROR(
      CheckAtMost("queries", queries.size(), limits_.max_queries));
  for (int i = 0; i < queries.size(); ++i) {
    FEWSHOT_RETURN_IF_ERROR(
        ValidateExample(queries[i], absl::StrCat("queries[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateExample(const v1::Example& example,
                                               absl::string_view field) const {
  switch (example.input_case()) {
    case v1::Example::kImage:
      if (example.image().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ".image is empty; expected PNG bytes"));
      }
      if (static_cast<int64_t>(example.image().size()) >
          limits_.max_image_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".image has ", example.image().size(), " bytes; at most ",
            limits_.max_image_bytes, " are allowed"));
      }
      return absl::OkStatus();
    case v1::Example::kTensor:
      return ValidateTensor(example.tensor(), absl::StrCat(field, ".tensor"));
    case v1::Example::INPUT_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      field, " has neither image nor tensor; expected one of them"));
}

absl::Status RequestValidator::ValidateTensor(const v1::FloatTensor& tensor,
                                              absl::string_view field) const {
  // The shape must be the model input, [C, H, W].
  const std::vector<int64_t> expected = {input_.channels, input_.height,
                                         input_.width};
  if (!std::equal(tensor.shape().begin(), tensor.shape().end(),
                  expected.begin(), expected.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".shape is ", ShapeString(tensor.shape()),
                     "; expected ", ShapeString(expected)));
  }

  // The values must fill it.
  const int64_t expected_values = expected[0] * expected[1] * expected[2];
  if (tensor.values_size() != expected_values) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".values has ", tensor.values_size(), " values; expected ",
        expected_values, " for shape ", ShapeString(expected)));
  }

  // And be finite.
  for (int i = 0; i < tensor.values_size(); ++i) {
    if (!std::isfinite(tensor.values(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".values[", i, "] is ", tensor.values(i),
                       "; expected a finite number"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateMethod(const std::string& method) const {
  if (method.empty() ||
      std::find(methods_.begin(), methods_.end(), method) != methods_.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "method is \"", method, "\"; expected one of [",
      absl::StrJoin(methods_, ", "), "] or empty for the default"));
}

absl::Status RequestValidator::ValidateMamlOptions(
    const std::string& method, bool has_options,
    const v1::MamlOptions& options) const {
  if (!has_options) return absl::OkStatus();
  const std::string& resolved =
      method.empty() && !methods_.empty() ? methods_.front() : method;
  if (resolved != kMamlMethodName &&
      (options.steps() != 0 || options.step_size() != 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maml options are set but method is \"", resolved,
        "\"; set method to \"", kMamlMethodName, "\" or clear maml"));
  }
  if (options.steps() < 0 || options.steps() > limits_.max_maml_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("maml.steps is ", options.steps(),
                     "; expected 0 (the default) to ", limits_.max_maml_steps));
  }
  if (!(options.step_size() >= 0.0f &&
        options.step_size() <= limits_.max_maml_step_size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "maml.step_size is ", options.step_size(),
        "; expected 0 (the learned rates) to ", limits_.max_maml_step_size));
  }
  return absl::OkStatus();
}

absl::Status RequestValidator::ValidateMinConfidence(float value) const {
  if (value >= 0.0f && value <= 1.0f) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("min_confidence is ", value,
                   "; expected a probability in [0, 1] (0 rejects nothing)"));
}

}  // namespace fewshot::server
