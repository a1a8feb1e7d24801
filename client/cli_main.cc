// fewshot-client: a command-line client for the fewshot.v1 service. Parses
// flags, reads images, calls the server and prints the answer.
//
// Example:
//   fewshot-client classify examples/omniglot/support examples/omniglot/queries
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/image_files.h"
#include "client/output_format.h"
#include "fewshot/v1/fewshot_service.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(int, timeout_ms, 10000, "Deadline of each attempt, in ms");
ABSL_FLAG(std::string, method, "",
          "Adaptation method for adapt and classify; empty means the "
          "server's default");
ABSL_FLAG(std::string, adaptation_id, "",
          "Adaptation to use (predict, add, feedback, remove-class, "
          "remove-examples, get) or forget (delete)");
ABSL_FLAG(std::string, label, "",
          "The correct label (feedback) or the class to remove "
          "(remove-class)");
ABSL_FLAG(int, maml_steps, 0,
          "With --method=maml: fine-tuning steps (0: the model's default)");
ABSL_FLAG(double, maml_step_size, 0.0,
          "With --method=maml: one step size for every step (0: the "
          "meta-learned rates)");
ABSL_FLAG(double, min_confidence, 0.0,
          "Predict and classify: reject queries whose top probability is "
          "below this, in [0, 1]");
ABSL_FLAG(bool, json, false, "Print the response as JSON");
ABSL_FLAG(int, top_k, 3, "Class scores to print per query in text mode");

