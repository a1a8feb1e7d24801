// fewshot-eval: measures a bundle's N-way K-shot accuracy on Omniglot
// classes never seen in training (the test classes, or for model selection
// the validation classes), with a 95% confidence interval and
// per-episode latency, for one or more methods; optionally within one
// alphabet, with calibration (temperature fitted on validation classes)
// and open-set rejection; in process or through a running server's gRPC
// API. Writes JSON and Markdown reports and can record the accuracy, and
// temperatures calibrated per shot count, in the bundle.
//
//   fewshot-eval --shapes=5x1,5x5 --report_md=eval.md
//   fewshot-eval --server=127.0.0.1:50051 --shapes=5x5 --episodes=100
#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/fewshot_client.h"
#include "client/latency_stats.h"
#include "core/adapt/method_registry.h"
#include "core/adapt/temperature_schedule.h"
#include "core/bundle/model_bundle.h"
#include "core/bundle/training_split_check.h"
#include "core/data/episodic_sampler.h"
#include "core/data/omniglot_protocol.h"
#include "core/eval/calibration.h"
#include "core/eval/evaluator.h"
#include "core/eval/open_set.h"
#include "core/model/encoder.h"
#include "core/util/status_macros.h"
#include "core/util/torch_threads.h"
#include "tools/eval_report.h"
#include "tools/omniglot_flags.h"
#include "tools/progress_bar.h"
#include "tools/remote_evaluator.h"

ABSL_FLAG(std::string, model_dir, "models/omniglot-conv4",
          "Bundle folder to evaluate in process (ignored with --server)");
ABSL_FLAG(std::string, server, "",
          "HOST:PORT of a running fewshot-server: send the episodes through "
          "its gRPC API instead of running the bundle in process");
ABSL_FLAG(std::string, shapes, "5x1,5x5,20x1,20x5",
          "Comma-separated WAYSxSHOTS episode shapes");
ABSL_FLAG(std::string, within_alphabet_shapes, "",
          "WAYSxSHOTS shapes whose episodes take every class from one "
          "alphabet, e.g. 20x1; reported separately");
ABSL_FLAG(std::string, classes, "test",
          "Classes the episodes are drawn from: test, or validation (the "
          "--validation_classes set aside from training, for choosing between "
          "models without looking at test figures)");
ABSL_FLAG(int, queries, 15, "Query examples per class");
ABSL_FLAG(int, episodes, 1000, "Episodes per shape");
ABSL_FLAG(uint64_t, seed, 2024, "Episode seed");
ABSL_FLAG(std::string, methods, "",
          "Comma-separated adaptation methods (default: the model's default "
          "method)");
ABSL_FLAG(bool, calibrate, false,
          "Fit a temperature per method and shape on validation episodes "
          "(needs --validation_classes > 0) and report the expected "
          "calibration error before and after");
ABSL_FLAG(int, calibration_episodes, 200,
          "Validation episodes per method and shape for --calibrate and "
          "--save_temperatures");
ABSL_FLAG(bool, save_temperatures, false,
          "Before evaluating, fit one temperature per method and shot count "
          "of --shapes on validation episodes (needs --validation_classes > "
          "0) and store them in the bundle, which then serves them (in "
          "process only)");
ABSL_FLAG(std::string, open_set_shape, "",
          "WAYSxSHOTS shape of an open-set measurement (empty: none)");
ABSL_FLAG(int, unknown_ways, 5,
          "Test classes outside the support set whose queries are scored "
          "in each open-set episode");
ABSL_FLAG(std::string, open_set_thresholds, "",
          "Comma-separated top-1 probability thresholds of the open-set "
          "table (default 0.05 to 0.95 by 0.05, 0.99, 0.999 and 0.9999)");
ABSL_FLAG(std::string, report_json, "", "Write the JSON report here");
ABSL_FLAG(std::string, report_md, "", "Write the Markdown report here");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads");
ABSL_FLAG(bool, record, false,
          "Write the accuracy into the bundle's metadata (in process only)");

