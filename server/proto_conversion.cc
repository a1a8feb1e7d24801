// Implements the message <-> core conversions declared in
// proto_conversion.h.
#include "server/proto_conversion.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::server {
namespace {

// Values in one example's model input, C * H * W.
int64_t InputSize(const core::Preprocessing& preprocessing) {
  return int64_t{preprocessing.channels} * preprocessing.height *
         preprocessing.width;
}

// An empty float [n, C, H, W] batch for `n` examples.
absl::StatusOr<torch::Tensor> EmptyInputs(
    int64_t n, const core::Preprocessing& preprocessing) {
  return core::CallTorch("allocating inputs", [&] {
    return torch::empty(
        {n, preprocessing.channels, preprocessing.height, preprocessing.width});
  });
}

// Writes `example`'s model input into the InputSize() floats at `slot`.
// A tensor is copied straight from the message; an image is decoded and
// preprocessed first.
absl::Status WriteInput(const v1::Example& example,
                        const core::Preprocessing& preprocessing,
                        const core::ImageLimits& image_limits,
                        absl::string_view field, float* slot) {
  const int64_t size = InputSize(preprocessing);
  if (example.input_case() == v1::Example::kTensor) {
    const v1::FloatTensor& tensor = example.tensor();
    if (tensor.values_size() != size) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".tensor.values has ", tensor.values_size(),
                       " values; expected ", size));
    }
    std::copy_n(tensor.values().data(), size, slot);
    return absl::OkStatus();
  }

  absl::StatusOr<core::GrayImage> image =
      core::DecodeImage(example.image(), image_limits);
  if (!image.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ".image cannot be used: ", image.status().message()));
  }
  FEWSHOT_ASSIGN_OR_RETURN(
      torch::Tensor input,
      core::CallTorch(absl::StrCat("preprocessing ", field, ".image"), [&] {
        return core::ImageToInput(*image, preprocessing).contiguous();
      }));
  if (input.numel() != size) {
    return absl::InternalError(absl::StrCat("preprocessing ", field,
                                            ".image gave ", input.numel(),
                                            " values; expected ", size));
  }
  std::copy_n(input.data_ptr<float>(), size, slot);
  return absl::OkStatus();
}

// The `count` examples `example_at(i)` as one float [count, C, H, W]
// batch; errors name them "<list>[i]<suffix>".
absl::StatusOr<torch::Tensor> ExamplesToInputs(
    int count, absl::FunctionRef<const v1::Example&(int)> example_at,
    absl::string_view list, absl::string_view suffix,
    const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits) {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor inputs,
                           EmptyInputs(count, preprocessing));
  float* slot = inputs.data_ptr<float>();
  for (int i = 0; i < count; ++i) {
    FEWSHOT_RETURN_IF_ERROR(
        WriteInput(example_at(i), preprocessing, image_limits,
                   absl::StrCat(list, "[", i, "]", suffix), slot));
    slot += InputSize(preprocessing);
  }
  return inputs;
}

}  // namespace

absl::StatusOr<torch::Tensor> ExampleToInput(
    const v1::Example& example, const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits, absl::string_view field) {
  FEWSHOT_ASSIGN_OR_RETURN(torch::Tensor inputs, EmptyInputs(1, preprocessing));
  FEWSHOT_RETURN_IF_ERROR(WriteInput(example, preprocessing, image_limits,
                                     field, inputs.data_ptr<float>()));
  return inputs[0];
}

absl::StatusOr<torch::Tensor> SupportToInputs(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support,
    const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits) {
  return ExamplesToInputs(
      support.size(),
      [&](int i) -> const v1::Example& { return support[i].example(); },
      "support", ".example", preprocessing, image_limits);
}

absl::StatusOr<torch::Tensor> QueriesToInputs(
    const google::protobuf::RepeatedPtrField<v1::Example>& queries,
    const core::Preprocessing& preprocessing,
    const core::ImageLimits& image_limits) {
  return ExamplesToInputs(
      queries.size(), [&](int i) -> const v1::Example& { return queries[i]; },
      "queries", "", preprocessing, image_limits);
}

IndexedLabels IndexSupportLabels(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& support) {
  IndexedLabels indexed;
  absl::flat_hash_map<std::string, int64_t> index_of;
  std::vector<int64_t> class_indices;
  class_indices.reserve(support.size());
  for (const v1::LabeledExample& labeled : support) {
    auto [it, inserted] =
        index_of.emplace(labeled.label(), indexed.labels.size());
    if (inserted) indexed.labels.push_back(labeled.label());
    class_indices.push_back(it->second);
  }
  indexed.class_indices = torch::tensor(class_indices, torch::kInt64);
  return indexed;
}

v1::Prediction ToProtoPrediction(const core::ClassPrediction& prediction,
                                 float min_confidence,
                                 const std::vector<std::string>& labels) {
  // Class indices by descending probability; ties keep class order.
  std::vector<int> order(prediction.probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return prediction.probabilities[a] > prediction.probabilities[b];
  });

  v1::Prediction proto;
  if (prediction.confidence < min_confidence) {
    proto.set_rejected(true);
  } else {
    proto.set_label(labels[prediction.best_class]);
  }
  proto.set_confidence(prediction.confidence);
  for (int index : order) {
    v1::LabelScore* score = proto.add_scores();
    score->set_label(labels[index]);
    score->set_score(prediction.scores[index]);
    score->set_probability(prediction.probabilities[index]);
  }
  return proto;
}

