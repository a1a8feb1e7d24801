// Turns fewshot.v1 responses into what fewshot-client prints: short text for
// people, or JSON (the proto JSON mapping) for scripts.
//
// Example:
//   std::cout << FormatPredictions(queries, response.predictions(),
//                                  /*top_k=*/3);
#ifndef FEWSHOT_CLIENT_OUTPUT_FORMAT_H_
#define FEWSHOT_CLIENT_OUTPUT_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/image_files.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace fewshot::client {

// The model description, one fact per line.
std::string FormatModelInfo(const v1::GetModelInfoResponse& info);

// The adaptation id, then one line per class with its example count.
std::string FormatAdaptation(const v1::AdaptResponse& response);

// One line per class with its example count, indented by two spaces.
std::string FormatClasses(
    const google::protobuf::RepeatedPtrField<v1::ClassSummary>& classes);

// The added example ids, then the classes.
std::string FormatAddedExamples(const v1::AddExamplesResponse& response);

// The prediction before and after the correction, and the new example id.
std::string FormatFeedback(const v1::FeedbackResponse& response);

// Everything GetAdaptation says, one fact per line.
std::string FormatAdaptationInfo(const v1::GetAdaptationResponse& info);

// One block per query: its path, the predicted label and confidence, then up
// to `top_k` class scores. REQUIRES: one prediction per query, in order.
std::string FormatPredictions(
    const std::vector<QueryFile>& queries,
    const google::protobuf::RepeatedPtrField<v1::Prediction>& predictions,
    int top_k);

// `message` in the proto JSON mapping, on one line, with default values
// printed.
absl::StatusOr<std::string> MessageToJson(
    const google::protobuf::Message& message);

// {"queries": [<path>, ...], "response": <message as JSON>}, on one line.
absl::StatusOr<std::string> ResponseWithQueriesToJson(
    const std::vector<QueryFile>& queries,
    const google::protobuf::Message& response);

}  // namespace fewshot::client

#endif  // FEWSHOT_CLIENT_OUTPUT_FORMAT_H_