namespace fewshot::tools {
namespace {

// Runs the episodes of `options` for one method on `dataset`.
using EpisodeRunner = std::function<absl::StatusOr<core::EvaluationResult>(
    const std::string& method, const core::ImageDataset& dataset,
    const core::EvaluationOptions& options,
    const std::function<void(int)>& progress)>;

// Parses "5x1,20x5" into episode shapes with `queries` queries per class.
absl::StatusOr<std::vector<core::EpisodeShape>> ParseShapes(
    const std::string& flag, const std::string& text, int queries) {
  std::vector<core::EpisodeShape> shapes;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, 'x');
    core::EpisodeShape shape;
    shape.queries = queries;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shape.ways) ||
        !absl::SimpleAtoi(parts[1], &shape.shots) || shape.ways < 2 ||
        shape.shots < 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--%s item '%s' is not WAYSxSHOTS with WAYS >= 2 and SHOTS >= 1, "
          "e.g. 5x1",
          flag, item));
    }
    shapes.push_back(shape);
  }
  return shapes;
}

// The open-set thresholds from --open_set_thresholds, or the default sweep.
absl::StatusOr<std::vector<double>> ParseThresholds(const std::string& text) {
  std::vector<double> thresholds;
  if (text.empty()) {
    for (int i = 1; i <= 19; ++i) thresholds.push_back(0.05 * i);
    // Served probabilities crowd near 1; resolve that end too.
    for (double high : {0.99, 0.999, 0.9999}) thresholds.push_back(high);
    return thresholds;
  }
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    double threshold = 0;
    if (!absl::SimpleAtod(item, &threshold) || threshold < 0 || threshold > 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--open_set_thresholds item '%s' is not a number in [0, 1]", item));
    }
    thresholds.push_back(threshold);
  }
  return thresholds;
}

// The command line as typed, for the report.
std::string CommandLine(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 0; i < argc; ++i) {
    const std::string word = argv[i];
    words.push_back(word.find(' ') == std::string::npos ? word
                                                        : "'" + word + "'");
  }
  return absl::StrJoin(words, " ");
}

// Sampler options that keep every class of an episode in one alphabet.
core::SamplerOptions WithinAlphabet(const core::ImageDataset& dataset) {
  core::SamplerOptions options;
  options.within_group = true;
  absl::flat_hash_map<std::string, int> group_of;
  for (const std::string& name : dataset.class_names) {
    const auto [it, added] = group_of.try_emplace(
        core::AlphabetOf(name), static_cast<int>(group_of.size()));
    options.class_group.push_back(it->second);
  }
  return options;
}

// Runs one evaluation with a progress bar labelled `what`.
absl::StatusOr<core::EvaluationResult> RunWithProgress(
    const EpisodeRunner& run, const std::string& method,
    const core::ImageDataset& dataset, const core::EvaluationOptions& options,
    const std::string& what) {
  ProgressBar bar(options.episodes, /*lines_when_piped=*/4);
  const absl::Time began = absl::Now();
  absl::StatusOr<core::EvaluationResult> result =
      run(method, dataset, options, [&](int done) {
        bar.Update(done, done / absl::ToDoubleSeconds(absl::Now() - began),
                   what);
      });
  bar.Finish();
  return result;
}

int Fail(const absl::Status& status) {
  std::cerr << "fewshot-eval: " << status << "\n";
  return 1;
}

// Everything a run needs besides the flags read in Run().
struct Setup {
  EvaluationReport report;
  EpisodeRunner run;
  // Method names as sent to the runner, and as reported.
  std::vector<std::string> methods;
  std::vector<std::string> method_names;
  // The temperatures each method serves, in the order of `methods`.
  std::vector<core::TemperatureSchedule> temperatures;
  core::Preprocessing preprocessing;
  // The training split fields of the model's bundle (over gRPC, as the
  // server reports them), and where the model came from, for messages.
  core::BundleMetadata trained_on;
  std::string source;
};

