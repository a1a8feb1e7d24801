// The one place that converts between fewshot.v1 messages and core types:
// examples to model input tensors, support labels to class indices, core
// predictions to v1.Prediction, and the bundle to GetModelInfoResponse.
//
// Example:
//   absl::StatusOr<torch::Tensor> batch =
//       QueriesToInputs(request.queries(), preprocessing, image_limits);
#ifndef FEWSHOT_SERVER_PROTO_CONVERSION_H_
#define FEWSHOT_SERVER_PROTO_CONVERSION_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/adapt/adaptation_state.h"
#include "core/adapt/class_prediction.h"
#include "core/bundle/model_bundle.h"
#include "core/data/image_decoder.h"
#include "core/data/preprocessing.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "fewshot/v1/types.pb.h"
#include "server/request_limits.h"

namespace fewshot::server {

// Support labels mapped to class indices in order of first appearance.
struct IndexedLabels {
  // Class index -> label.
  std::vector<std::string> labels;
  // int64 [n]: the class index of each support example.
  torch::Tensor class_indices;
};

// REQUIRES: every example passed RequestValidator.

// One example as float [C, H, W] model input: a PNG is decoded (within
// `image_limits`) and preprocessed; a tensor is copied. `field` names the
// example in errors, e.g. "queries[4]". Returns INVALID_ARGUMENT for an
// image that cannot be decoded or is too large.
absl::StatusOr<torch::Tensor> ExampleToInput(
    const v1::Example& example, const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits, absl::string_view field);

// The support examples as one float [n, C, H, W] batch.
absl::StatusOr<torch::Tensor> SupportToInputs(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support,
    const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits);

// The queries as one float [q, C, H, W] batch.
absl::StatusOr<torch::Tensor> QueriesToInputs(
    const google::protobuf::RepeatedPtrField<v1::Example>& queries,
    const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits);

IndexedLabels IndexSupportLabels(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support);

// `prediction` over the classes named by `labels` (class index -> label),
// with scores sorted by descending probability. When its confidence is
// below `min_confidence` the label is empty and `rejected` is set.
v1::Prediction ToProtoPrediction(const core::ClassPrediction& prediction,
                                 float min_confidence,
                                 const std::vector<std::string>& labels);

// One summary per class of `state`, in class index order.
google::protobuf::RepeatedPtrField<v1::ClassSummary> ToClassSummaries(
    const core::AdaptationState& state);

// Example ids as the API shows them (decimal strings), and back.
// REQUIRES for ParseExampleIds: the ids passed RequestValidator.
google::protobuf::RepeatedPtrField<std::string> ToProtoExampleIds(
    const std::vector<int64_t>& ids);
std::vector<int64_t> ParseExampleIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids);

// The labels of `examples`, in order.
std::vector<std::string> ExampleLabels(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& examples);

// The description GetAdaptation returns for `state` kept under `id`.
v1::GetAdaptationResponse ToAdaptationInfo(const std::string& id,
                                           const core::AdaptationState& state);

core::ImageLimits ToImageLimits(const RequestLimits& limits);

// The model description. `methods` are the names the server accepts,
// default first; each gets a MethodInfo from the metadata.
v1::GetModelInfoResponse ToModelInfo(const core::BundleMetadata& metadata,
                                     const std::vector<std::string>& methods,
                                     const RequestLimits& limits);

}  // namespace fewshot::server

#endif  // FEWSHOT_SERVER_PROTO_CONVERSION_H_
