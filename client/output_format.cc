// Implements the text and JSON output of fewshot-client.
#include "client/output_format.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/image_files.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace fewshot::client {
namespace {

// `value` as a JSON string literal, quoted and escaped.
absl::StatusOr<std::string> JsonString(const std::string& value) {
  google::protobuf::Value json_value;
  json_value.set_string_value(value);
  return MessageToJson(json_value);
}

}  // namespace

std::string FormatModelInfo(const v1::GetModelInfoResponse& info) {
  std::string out;

  // What the model is and what it expects.
  absl::StrAppend(&out, "model:          ", info.model_name(), " (version ",
                  info.model_version(), ")\n");
  absl::StrAppend(&out, "trained on:     ", info.training_split(), "\n");
  const v1::InputSpec& input = info.input();
  absl::StrAppendFormat(
      &out, "input:          %dx%dx%d, invert=%s, mean=%g, stddev=%g\n",
      input.channels(), input.height(), input.width(),
      input.invert() ? "true" : "false", input.mean(), input.stddev());
  absl::StrAppend(&out, "embedding size: ", info.embedding_size(), "\n");
  absl::StrAppend(&out, "methods:        ", absl::StrJoin(info.methods(), ", "),
                  " (default ", info.default_method(), ")\n");

  // Measured accuracy, one line per figure.
  for (const v1::MeasuredAccuracy& accuracy : info.measured_accuracy()) {
    absl::StrAppendFormat(
        &out,
        "accuracy:       %s on %s, %d-way %d-shot: %.2f%% +- %.2f%% "
        "(%d episodes)\n",
        accuracy.method(), accuracy.split(), accuracy.ways(), accuracy.shots(),
        100 * accuracy.accuracy(), 100 * accuracy.ci95(), accuracy.episodes());
  }

  // Request limits.
  const v1::RequestLimits& limits = info.limits();
  absl::StrAppendFormat(
      &out,
      "limits:         %d support examples, %d queries, %d classes, "
      "%d bytes and %d pixels per image, %d characters per label, %d "
      "StreamPredict messages in flight per stream\n",
      limits.max_support_examples(), limits.max_queries(), limits.max_classes(),
      limits.max_image_bytes(), limits.max_image_pixels(),
      limits.max_label_length(), limits.max_stream_messages_in_flight());
  return out;
}

std::string FormatAdaptation(const v1::AdaptResponse& response) {
  std::string out;
  absl::StrAppend(&out, "adaptation_id: ", response.adaptation_id(), "\n");
  absl::StrAppend(&out, "method:        ", response.method(), " (model ",
                  response.model_version(), ")\n");
  absl::StrAppend(&out, "classes:       ", response.classes_size(), "\n");
  absl::StrAppend(&out, FormatClasses(response.classes()));
  return out;
}

std::string FormatClasses(
    const google::protobuf::RepeatedPtrField<v1::ClassSummary>& classes) {
  std::string out;
  for (const v1::ClassSummary& summary : classes) {
    absl::StrAppend(&out, "  ", summary.label(), ": ", summary.examples(),
                    " examples\n");
  }
  return out;
}

std::string FormatAddedExamples(const v1::AddExamplesResponse& response) {
  std::string out;
  absl::StrAppend(&out, "added example ids: ",
                  absl::StrJoin(response.example_ids(), " "), "\n");
  absl::StrAppend(&out, "classes: ", response.classes_size(), "\n");
  absl::StrAppend(&out, FormatClasses(response.classes()));
  return out;
}

std::string FormatFeedback(const v1::FeedbackResponse& response) {
  std::string out;
  absl::StrAppend(&out, "before:     ", response.predicted_label_before(),
                  "\n");
  absl::StrAppend(&out, "after:      ", response.predicted_label_after(),
                  response.prediction_changed() ? " (changed)" : " (same)",
                  "\n");
  absl::StrAppend(&out, "example_id: ", response.example_id(), "\n");
  return out;
}

std::string FormatAdaptationInfo(const v1::GetAdaptationResponse& info) {
  std::string out;
  absl::StrAppend(&out, "adaptation_id: ", info.adaptation_id(), "\n");
  absl::StrAppend(&out, "method:        ", info.method(), " (model ",
                  info.model_version(), ")\n");
  absl::StrAppend(&out, "created:       ",
                  absl::FormatTime(absl::FromUnixMillis(info.created_unix_ms()),
                                   absl::UTCTimeZone()),
                  "\n");
  absl::StrAppend(&out, "updated:       ",
                  absl::FormatTime(absl::FromUnixMillis(info.updated_unix_ms()),
                                   absl::UTCTimeZone()),
                  "\n");
  absl::StrAppend(&out, "size:          ", info.size_bytes(), " bytes\n");
  absl::StrAppend(&out, "classes:       ", info.classes_size(), "\n");
  absl::StrAppend(&out, FormatClasses(info.classes()));
  return out;
}

std::string FormatPredictions(
    const std::vector<QueryFile>& queries,
    const google::protobuf::RepeatedPtrField<v1::Prediction>& predictions,
    int top_k) {
  std::string out;
  const int count =
      std::min(static_cast<int>(queries.size()), predictions.size());
  for (int i = 0; i < count; ++i) {
    const v1::Prediction& prediction = predictions[i];
    const std::string label =
        prediction.rejected() ? "(rejected)" : prediction.label();
    absl::StrAppendFormat(&out, "%s\t%s\t%.4f\n", queries[i].path, label,
                          prediction.confidence());

    const int shown = std::min(top_k, prediction.scores_size());
    for (int k = 0; k < shown; ++k) {
      const v1::LabelScore& score = prediction.scores(k);
      absl::StrAppendFormat(&out, "  %d. %s  p=%.4f  score=%.4f\n", k + 1,
                            score.label(), score.probability(), score.score());
    }
  }
  return out;
}

absl::StatusOr<std::string> MessageToJson(
    const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;

  std::string json;
  const google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print the response as JSON: ", status.ToString()));
  }
  return json;
}

absl::StatusOr<std::string> ResponseWithQueriesToJson(
    const std::vector<QueryFile>& queries,
    const google::protobuf::Message& response) {
  std::vector<std::string> paths;
  paths.reserve(queries.size());
  for (const QueryFile& query : queries) {
    absl::StatusOr<std::string> path = JsonString(query.path);
    if (!path.ok()) return path.status();
    paths.push_back(*std::move(path));
  }

  absl::StatusOr<std::string> body = MessageToJson(response);
  if (!body.ok()) return body.status();
  return absl::StrCat("{\"queries\":[", absl::StrJoin(paths, ","),
                      "],\"response\":", *body, "}");
}

}  // namespace fewshot::client