// In process: the bundle, its encoder and every method asked for.
absl::StatusOr<Setup> SetUpInProcess(const std::vector<std::string>& wanted) {
  FEWSHOT_ASSIGN_OR_RETURN(
      core::ModelBundle bundle,
      core::LoadModelBundle(absl::GetFlag(FLAGS_model_dir)));
  Setup setup;
  setup.report.model_name = bundle.metadata.name;
  setup.report.model_version = bundle.metadata.version;
  setup.report.target = "in-process";
  setup.preprocessing = bundle.metadata.preprocessing;
  setup.trained_on = bundle.metadata;
  setup.source = "--model_dir=" + absl::GetFlag(FLAGS_model_dir);
  auto methods = std::make_shared<
      std::map<std::string, std::unique_ptr<core::AdaptationMethod>>>();
  const std::vector<std::string> offered = bundle.metadata.MethodNames();
  for (const std::string& name : wanted) {
    // An empty name is the bundle's default (first) method.
    const std::string chosen =
        name.empty() && !offered.empty() ? offered.front() : name;
    FEWSHOT_ASSIGN_OR_RETURN(std::unique_ptr<core::AdaptationMethod> method,
                             core::CreateMethodFromBundle(chosen, bundle));
    setup.methods.push_back(method->name());
    setup.method_names.push_back(method->name());
    setup.temperatures.push_back(method->temperatures());
    (*methods)[method->name()] = std::move(method);
  }
  auto encoder = std::make_shared<core::Encoder>(bundle.encoder,
                                                 bundle.metadata.preprocessing);
  setup.run = [encoder, methods](const std::string& method,
                                 const core::ImageDataset& dataset,
                                 const core::EvaluationOptions& options,
                                 const std::function<void(int)>& progress) {
    return core::EvaluateEpisodes(*encoder, *methods->at(method), dataset,
                                  options, progress);
  };
  return setup;
}

// The temperatures the server reports for method `name` (1 if it does not
// list the method).
core::TemperatureSchedule TemperaturesOfServer(
    const v1::GetModelInfoResponse& info, const std::string& name) {
  for (const v1::MethodInfo& method : info.method_info()) {
    if (method.name() != name) continue;
    std::vector<core::ShotTemperature> by_shots;
    for (const v1::ShotTemperature& point : method.temperatures_by_shots()) {
      by_shots.push_back({point.shots(), point.temperature()});
    }
    return core::TemperatureSchedule(std::move(by_shots), method.temperature());
  }
  return core::TemperatureSchedule();
}

// Through gRPC: the server's model, input recipe and methods.
absl::StatusOr<Setup> SetUpOverGrpc(const std::vector<std::string>& wanted) {
  const std::string target = absl::GetFlag(FLAGS_server);
  FEWSHOT_ASSIGN_OR_RETURN(std::shared_ptr<client::FewShotClient> client,
                           client::FewShotClient::Connect({.target = target}));
  FEWSHOT_ASSIGN_OR_RETURN(v1::GetModelInfoResponse info,
                           client->GetModelInfo());
  Setup setup;
  setup.report.model_name = info.model_name();
  setup.report.model_version = info.model_version();
  setup.report.target = "grpc://" + target;
  setup.trained_on.training_split = info.training_split();
  if (info.has_training_split_seed()) {
    setup.trained_on.training_split_seed = info.training_split_seed();
  }
  if (info.has_training_validation_classes()) {
    setup.trained_on.training_validation_classes =
        info.training_validation_classes();
  }
  setup.source = "--server=" + target;
  FEWSHOT_ASSIGN_OR_RETURN(setup.preprocessing, PreprocessingOfServer(*client));
  for (const std::string& name : wanted) {
    setup.methods.push_back(name);
    setup.method_names.push_back(name.empty() ? info.default_method() : name);
    setup.temperatures.push_back(
        TemperaturesOfServer(info, setup.method_names.back()));
  }
  setup.run = [client, preprocessing = setup.preprocessing](
                  const std::string& method, const core::ImageDataset& dataset,
                  const core::EvaluationOptions& options,
                  const std::function<void(int)>& progress) {
    return EvaluateEpisodesOverGrpc(*client, method, dataset, preprocessing,
                                    options, progress);
  };
  return setup;
}

// One accuracy measurement: a shape, across alphabets or within one.
struct Job {
  core::EpisodeShape shape;
  bool within_alphabet = false;
};

// Validation results by method index, ways, shots and whether the
// episodes keep to one alphabet.
using ValidationRuns =
    std::map<std::tuple<size_t, int, int, bool>, core::EvaluationResult>;