namespace fewshot::client {
namespace {

constexpr char kUsage[] =
    "a command-line client for the fewshot.v1 service.\n"
    "Usage:\n"
    "  fewshot-client info\n"
    "  fewshot-client adapt <support_dir>\n"
    "  fewshot-client predict --adaptation_id=ID <query files or folders...>\n"
    "  fewshot-client classify <support_dir> <query files or folders...>\n"
    "  fewshot-client delete --adaptation_id=ID\n"
    "  fewshot-client add --adaptation_id=ID <support_dir>\n"
    "  fewshot-client feedback --adaptation_id=ID --label=L <query file>\n"
    "  fewshot-client remove-class --adaptation_id=ID --label=L\n"
    "  fewshot-client remove-examples --adaptation_id=ID <example ids...>\n"
    "  fewshot-client get --adaptation_id=ID\n"
    "A support folder holds one sub-folder of .png files per class.";

// Whether any --maml_* flag asks for non-default fine-tuning.
bool HasMamlFlags() {
  return absl::GetFlag(FLAGS_maml_steps) != 0 ||
         absl::GetFlag(FLAGS_maml_step_size) != 0.0;
}

v1::MamlOptions MamlOptionsFromFlags() {
  v1::MamlOptions options;
  options.set_steps(absl::GetFlag(FLAGS_maml_steps));
  options.set_step_size(
      static_cast<float>(absl::GetFlag(FLAGS_maml_step_size)));
  return options;
}

// Prints `text` in text mode or `response` as JSON with --json.
absl::Status Print(const google::protobuf::Message& response,
                   const std::string& text) {
  if (!absl::GetFlag(FLAGS_json)) {
    std::cout << text;
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> json = MessageToJson(response);
  if (!json.ok()) return json.status();
  std::cout << *json << "\n";
  return absl::OkStatus();
}

// Prints the predictions for `queries`, as text or with --json as JSON.
absl::Status PrintPredictions(
    const std::vector<QueryFile>& queries,
    const google::protobuf::Message& response,
    const google::protobuf::RepeatedPtrField<v1::Prediction>& predictions) {
  if (!absl::GetFlag(FLAGS_json)) {
    std::cout << FormatPredictions(queries, predictions,
                                   absl::GetFlag(FLAGS_top_k));
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> json =
      ResponseWithQueriesToJson(queries, response);
  if (!json.ok()) return json.status();
  std::cout << *json << "\n";
  return absl::OkStatus();
}

absl::Status RunInfo(FewShotClient& client) {
  absl::StatusOr<v1::GetModelInfoResponse> info = client.GetModelInfo();
  if (!info.ok()) return info.status();
  return Print(*info, FormatModelInfo(*info));
}

absl::Status RunAdapt(FewShotClient& client, const std::string& support_dir) {
  v1::AdaptRequest request;
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(support_dir);
  if (!support.ok()) return support.status();
  request.mutable_support()->Add(support->begin(), support->end());
  request.set_method(absl::GetFlag(FLAGS_method));
  if (HasMamlFlags()) *request.mutable_maml() = MamlOptionsFromFlags();

  absl::StatusOr<v1::AdaptResponse> response = client.Adapt(request);
  if (!response.ok()) return response.status();
  return Print(*response, FormatAdaptation(*response));
}

absl::Status RunPredict(FewShotClient& client,
                        const std::vector<std::string>& query_paths) {
  const std::string adaptation_id = absl::GetFlag(FLAGS_adaptation_id);
  if (adaptation_id.empty()) {
    return absl::InvalidArgumentError("--adaptation_id: required for predict");
  }
  absl::StatusOr<std::vector<QueryFile>> queries = ReadQueryFiles(query_paths);
  if (!queries.ok()) return queries.status();

  v1::PredictRequest request;
  request.set_adaptation_id(adaptation_id);
  request.set_min_confidence(
      static_cast<float>(absl::GetFlag(FLAGS_min_confidence)));
  for (const QueryFile& query : *queries) {
    *request.add_queries() = query.example;
  }

  absl::StatusOr<v1::PredictResponse> response = client.Predict(request);
  if (!response.ok()) return response.status();
  return PrintPredictions(*queries, *response, response->predictions());
}

absl::Status RunClassify(FewShotClient& client, const std::string& support_dir,
                         const std::vector<std::string>& query_paths) {
  absl::StatusOr<std::vector<v1::LabeledExample>> support =
      ReadSupportFolder(support_dir);
  if (!support.ok()) return support.status();
  absl::StatusOr<std::vector<QueryFile>> queries = ReadQueryFiles(query_paths);
  if (!queries.ok()) return queries.status();

  v1::ClassifyRequest request;
  request.mutable_support()->Add(support->begin(), support->end());
  for (const QueryFile& query : *queries) {
    *request.add_queries() = query.example;
  }
  request.set_method(absl::GetFlag(FLAGS_method));
  if (HasMamlFlags()) *request.mutable_maml() = MamlOptionsFromFlags();
  request.set_min_confidence(
      static_cast<float>(absl::GetFlag(FLAGS_min_confidence)));

  absl::StatusOr<v1::ClassifyResponse> response = client.Classify(request);
  if (!response.ok()) return response.status();
  return PrintPredictions(*queries, *response, response->predictions());
}

absl::Status RunDelete(FewShotClient& client) {
  const std::string adaptation_id = absl::GetFlag(FLAGS_adaptation_id);
  if (adaptation_id.empty()) {
    return absl::InvalidArgumentError("--adaptation_id: required for delete");
  }
  absl::Status status = client.DeleteAdaptation(adaptation_id);
  if (!status.ok()) return status;
  return Print(v1::DeleteAdaptationResponse(),
               absl::StrCat("deleted ", adaptation_id, "\n"));
}

// --adaptation_id, or INVALID_ARGUMENT naming `command`.
absl::StatusOr<std::string> RequiredAdaptationId(absl::string_view command) {
  const std::string adaptation_id = absl::GetFlag(FLAGS_adaptation_id);
  if (adaptation_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--adaptation_id: required for ", command));
  }
  return adaptation_id;
}

// --label, or INVALID_ARGUMENT naming `command`.
absl::StatusOr<std::string> RequiredLabel(absl::string_view command) {
  const std::string label = absl::GetFlag(FLAGS_label);
  if (label.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--label: required for ", command));
  }
  return label;
}

absl::Status RunAdd(FewShotClient& client, const std::string& support_dir) {
  absl::StatusOr<std::string> adaptation_id = RequiredAdaptationId("add");
  if (!adaptation_id.ok()) return adaptation_id.status();
  absl::StatusOr<std::vector<v1::LabeledExample>> examples =
      ReadSupportFolder(support_dir);
  if (!examples.ok()) return examples.status();

  v1::AddExamplesRequest request;
  request.set_adaptation_id(*adaptation_id);
  request.mutable_examples()->Add(examples->begin(), examples->end());
  absl::StatusOr<v1::AddExamplesResponse> response =
      client.AddExamples(request);
  if (!response.ok()) return response.status();
  return Print(*response, FormatAddedExamples(*response));
}

absl::Status RunFeedback(FewShotClient& client, const std::string& query_path) {
  absl::StatusOr<std::string> adaptation_id = RequiredAdaptationId("feedback");
  if (!adaptation_id.ok()) return adaptation_id.status();
  absl::StatusOr<std::string> label = RequiredLabel("feedback");
  if (!label.ok()) return label.status();
  absl::StatusOr<std::vector<QueryFile>> queries = ReadQueryFiles({query_path});
  if (!queries.ok()) return queries.status();
  if (queries->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "feedback: expected one query file, got ", queries->size()));
  }

  v1::FeedbackRequest request;
  request.set_adaptation_id(*adaptation_id);
  *request.mutable_query() = queries->front().example;
  request.set_correct_label(*label);
  absl::StatusOr<v1::FeedbackResponse> response = client.Feedback(request);
  if (!response.ok()) return response.status();
  return Print(*response, FormatFeedback(*response));
}

absl::Status RunRemoveClass(FewShotClient& client) {
  absl::StatusOr<std::string> adaptation_id =
      RequiredAdaptationId("remove-class");
  if (!adaptation_id.ok()) return adaptation_id.status();
  absl::StatusOr<std::string> label = RequiredLabel("remove-class");
  if (!label.ok()) return label.status();
  absl::StatusOr<v1::RemoveClassResponse> response =
      client.RemoveClass(*adaptation_id, *label);
  if (!response.ok()) return response.status();
  return Print(*response, absl::StrCat("removed class ", *label, "\n",
                                       FormatClasses(response->classes())));
}

absl::Status RunRemoveExamples(FewShotClient& client,
                               const std::vector<std::string>& ids) {
  absl::StatusOr<std::string> adaptation_id =
      RequiredAdaptationId("remove-examples");
  if (!adaptation_id.ok()) return adaptation_id.status();
  v1::RemoveExamplesRequest request;
  request.set_adaptation_id(*adaptation_id);
  for (const std::string& id : ids) request.add_example_ids(id);
  absl::StatusOr<v1::RemoveExamplesResponse> response =
      client.RemoveExamples(request);
  if (!response.ok()) return response.status();
  return Print(*response, absl::StrCat("removed ", ids.size(), " examples\n",
                                       FormatClasses(response->classes())));
}

absl::Status RunGet(FewShotClient& client) {
  absl::StatusOr<std::string> adaptation_id = RequiredAdaptationId("get");
  if (!adaptation_id.ok()) return adaptation_id.status();
  absl::StatusOr<v1::GetAdaptationResponse> response =
      client.GetAdaptation(*adaptation_id);
  if (!response.ok()) return response.status();
  return Print(*response, FormatAdaptationInfo(*response));
}

// Checks that `command` got `min_args` to `max_args` positional arguments.
absl::Status CheckArgCount(const std::string& command,
                           const std::vector<std::string>& args, int min_args,
                           int max_args) {
  const int count = static_cast<int>(args.size());
  if (count >= min_args && count <= max_args) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      command, ": expected ", min_args, max_args == min_args ? "" : " or more",
      " positional argument(s), got ", count, "; see --help"));
}

