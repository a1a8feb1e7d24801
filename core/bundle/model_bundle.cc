// Reading and writing model bundles: bundle.json with nlohmann::json and
// encoder.pt with LibTorch's serializer.
#include "core/bundle/model_bundle.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_errors.h"

namespace fewshot::core {
namespace {

using Json = nlohmann::json;

Json AccuracyToJson(const AccuracyRecord& record) {
  return Json{{"method", record.method},     {"split", record.split},
              {"ways", record.ways},         {"shots", record.shots},
              {"queries", record.queries},   {"episodes", record.episodes},
              {"accuracy", record.accuracy}, {"ci95", record.ci95}};
}

AccuracyRecord AccuracyFromJson(const Json& json) {
  AccuracyRecord record;
  record.method = json.at("method").get<std::string>();
  record.split = json.at("split").get<std::string>();
  record.ways = json.at("ways").get<int>();
  record.shots = json.at("shots").get<int>();
  record.queries = json.value("queries", 0);
  record.episodes = json.at("episodes").get<int>();
  record.accuracy = json.at("accuracy").get<double>();
  record.ci95 = json.at("ci95").get<double>();
  return record;
}

Json MethodToJson(const MethodSpec& method) {
  Json json{{"name", method.name}, {"temperature", method.temperature}};
  if (!method.parameters_file.empty()) {
    json["parameters"] = method.parameters_file;
  }
  if (!method.hyperparameters.empty()) {
    json["hyperparameters"] = method.hyperparameters;
  }
  if (!method.temperatures_by_shots.empty()) {
    Json by_shots = Json::array();
    for (const ShotTemperature& point : method.temperatures_by_shots) {
      by_shots.push_back(
          {{"shots", point.shots}, {"temperature", point.temperature}});
    }
    json["temperatures_by_shots"] = by_shots;
  }
  return json;
}

// Version 1 lists names; version 2 lists objects.
MethodSpec MethodFromJson(const Json& json, int format_version) {
  MethodSpec method;
  if (format_version == 1) {
    method.name = json.get<std::string>();
    return method;
  }
  method.name = json.at("name").get<std::string>();
  method.parameters_file = json.value("parameters", std::string());
  method.hyperparameters =
      json.value("hyperparameters", std::map<std::string, double>());
  method.temperature = json.value("temperature", 1.0);
  for (const Json& point : json.value("temperatures_by_shots", Json::array())) {
    method.temperatures_by_shots.push_back(
        {.shots = point.at("shots").get<int>(),
         .temperature = point.at("temperature").get<double>()});
  }
  return method;
}

// The split seed and validation-class count only when recorded.
Json TrainingToJson(const BundleMetadata& metadata) {
  Json training{{"split", metadata.training_split},
                {"command", metadata.training_command},
                {"episodes", metadata.training_episodes},
                {"seconds", metadata.training_seconds}};
  if (metadata.training_split_seed.has_value()) {
    training["split_seed"] = *metadata.training_split_seed;
  }
  if (metadata.training_validation_classes.has_value()) {
    training["validation_classes"] = *metadata.training_validation_classes;
  }
  return training;
}

Json MetadataToJson(const BundleMetadata& metadata) {
  Json methods = Json::array();
  for (const MethodSpec& method : metadata.methods) {
    methods.push_back(MethodToJson(method));
  }
  Json accuracy = Json::array();
  for (const AccuracyRecord& record : metadata.accuracy) {
    accuracy.push_back(AccuracyToJson(record));
  }
  const Preprocessing& input = metadata.preprocessing;
  return Json{{"format_version", kBundleFormatVersion},
              {"name", metadata.name},
              {"version", metadata.version},
              {"input",
               {{"channels", input.channels},
                {"height", input.height},
                {"width", input.width},
                {"invert", input.invert},
                {"mean", input.mean},
                {"stddev", input.stddev}}},
              {"encoder",
               {{"architecture", "conv4"},
                {"in_channels", metadata.encoder.in_channels},
                {"hidden_channels", metadata.encoder.hidden_channels},
                {"blocks", metadata.encoder.blocks},
                {"embedding_size", metadata.embedding_size}}},
              {"methods", methods},
              {"training", TrainingToJson(metadata)},
              {"accuracy", accuracy}};
}

// Throws Json::exception when a field is missing or mistyped.
// REQUIRES: json["format_version"] is a version this build reads.
BundleMetadata MetadataFromJson(const Json& json) {
  BundleMetadata metadata;
  metadata.format_version = json.at("format_version").get<int>();
  metadata.name = json.at("name").get<std::string>();
  metadata.version = json.at("version").get<std::string>();
  const Json& input = json.at("input");
  metadata.preprocessing.channels = input.at("channels").get<int>();
  metadata.preprocessing.height = input.at("height").get<int>();
  metadata.preprocessing.width = input.at("width").get<int>();
  metadata.preprocessing.invert = input.at("invert").get<bool>();
  metadata.preprocessing.mean = input.at("mean").get<float>();
  metadata.preprocessing.stddev = input.at("stddev").get<float>();
  const Json& encoder = json.at("encoder");
  metadata.encoder.in_channels = encoder.at("in_channels").get<int>();
  metadata.encoder.hidden_channels = encoder.at("hidden_channels").get<int>();
  metadata.encoder.blocks = encoder.at("blocks").get<int>();
  metadata.embedding_size = encoder.at("embedding_size").get<int64_t>();
  for (const Json& method : json.at("methods")) {
    metadata.methods.push_back(MethodFromJson(method, metadata.format_version));
  }
  const Json& training = json.at("training");
  metadata.training_split = training.at("split").get<std::string>();
  metadata.training_command = training.at("command").get<std::string>();
  metadata.training_episodes = training.at("episodes").get<int64_t>();
  metadata.training_seconds = training.at("seconds").get<double>();
  if (training.contains("split_seed")) {
    metadata.training_split_seed = training.at("split_seed").get<uint64_t>();
  }
  if (training.contains("validation_classes")) {
    metadata.training_validation_classes =
        training.at("validation_classes").get<int>();
  }
  for (const Json& record : json.at("accuracy")) {
    metadata.accuracy.push_back(AccuracyFromJson(record));
  }
  return metadata;
}

// Shape of every parameter and buffer, by name.
std::map<std::string, std::vector<int64_t>> TensorShapes(
    const torch::nn::Module& module) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : module.named_parameters()) {
    shapes[item.key()] = item.value().sizes().vec();
  }
  for (const auto& item : module.named_buffers()) {
    shapes[item.key()] = item.value().sizes().vec();
  }
  return shapes;
}