// The scores of --calibration_episodes validation episodes of method `m`
// shaped like `shape` (within one alphabet if `within_alphabet`). Each is
// run once and kept in `runs`, so that --save_temperatures and --calibrate
// fit on the same episodes without scoring them twice; the scores are the
// method's raw ones and do not depend on the temperatures it serves.
absl::StatusOr<const core::EvaluationResult*> RunValidation(
    const Setup& setup, size_t m, const core::EpisodeShape& shape,
    bool within_alphabet, const core::ImageDataset& validation,
    ValidationRuns* runs) {
  const auto key = std::make_tuple(m, shape.ways, shape.shots, within_alphabet);
  const auto found = runs->find(key);
  if (found != runs->end()) return &found->second;

  core::EvaluationOptions options;
  options.shape = shape;
  options.episodes = absl::GetFlag(FLAGS_calibration_episodes);
  options.seed = setup.report.seed;
  options.keep_scores = true;
  if (within_alphabet) options.sampler = WithinAlphabet(validation);
  const std::string what = absl::StrFormat(
      "%s %d-way %d-shot%s validation", setup.method_names[m], shape.ways,
      shape.shots, within_alphabet ? " within alphabet" : "");
  absl::StatusOr<core::EvaluationResult> result =
      RunWithProgress(setup.run, setup.methods[m], validation, options, what);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat("calibration on the validation classes: ",
                                     result.status().message(),
                                     " (raise --validation_classes)"));
  }
  return &runs->emplace(key, *std::move(result)).first->second;
}

// Fits a temperature on validation episodes of method `m` shaped like
// `job` and measures the test scores' calibration error before, after,
// and at the temperature the method serves.
absl::StatusOr<CalibrationFigures> Calibrate(
    const Setup& setup, size_t m, const Job& job,
    const core::ImageDataset& validation, const core::EvaluationResult& test,
    ValidationRuns* runs) {
  FEWSHOT_ASSIGN_OR_RETURN(
      const core::EvaluationResult* fitted,
      RunValidation(setup, m, job.shape, job.within_alphabet, validation,
                    runs));
  CalibrationFigures figures;
  figures.validation_episodes = absl::GetFlag(FLAGS_calibration_episodes);
  FEWSHOT_ASSIGN_OR_RETURN(
      figures.temperature,
      core::FitTemperature(fitted->scores, fitted->labels));
  FEWSHOT_ASSIGN_OR_RETURN(figures.ece_before, core::ExpectedCalibrationError(
                                                   test.scores, test.labels));
  FEWSHOT_ASSIGN_OR_RETURN(
      figures.ece_after,
      core::ExpectedCalibrationError(test.scores, test.labels,
                                     {.temperature = figures.temperature}));
  figures.served_temperature = setup.temperatures[m].At(job.shape.shots);
  FEWSHOT_ASSIGN_OR_RETURN(figures.ece_served,
                           core::ExpectedCalibrationError(
                               test.scores, test.labels,
                               {.temperature = figures.served_temperature}));
  return figures;
}

// Checks, before any episode runs, that `dataset` can supply every job's
// episodes (with `unknown_ways` more classes for open-set jobs).
absl::Status CheckShapes(const std::vector<Job>& jobs,
                         const std::vector<core::EpisodeShape>& open_set,
                         const core::ImageDataset& dataset,
                         const core::Preprocessing& preprocessing,
                         const std::string& role, const std::string& hint) {
  std::vector<std::pair<Job, int>> checks;
  for (const Job& job : jobs) checks.push_back({job, 0});
  for (const core::EpisodeShape& shape : open_set) {
    checks.push_back({{shape, false}, absl::GetFlag(FLAGS_unknown_ways)});
  }
  for (const auto& [job, unknown_ways] : checks) {
    core::EpisodeShape drawn = job.shape;
    drawn.ways += unknown_ways;
    const core::EpisodicSampler sampler(
        &dataset, drawn, preprocessing, /*seed=*/0,
        job.within_alphabet ? WithinAlphabet(dataset) : core::SamplerOptions{});
    const absl::Status valid = sampler.Validate();
    if (!valid.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "the %s classes cannot supply %d-way %d-shot episodes%s%s: %s%s",
          role, drawn.ways, drawn.shots,
          unknown_ways > 0 ? " (with the unknown classes)" : "",
          job.within_alphabet ? " within one alphabet" : "", valid.message(),
          hint));
    }
  }
  return absl::OkStatus();
}