google::protobuf::RepeatedPtrField<v1::ClassSummary> ToClassSummaries(
    const core::AdaptationState& state) {
  const std::vector<int64_t> counts = state.ClassCounts();
  google::protobuf::RepeatedPtrField<v1::ClassSummary> summaries;
  for (size_t i = 0; i < state.labels.size(); ++i) {
    v1::ClassSummary* summary = summaries.Add();
    summary->set_label(state.labels[i]);
    summary->set_examples(static_cast<int32_t>(counts[i]));
  }
  return summaries;
}

google::protobuf::RepeatedPtrField<std::string> ToProtoExampleIds(
    const std::vector<int64_t>& ids) {
  google::protobuf::RepeatedPtrField<std::string> proto;
  proto.Reserve(static_cast<int>(ids.size()));
  for (const int64_t id : ids) *proto.Add() = absl::StrCat(id);
  return proto;
}

std::vector<int64_t> ParseExampleIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<int64_t> parsed;
  parsed.reserve(ids.size());
  for (const std::string& id : ids) {
    int64_t value = -1;
    if (absl::SimpleAtoi(id, &value)) parsed.push_back(value);
  }
  return parsed;
}

std::vector<std::string> ExampleLabels(
    const google::protobuf::RepeatedPtrField<v1::LabeledExample>& examples) {
  std::vector<std::string> labels;
  labels.reserve(examples.size());
  for (const v1::LabeledExample& example : examples) {
    labels.push_back(example.label());
  }
  return labels;
}

v1::GetAdaptationResponse ToAdaptationInfo(const std::string& id,
                                           const core::AdaptationState& state) {
  v1::GetAdaptationResponse info;
  info.set_adaptation_id(id);
  for (v1::ClassSummary& summary : ToClassSummaries(state)) {
    *info.add_classes() = std::move(summary);
  }
  info.set_method(state.method);
  info.set_model_version(state.model_version);
  info.set_created_unix_ms(state.created_unix_ms);
  info.set_updated_unix_ms(state.updated_unix_ms);
  info.set_size_bytes(state.ByteSize());
  return info;
}

core::ImageLimits ToImageLimits(const RequestLimits& limits) {
  core::ImageLimits image_limits;
  image_limits.max_bytes = limits.max_image_bytes;
  image_limits.max_pixels = limits.max_image_pixels;
  return image_limits;
}

v1::GetModelInfoResponse ToModelInfo(const core::BundleMetadata& metadata,
                                     const std::vector<std::string>& methods,
                                     const RequestLimits& limits) {
  v1::GetModelInfoResponse info;
  info.set_model_name(metadata.name);
  info.set_model_version(metadata.version);
  info.set_embedding_size(static_cast<int32_t>(metadata.embedding_size));
  info.set_training_split(metadata.training_split);
  if (metadata.training_split_seed.has_value()) {
    info.set_training_split_seed(*metadata.training_split_seed);
  }
  if (metadata.training_validation_classes.has_value()) {
    info.set_training_validation_classes(*metadata.training_validation_classes);
  }

  // How images become model input.
  const core::Preprocessing& preprocessing = metadata.preprocessing;
  v1::InputSpec* input = info.mutable_input();
  input->set_channels(preprocessing.channels);
  input->set_height(preprocessing.height);
  input->set_width(preprocessing.width);
  input->set_invert(preprocessing.invert);
  input->set_mean(preprocessing.mean);
  input->set_stddev(preprocessing.stddev);

  // What can be asked for, and how well it does.
  for (const std::string& method : methods) info.add_methods(method);
  if (!methods.empty()) info.set_default_method(methods.front());
  for (const core::AccuracyRecord& record : metadata.accuracy) {
    v1::MeasuredAccuracy* accuracy = info.add_measured_accuracy();
    accuracy->set_method(record.method);
    accuracy->set_split(record.split);
    accuracy->set_ways(record.ways);
    accuracy->set_shots(record.shots);
    accuracy->set_episodes(record.episodes);
    accuracy->set_accuracy(record.accuracy);
    accuracy->set_ci95(record.ci95);
  }

  // What the server accepts.
  v1::RequestLimits* proto_limits = info.mutable_limits();
  proto_limits->set_max_support_examples(limits.max_support_examples);
  proto_limits->set_max_queries(limits.max_queries);
  proto_limits->set_max_classes(limits.max_classes);
  proto_limits->set_max_image_bytes(limits.max_image_bytes);
  proto_limits->set_max_image_pixels(
      static_cast<int32_t>(limits.max_image_pixels));
  proto_limits->set_max_label_length(limits.max_label_length);
  proto_limits->set_max_maml_steps(limits.max_maml_steps);
  proto_limits->set_max_maml_step_size(limits.max_maml_step_size);
  proto_limits->set_max_stream_messages_in_flight(
      limits.max_stream_messages_in_flight);

  // Each method's settings and figures.
  for (const std::string& name : methods) {
    v1::MethodInfo* method_info = info.add_method_info();
    method_info->set_name(name);
    const core::MethodSpec* spec = metadata.FindMethod(name);
    method_info->set_temperature(spec != nullptr ? spec->temperature : 1.0);
    if (spec != nullptr) {
      for (const auto& [key, value] : spec->hyperparameters) {
        (*method_info->mutable_hyperparameters())[key] = value;
      }
      for (const core::ShotTemperature& point : spec->temperatures_by_shots) {
        v1::ShotTemperature* proto_point =
            method_info->add_temperatures_by_shots();
        proto_point->set_shots(point.shots);
        proto_point->set_temperature(point.temperature);
      }
    }
    for (const v1::MeasuredAccuracy& accuracy : info.measured_accuracy()) {
      if (accuracy.method() == name) {
        *method_info->add_measured_accuracy() = accuracy;
      }
    }
  }
  return info;
}

}  // namespace fewshot::server