// Runs `command` with its positional `args`.
absl::Status Run(const std::string& command,
                 const std::vector<std::string>& args) {
  // Check the command line before connecting.
  constexpr int kAny = 1 << 30;
  absl::Status usage;
  if (command == "info" || command == "delete" || command == "get" ||
      command == "remove-class") {
    usage = CheckArgCount(command, args, 0, 0);
  } else if (command == "adapt" || command == "add" || command == "feedback") {
    usage = CheckArgCount(command, args, 1, 1);
  } else if (command == "predict" || command == "remove-examples") {
    usage = CheckArgCount(command, args, 1, kAny);
  } else if (command == "classify") {
    usage = CheckArgCount(command, args, 2, kAny);
  } else {
    usage = absl::InvalidArgumentError(
        absl::StrCat("unknown command \"", command, "\""));
  }
  if (!usage.ok()) return usage;
  if (absl::GetFlag(FLAGS_top_k) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--top_k: expected >= 0, got ", absl::GetFlag(FLAGS_top_k)));
  }

  // Connect.
  ClientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  absl::StatusOr<std::unique_ptr<FewShotClient>> client =
      FewShotClient::Connect(options);
  if (!client.ok()) return client.status();

  // Dispatch.
  if (command == "info") return RunInfo(**client);
  if (command == "adapt") return RunAdapt(**client, args[0]);
  if (command == "predict") return RunPredict(**client, args);
  if (command == "add") return RunAdd(**client, args[0]);
  if (command == "feedback") return RunFeedback(**client, args[0]);
  if (command == "remove-class") return RunRemoveClass(**client);
  if (command == "remove-examples") return RunRemoveExamples(**client, args);
  if (command == "get") return RunGet(**client);
  if (command == "classify") {
    return RunClassify(**client, args[0],
                       std::vector<std::string>(args.begin() + 1, args.end()));
  }
  return RunDelete(**client);
}

}  // namespace
}  // namespace fewshot::client

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(fewshot::client::kUsage);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "client/cli_main.cc");
  };
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return EXIT_FAILURE;
  }

  const std::string command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());
  const absl::Status status = fewshot::client::Run(command, args);
  if (!status.ok()) {
    std::cerr << "error: " << absl::StatusCodeToString(status.code()) << ": "
              << status.message() << "\n";
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