// Runs `job` for method `m` on the evaluated classes and, when `validation` is
// given, calibrates on it (validation runs kept in `runs`).
absl::StatusOr<ShapeFigures> MeasureShape(const Setup& setup, size_t m,
                                          const Job& job,
                                          const core::ImageDataset& eval_set,
                                          const core::ImageDataset* validation,
                                          ValidationRuns* runs) {
  const std::string& method_name = setup.method_names[m];
  core::EvaluationOptions options;
  options.shape = job.shape;
  options.episodes = absl::GetFlag(FLAGS_episodes);
  options.seed = setup.report.seed;
  options.keep_scores = validation != nullptr;
  if (job.within_alphabet) options.sampler = WithinAlphabet(eval_set);
  const std::string what = absl::StrFormat(
      "%s %d-way %d-shot%s", method_name, job.shape.ways, job.shape.shots,
      job.within_alphabet ? " within alphabet" : "");
  FEWSHOT_ASSIGN_OR_RETURN(
      core::EvaluationResult result,
      RunWithProgress(setup.run, setup.methods[m], eval_set, options, what));

  ShapeFigures figures;
  figures.method = method_name;
  figures.ways = job.shape.ways;
  figures.shots = job.shape.shots;
  figures.queries = job.shape.queries;
  figures.episodes = options.episodes;
  figures.within_alphabet = job.within_alphabet;
  figures.accuracy = result.accuracy.mean;
  figures.ci95 = result.accuracy.ci95;
  figures.adapt_ms = client::SummarizeLatencies(result.adapt_milliseconds);
  figures.score_ms = client::SummarizeLatencies(result.score_milliseconds);
  std::cout << absl::StrFormat(
      "%s: %6.2f%% +- %.2f%% (95%% CI, %d episodes, %.1f s); adapt p50 %.2f "
      "ms p99 %.2f ms, score p50 %.2f ms p99 %.2f ms\n",
      what, 100 * figures.accuracy, 100 * figures.ci95, options.episodes,
      result.seconds, figures.adapt_ms.p50, figures.adapt_ms.p99,
      figures.score_ms.p50, figures.score_ms.p99);
  if (validation != nullptr) {
    FEWSHOT_ASSIGN_OR_RETURN(
        figures.calibration,
        Calibrate(setup, m, job, *validation, result, runs));
    std::cout << absl::StrFormat(
        "%s: T = %.3f (fitted on %d validation episodes), ECE %.2f%% -> "
        "%.2f%%; served T = %.3f, ECE %.2f%%\n",
        what, figures.calibration->temperature,
        figures.calibration->validation_episodes,
        100 * figures.calibration->ece_before,
        100 * figures.calibration->ece_after,
        figures.calibration->served_temperature,
        100 * figures.calibration->ece_served);
  }
  return figures;
}

// Open-set rejection of method `m`: episodes of `shape` whose queries also
// come from --unknown_ways evaluated classes outside the support set.
absl::StatusOr<OpenSetFigures> MeasureOpenSetShape(
    const Setup& setup, size_t m, const core::EpisodeShape& shape,
    const core::ImageDataset& eval_set, const std::vector<double>& thresholds) {
  core::EvaluationOptions options;
  options.shape = shape;
  options.episodes = absl::GetFlag(FLAGS_episodes);
  options.seed = setup.report.seed;
  options.unknown_ways = absl::GetFlag(FLAGS_unknown_ways);
  const std::string what =
      absl::StrFormat("%s %d-way %d-shot + %d unknown", setup.method_names[m],
                      shape.ways, shape.shots, options.unknown_ways);
  FEWSHOT_ASSIGN_OR_RETURN(
      core::EvaluationResult result,
      RunWithProgress(setup.run, setup.methods[m], eval_set, options, what));

  OpenSetFigures figures;
  figures.method = setup.method_names[m];
  figures.ways = shape.ways;
  figures.shots = shape.shots;
  figures.queries = shape.queries;
  figures.unknown_ways = options.unknown_ways;
  figures.episodes = options.episodes;
  figures.known_queries = static_cast<int64_t>(result.known_confidences.size());
  figures.unknown_queries =
      static_cast<int64_t>(result.unknown_confidences.size());
  FEWSHOT_ASSIGN_OR_RETURN(
      figures.curve,
      core::MeasureOpenSet(result.known_confidences, result.unknown_confidences,
                           thresholds));
  std::cout << absl::StrFormat(
      "%s: equal error rate %.2f%% at threshold %.4f\n", what,
      100 * figures.curve.equal_error_rate,
      figures.curve.equal_error_threshold);
  return figures;
}