std::string JoinPath(const std::string& dir, const std::string& file) {
  return (std::filesystem::path(dir) / file).string();
}

// INVALID_ARGUMENT unless `temperature`, one of `method`'s (`where` says
// which, e.g. " at 5 shots"), is finite and > 0.
absl::Status CheckTemperature(const std::string& path, const MethodSpec& method,
                              double temperature, const std::string& where) {
  if (temperature > 0.0 && std::isfinite(temperature)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": method '", method.name, "' has temperature ",
                   temperature, where, "; it must be finite and > 0"));
}

// INVALID_ARGUMENT unless every temperature of `method` is finite and > 0
// and its per-shot ones are at strictly increasing shot counts >= 1.
absl::Status ValidateTemperatures(const std::string& path,
                                  const MethodSpec& method) {
  FEWSHOT_RETURN_IF_ERROR(
      CheckTemperature(path, method, method.temperature, ""));
  int previous_shots = 0;
  for (const ShotTemperature& point : method.temperatures_by_shots) {
    if (point.shots <= previous_shots) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": method '", method.name,
          "' lists temperatures_by_shots with shots ", point.shots, " after ",
          previous_shots, "; shots must be >= 1 and strictly increasing"));
    }
    FEWSHOT_RETURN_IF_ERROR(
        CheckTemperature(path, method, point.temperature,
                         absl::StrCat(" at ", point.shots, " shots")));
    previous_shots = point.shots;
  }
  return absl::OkStatus();
}

// INVALID_ARGUMENT unless the methods have distinct non-empty names and
// sane temperatures, and parameter files stay inside the bundle.
absl::Status ValidateMethods(const std::string& path,
                             const std::vector<MethodSpec>& methods) {
  if (methods.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " lists no methods; list at least \"protonet\""));
  }
  std::set<std::string> names;
  for (const MethodSpec& method : methods) {
    if (method.name.empty() || !names.insert(method.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": method names must be non-empty and distinct; got '",
          method.name, "' twice or empty"));
    }
    FEWSHOT_RETURN_IF_ERROR(ValidateTemperatures(path, method));
    const std::filesystem::path file(method.parameters_file);
    if (file.is_absolute() ||
        std::find(file.begin(), file.end(), "..") != file.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": method '", method.name, "' parameters file '",
                       method.parameters_file,
                       "' must be a relative path inside the bundle folder"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HeadParameters> LoadHead(const std::string& file) {
  if (!std::filesystem::exists(file)) {
    return absl::NotFoundError(absl::StrCat("no head weights at ", file));
  }
  return CallTorch("loading " + file, [&] {
    torch::serialize::InputArchive archive;
    archive.load_from(file);
    HeadParameters head;
    for (const std::string& key : archive.keys()) {
      torch::Tensor tensor;
      archive.read(key, tensor);
      head[key] = tensor.detach();
    }
    return head;
  });
}

absl::Status SaveHead(const HeadParameters& head, const std::string& file) {
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(),
                                      error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot create the folder of ", file, ": ", error.message()));
  }
  return CallTorch("saving " + file,
                   [&] {
                     torch::serialize::OutputArchive archive;
                     for (const auto& [key, tensor] : head) {
                       archive.write(key, tensor.detach());
                     }
                     archive.save_to(file);
                     return 0;
                   })
      .status();
}

}  // namespace

