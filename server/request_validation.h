// Checks every request against the API's rules and the server's limits
// before any work is done, so that a bad request fails fast with a message
// naming the field, e.g.
//   "support[3].example.tensor.shape is [1,32,32]; expected [1,28,28]".
//
// Example:
//   RequestValidator validator(limits, bundle.metadata.preprocessing,
//                              {"protonet"});
//   FEWSHOT_RETURN_IF_ERROR(validator.ValidateAdapt(request));
#ifndef FEWSHOT_SERVER_REQUEST_VALIDATION_H_
#define FEWSHOT_SERVER_REQUEST_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/data/preprocessing.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "fewshot/v1/types.pb.h"
#include "server/request_limits.h"

namespace fewshot::server {

// The method MamlOptions apply to.
inline constexpr char kMamlMethodName[] = "maml";

// Immutable and thread-safe. Every failure is INVALID_ARGUMENT. Image
// contents are checked later, when they are decoded.
class RequestValidator {
 public:
  // `input` gives the tensor shape [channels, height, width] that tensor
  // examples must have; `methods` the names accepted in `method` fields.
  RequestValidator(RequestLimits limits, core::Preprocessing input,
                   std::vector<std::string> methods);

  absl::Status ValidateAdapt(const v1::AdaptRequest& request) const;
  absl::Status ValidatePredict(const v1::PredictRequest& request) const;
  absl::Status ValidateClassify(const v1::ClassifyRequest& request) const;
  absl::Status ValidateDeleteAdaptation(
      const v1::DeleteAdaptationRequest& request) const;
  absl::Status ValidateAddExamples(const v1::AddExamplesRequest& request) const;
  absl::Status ValidateFeedback(const v1::FeedbackRequest& request) const;
  absl::Status ValidateRemoveExamples(
      const v1::RemoveExamplesRequest& request) const;
  absl::Status ValidateRemoveClass(const v1::RemoveClassRequest& request) const;
  absl::Status ValidateGetAdaptation(
      const v1::GetAdaptationRequest& request) const;

 private:
  // A support set: size, labels, number of classes, and each example.
  absl::Status ValidateSupport(
      const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support)
      const;

  // Labelled examples named `field` (e.g. "examples"): not empty, not too
  // many, each with a valid label and example. Says nothing about classes.
  absl::Status ValidateLabeledExamples(
      const google::protobuf::RepeatedPtrField<v1::LabeledExample>& examples,
      absl::string_view field) const;

  // A class label in `field`: not empty and not too long.
  absl::Status ValidateLabel(const std::string& label,
                             absl::string_view field) const;

  // A query list: not empty, not too long, and each example.
  absl::Status ValidateQueries(
      const google::protobuf::RepeatedPtrField<v1::Example>& queries) const;

  // One example; `field` names it in messages, e.g. "queries[2]".
  absl::Status ValidateExample(const v1::Example& example,
                               absl::string_view field) const;

  // A tensor example: exact model shape, matching count, finite values.
  absl::Status ValidateTensor(const v1::FloatTensor& tensor,
                              absl::string_view field) const;

  // An empty name (the default) or one of methods_.
  absl::Status ValidateMethod(const std::string& method) const;

  // MamlOptions within the limits, and only for the maml method (`method`
  // empty means methods_.front()).
  absl::Status ValidateMamlOptions(const std::string& method, bool has_options,
                                   const v1::MamlOptions& options) const;

  // A rejection threshold in [0, 1].
  absl::Status ValidateMinConfidence(float value) const;

  const RequestLimits limits_;
  const core::Preprocessing input_;
  const std::vector<std::string> methods_;
};

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_REQUEST_VALIDATION_H_