// Fits, for each method of `setup` and each shot count of `shapes`, one
// temperature on validation episodes of every shape with that many shots
// (pooled), and stores them in the bundle at --model_dir.
absl::Status SaveTemperatures(const Setup& setup,
                              const std::vector<core::EpisodeShape>& shapes,
                              const core::ImageDataset& validation,
                              ValidationRuns* runs) {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  FEWSHOT_ASSIGN_OR_RETURN(core::BundleMetadata metadata,
                           core::ReadBundleMetadata(model_dir));
  for (size_t m = 0; m < setup.methods.size(); ++m) {
    // Validation scores of every shape, grouped by shots.
    std::map<int, std::vector<core::LabelledScores>> by_shots;
    for (const core::EpisodeShape& shape : shapes) {
      FEWSHOT_ASSIGN_OR_RETURN(
          const core::EvaluationResult* result,
          RunValidation(setup, m, shape, /*within_alphabet=*/false, validation,
                        runs));
      by_shots[shape.shots].push_back({result->scores, result->labels});
    }

    // One temperature per shot count.
    core::MethodSpec* spec = metadata.FindMethod(setup.method_names[m]);
    if (spec == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          model_dir, " does not list method '", setup.method_names[m], "'"));
    }
    spec->temperatures_by_shots.clear();
    for (const auto& [shots, groups] : by_shots) {
      FEWSHOT_ASSIGN_OR_RETURN(double temperature,
                               core::FitTemperature(groups));
      spec->temperatures_by_shots.push_back({shots, temperature});
      std::cout << absl::StrFormat("%s: %d-shot temperature %.3f\n",
                                   setup.method_names[m], shots, temperature);
    }
  }
  FEWSHOT_RETURN_IF_ERROR(core::WriteBundleMetadata(metadata, model_dir));
  std::cout << "temperatures stored in " << model_dir << "/bundle.json\n";
  return absl::OkStatus();
}

// Records the accuracies in the bundle (within-alphabet ones under their
// own split name), replacing earlier ones of the same method, split and
// shape.
absl::Status RecordInBundle(const EvaluationReport& report) {
  const std::string model_dir = absl::GetFlag(FLAGS_model_dir);
  FEWSHOT_ASSIGN_OR_RETURN(core::BundleMetadata metadata,
                           core::ReadBundleMetadata(model_dir));
  for (const ShapeFigures& figures : report.results) {
    const core::AccuracyRecord record{
        figures.method,
        figures.within_alphabet ? report.evaluated_split + "/within-alphabet"
                                : report.evaluated_split,
        figures.ways,
        figures.shots,
        figures.queries,
        figures.episodes,
        figures.accuracy,
        figures.ci95};
    auto& accuracy = metadata.accuracy;
    accuracy.erase(std::remove_if(accuracy.begin(), accuracy.end(),
                                  [&](const core::AccuracyRecord& old) {
                                    return old.method == record.method &&
                                           old.split == record.split &&
                                           old.ways == record.ways &&
                                           old.shots == record.shots;
                                  }),
                   accuracy.end());
    accuracy.push_back(record);
  }
  FEWSHOT_RETURN_IF_ERROR(core::WriteBundleMetadata(metadata, model_dir));
  std::cout << "recorded in " << model_dir << "/bundle.json\n";
  return absl::OkStatus();
}