std::vector<std::string> BundleMetadata::MethodNames() const {
  std::vector<std::string> names;
  for (const MethodSpec& method : methods) names.push_back(method.name);
  return names;
}

const MethodSpec* BundleMetadata::FindMethod(const std::string& name) const {
  for (const MethodSpec& method : methods) {
    if (method.name == name) return &method;
  }
  return nullptr;
}

MethodSpec* BundleMetadata::FindMethod(const std::string& name) {
  return const_cast<MethodSpec*>(std::as_const(*this).FindMethod(name));
}

absl::StatusOr<BundleMetadata> ReadBundleMetadata(const std::string& dir) {
  const std::string path = JoinPath(dir, kBundleMetadataFile);
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "no model bundle metadata at ", path,
        "; pass the folder that holds bundle.json and encoder.pt"));
  }

  BundleMetadata metadata;
  try {
    const Json json = Json::parse(in);
    const int version = json.at("format_version").get<int>();
    if (version < kOldestBundleFormatVersion ||
        version > kBundleFormatVersion) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, " has format_version ", version, "; this build reads ",
          kOldestBundleFormatVersion, " to ", kBundleFormatVersion));
    }
    metadata = MetadataFromJson(json);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is malformed: ", e.what()));
  }

  FEWSHOT_RETURN_IF_ERROR(ValidateMethods(path, metadata.methods));
  FEWSHOT_RETURN_IF_ERROR(ValidatePreprocessing(metadata.preprocessing));
  if (metadata.preprocessing.channels != metadata.encoder.in_channels) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": input channels ", metadata.preprocessing.channels,
        " differ from encoder in_channels ", metadata.encoder.in_channels));
  }
  return metadata;
}

absl::Status WriteBundleMetadata(const BundleMetadata& metadata,
                                 const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  const std::string path = JoinPath(dir, kBundleMetadataFile);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << MetadataToJson(metadata).dump(2) << "\n";
    if (!out) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write ", temporary));
    }
  }
  std::filesystem::rename(temporary, path, error);
  if (error) {
    return absl::DataLossError(
        absl::StrCat("cannot replace ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelBundle> LoadModelBundle(const std::string& dir) {
  ModelBundle bundle;
  FEWSHOT_ASSIGN_OR_RETURN(bundle.metadata, ReadBundleMetadata(dir));

  const std::string weights = JoinPath(dir, kBundleWeightsFile);
  if (!std::filesystem::exists(weights)) {
    return absl::NotFoundError(absl::StrCat("no encoder weights at ", weights));
  }
  // torch::load replaces each tensor whole, shape included, so compare the
  // loaded shapes with those the metadata's architecture expects.
  bundle.encoder = Conv4(bundle.metadata.encoder);
  const std::map<std::string, std::vector<int64_t>> expected_shapes =
      TensorShapes(*bundle.encoder);
  FEWSHOT_RETURN_IF_ERROR(CallTorch("loading " + weights, [&] {
                            torch::load(bundle.encoder, weights);
                            return 0;
                          }).status());
  if (TensorShapes(*bundle.encoder) != expected_shapes) {
    return absl::InvalidArgumentError(absl::StrCat(
        weights, " does not match the encoder described in ",
        kBundleMetadataFile, " (different tensor names or shapes)"));
  }

  const int64_t embedding_size =
      bundle.encoder->EmbeddingSize(bundle.metadata.preprocessing.height,
                                    bundle.metadata.preprocessing.width);
  if (embedding_size != bundle.metadata.embedding_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": metadata says embedding_size ", bundle.metadata.embedding_size,
        " but the encoder gives ", embedding_size));
  }
  bundle.encoder->eval();

  for (const MethodSpec& method : bundle.metadata.methods) {
    if (method.parameters_file.empty()) continue;
    FEWSHOT_ASSIGN_OR_RETURN(bundle.heads[method.name],
                             LoadHead(JoinPath(dir, method.parameters_file)));
  }
  return bundle;
}

absl::Status SaveModelBundle(const ModelBundle& bundle,
                             const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  const std::string weights = JoinPath(dir, kBundleWeightsFile);
  FEWSHOT_RETURN_IF_ERROR(CallTorch("saving " + weights, [&] {
                            torch::save(bundle.encoder, weights);
                            return 0;
                          }).status());
  for (const auto& [name, head] : bundle.heads) {
    const MethodSpec* method = bundle.metadata.FindMethod(name);
    if (method == nullptr || method->parameters_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the bundle has weights for head '", name,
                       "' but no method of that name with a parameters file"));
    }
    FEWSHOT_RETURN_IF_ERROR(
        SaveHead(head, JoinPath(dir, method->parameters_file)));
  }
  return WriteBundleMetadata(bundle.metadata, dir);
}

}  // namespace fewshot::core