// The classes --classes names. Validation classes only serve to compare
// models: their figures are never recorded and calibration needs them
// unseen.
absl::StatusOr<core::DataRole> EvaluatedRoleFromFlags(
    const core::ProtocolOptions& protocol) {
  const std::string classes = absl::GetFlag(FLAGS_classes);
  if (classes == "test") return core::DataRole::kTest;
  if (classes != "validation") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--classes=", classes, " is unknown: use test or validation"));
  }
  if (protocol.validation_classes < 1) {
    return absl::InvalidArgumentError(
        "--classes=validation needs --validation_classes above 0 (with the "
        "--protocol and --split_seed the model was trained with)");
  }
  if (absl::GetFlag(FLAGS_record) || absl::GetFlag(FLAGS_calibrate) ||
      absl::GetFlag(FLAGS_save_temperatures)) {
    return absl::InvalidArgumentError(
        "--classes=validation measures for model selection only: drop "
        "--record, --calibrate and --save_temperatures, which record test "
        "figures and fit temperatures on the validation classes");
  }
  return core::DataRole::kValidation;
}

absl::Status Evaluate(int argc, char** argv) {
  // Check the flags.
  FEWSHOT_RETURN_IF_ERROR(
      core::ConfigureTorchThreads(absl::GetFlag(FLAGS_threads), 1));
  const int queries = absl::GetFlag(FLAGS_queries);
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<core::EpisodeShape> shapes,
      ParseShapes("shapes", absl::GetFlag(FLAGS_shapes), queries));
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<core::EpisodeShape> within_shapes,
      ParseShapes("within_alphabet_shapes",
                  absl::GetFlag(FLAGS_within_alphabet_shapes), queries));
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<core::EpisodeShape> open_set_shapes,
      ParseShapes("open_set_shape", absl::GetFlag(FLAGS_open_set_shape),
                  queries));
  if (shapes.empty() && within_shapes.empty() && open_set_shapes.empty()) {
    return absl::InvalidArgumentError(
        "nothing to measure: set --shapes, --within_alphabet_shapes or "
        "--open_set_shape");
  }
  FEWSHOT_ASSIGN_OR_RETURN(
      std::vector<double> thresholds,
      ParseThresholds(absl::GetFlag(FLAGS_open_set_thresholds)));
  FEWSHOT_ASSIGN_OR_RETURN(core::ProtocolOptions protocol,
                           ProtocolOptionsFromFlags());
  FEWSHOT_ASSIGN_OR_RETURN(const core::DataRole evaluated_role,
                           EvaluatedRoleFromFlags(protocol));
  const bool calibrate = absl::GetFlag(FLAGS_calibrate);
  const bool save_temperatures = absl::GetFlag(FLAGS_save_temperatures);
  if ((calibrate || save_temperatures) && protocol.validation_classes < 1) {
    return absl::InvalidArgumentError(
        "--calibrate and --save_temperatures fit temperatures on validation "
        "classes: set --validation_classes above 0 (with the --protocol and "
        "--split_seed the model was trained with)");
  }
  if (save_temperatures && shapes.empty()) {
    return absl::InvalidArgumentError(
        "--save_temperatures fits one temperature per shot count of "
        "--shapes: set --shapes");
  }
  const bool remote = !absl::GetFlag(FLAGS_server).empty();
  if (remote && (absl::GetFlag(FLAGS_record) || save_temperatures)) {
    return absl::InvalidArgumentError(
        "--record and --save_temperatures write into --model_dir and need "
        "an in-process run; drop --server or them");
  }
  std::vector<std::string> wanted =
      absl::StrSplit(absl::GetFlag(FLAGS_methods), ',', absl::SkipEmpty());
  if (wanted.empty()) wanted.push_back("");

  // Set up the model and the data.
  FEWSHOT_ASSIGN_OR_RETURN(
      Setup setup, remote ? SetUpOverGrpc(wanted) : SetUpInProcess(wanted));

  // Refuse classes the model may have trained on.
  const core::HeldOutUse use =
      calibrate || save_temperatures ||
              evaluated_role == core::DataRole::kValidation
          ? core::HeldOutUse::kTestAndValidation
          : core::HeldOutUse::kTestOnly;
  FEWSHOT_RETURN_IF_ERROR(
      core::CheckTrainingSplit(setup.trained_on, setup.source, protocol, use));

  EvaluationReport& report = setup.report;
  report.command = CommandLine(argc, argv);
  report.started_at =
      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  report.protocol = core::OmniglotProtocolName(protocol.protocol);
  report.evaluated_split = core::ProtocolSplitName(protocol, evaluated_role);
  report.split_seed = protocol.split_seed;
  report.validation_classes = protocol.validation_classes;
  report.seed = absl::GetFlag(FLAGS_seed);
  const core::OmniglotOptions data =
      OmniglotOptionsFromFlags(setup.preprocessing);
  FEWSHOT_ASSIGN_OR_RETURN(
      core::ImageDataset eval_set,
      core::LoadOmniglotRole(evaluated_role, protocol, data));
  std::optional<core::ImageDataset> validation_set;
  if (calibrate || save_temperatures) {
    report.validation_split =
        core::ProtocolSplitName(protocol, core::DataRole::kValidation);
    FEWSHOT_ASSIGN_OR_RETURN(
        validation_set,
        core::LoadOmniglotRole(core::DataRole::kValidation, protocol, data));
  }
  std::cout << absl::StrFormat(
      "model %s (%s), %s, methods %s, classes %s (%d), %d episodes per "
      "shape, %d queries per class\n",
      report.model_name, report.model_version, report.target,
      absl::StrJoin(setup.method_names, ","), report.evaluated_split,
      eval_set.num_classes(), absl::GetFlag(FLAGS_episodes), queries);

  // Each method on each shape, across alphabets and then within one, then
  // its open-set measurement.
  std::vector<Job> jobs;
  for (const core::EpisodeShape& shape : shapes) jobs.push_back({shape, false});
  for (const core::EpisodeShape& shape : within_shapes) {
    jobs.push_back({shape, true});
  }
  FEWSHOT_RETURN_IF_ERROR(CheckShapes(jobs, open_set_shapes, eval_set,
                                      setup.preprocessing,
                                      core::DataRoleName(evaluated_role), ""));
  if (validation_set.has_value()) {
    FEWSHOT_RETURN_IF_ERROR(CheckShapes(
        jobs, {}, *validation_set, setup.preprocessing, "validation",
        "; raise --validation_classes or drop --calibrate and "
        "--save_temperatures"));
  }

  // Store calibrated temperatures first, so that every figure below is
  // measured with the temperatures the bundle now serves.
  ValidationRuns validation_runs;
  if (save_temperatures) {
    FEWSHOT_RETURN_IF_ERROR(
        SaveTemperatures(setup, shapes, *validation_set, &validation_runs));
    FEWSHOT_ASSIGN_OR_RETURN(Setup reloaded, SetUpInProcess(wanted));
    setup.run = std::move(reloaded.run);
    setup.temperatures = std::move(reloaded.temperatures);
  }
  for (size_t m = 0; m < setup.methods.size(); ++m) {
    for (const Job& job : jobs) {
      FEWSHOT_ASSIGN_OR_RETURN(
          ShapeFigures figures,
          MeasureShape(setup, m, job, eval_set,
                       calibrate ? &*validation_set : nullptr,
                       &validation_runs));
      report.results.push_back(std::move(figures));
    }
    for (const core::EpisodeShape& shape : open_set_shapes) {
      FEWSHOT_ASSIGN_OR_RETURN(
          OpenSetFigures figures,
          MeasureOpenSetShape(setup, m, shape, eval_set, thresholds));
      report.open_set.push_back(std::move(figures));
    }
  }

  // Write the reports and record the figures.
  if (!absl::GetFlag(FLAGS_report_json).empty()) {
    FEWSHOT_RETURN_IF_ERROR(
        WriteTextFile(absl::GetFlag(FLAGS_report_json), ReportToJson(report)));
  }
  if (!absl::GetFlag(FLAGS_report_md).empty()) {
    FEWSHOT_RETURN_IF_ERROR(WriteTextFile(absl::GetFlag(FLAGS_report_md),
                                          ReportToMarkdown(report)));
  }
  if (absl::GetFlag(FLAGS_record)) {
    FEWSHOT_RETURN_IF_ERROR(RecordInBundle(report));
  }
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Evaluates a model bundle on held-out Omniglot classes, in process or "
      "through a running server.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = Evaluate(argc, argv);
  if (!status.ok()) return Fail(status);
  return 0;
}

}  // namespace
}  // namespace fewshot::tools

int main(int argc, char** argv) { return fewshot::tools::Run(argc, argv); }
