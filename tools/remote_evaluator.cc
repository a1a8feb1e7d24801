// Seeded evaluation episodes sent to a server with the client library.
#include "tools/remote_evaluator.h"

#include <chrono>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "core/data/episodic_sampler.h"
#include "core/eval/evaluation_recorder.h"
#include "core/util/status_macros.h"

namespace fewshot::tools {
namespace {

using Clock = std::chrono::steady_clock;

std::string ClassLabel(int64_t index) { return absl::StrCat("class", index); }

// Copies one preprocessed input [C, H, W] into `tensor`.
void FillTensor(const torch::Tensor& input, v1::FloatTensor* tensor) {
  const torch::Tensor values = input.contiguous().to(torch::kFloat32);
  for (int64_t size : values.sizes()) tensor->add_shape(size);
  const float* data = values.data_ptr<float>();
  tensor->mutable_values()->Add(data, data + values.numel());
}

// Prefixes a failed call's status with the episode and the call.
absl::Status InEpisode(const absl::Status& status, int episode,
                       absl::string_view call) {
  return absl::Status(
      status.code(),
      absl::StrFormat("episode %d, %s: %s", episode, call, status.message()));
}

// The score matrix [queries, ways] of `response` in class order and the
// top-1 probability of each query.
absl::StatusOr<std::pair<torch::Tensor, std::vector<double>>> ReadPredictions(
    const v1::PredictResponse& response, int64_t queries, int ways) {
  if (response.predictions_size() != queries) {
    return absl::InternalError(
        absl::StrFormat("the server answered %d predictions for %d queries",
                        response.predictions_size(), queries));
  }
  absl::flat_hash_map<std::string, int> class_of;
  for (int c = 0; c < ways; ++c) class_of[ClassLabel(c)] = c;
  torch::Tensor scores = torch::full({queries, ways}, -INFINITY);
  auto rows = scores.accessor<float, 2>();
  std::vector<double> confidences;
  for (int64_t q = 0; q < queries; ++q) {
    const v1::Prediction& prediction = response.predictions(q);
    if (prediction.scores_size() != ways) {
      return absl::InternalError(absl::StrFormat(
          "query %d has %d class scores; the adaptation has %d classes", q,
          prediction.scores_size(), ways));
    }
    for (const v1::LabelScore& entry : prediction.scores()) {
      const auto found = class_of.find(entry.label());
      if (found == class_of.end()) {
        return absl::InternalError(absl::StrCat(
            "the server scored an unknown label '", entry.label(), "'"));
      }
      rows[q][found->second] = entry.score();
    }
    confidences.push_back(prediction.confidence());
  }
  return std::make_pair(std::move(scores), std::move(confidences));
}

}  // namespace

absl::StatusOr<core::Preprocessing> PreprocessingOfServer(
    client::FewShotClient& client) {
  FEWSHOT_ASSIGN_OR_RETURN(v1::GetModelInfoResponse info,
                           client.GetModelInfo());
  core::Preprocessing preprocessing;
  preprocessing.channels = info.input().channels();
  preprocessing.height = info.input().height();
  preprocessing.width = info.input().width();
  preprocessing.invert = info.input().invert();
  preprocessing.mean = info.input().mean();
  preprocessing.stddev = info.input().stddev();
  FEWSHOT_RETURN_IF_ERROR(core::ValidatePreprocessing(preprocessing));
  return preprocessing;
}

absl::StatusOr<core::EvaluationResult> EvaluateEpisodesOverGrpc(
    client::FewShotClient& client, const std::string& method,
    const core::ImageDataset& dataset, const core::Preprocessing& preprocessing,
    const core::EvaluationOptions& options,
    const std::function<void(int)>& progress) {
  // The same draws as the in-process evaluator.
  FEWSHOT_ASSIGN_OR_RETURN(
      const core::EpisodicSampler sampler,
      core::EvaluationSampler(dataset, preprocessing, options));
  const int ways = options.shape.ways;
  const int64_t known_support = ways * options.shape.shots;

  core::EvaluationRecorder recorder(options);
  for (int i = 0; i < options.episodes; ++i) {
    const core::Episode episode = sampler.Sample(i);

    // Build both requests before timing the calls.
    v1::AdaptRequest adapt;
    adapt.set_method(method);
    for (int64_t row = 0; row < known_support; ++row) {
      v1::LabeledExample* example = adapt.add_support();
      example->set_label(
          ClassLabel(episode.support_labels[row].item<int64_t>()));
      FillTensor(episode.support[row],
                 example->mutable_example()->mutable_tensor());
    }
    v1::PredictRequest predict;
    const int64_t queries = episode.query.size(0);
    for (int64_t row = 0; row < queries; ++row) {
      FillTensor(episode.query[row], predict.add_queries()->mutable_tensor());
    }

    // Adapt, predict, forget.
    const auto adapt_began = Clock::now();
    absl::StatusOr<v1::AdaptResponse> adapted = client.Adapt(adapt);
    const auto adapt_ended = Clock::now();
    if (!adapted.ok()) return InEpisode(adapted.status(), i, "Adapt");
    predict.set_adaptation_id(adapted->adaptation_id());
    absl::StatusOr<v1::PredictResponse> predicted = client.Predict(predict);
    const auto predict_ended = Clock::now();
    if (!predicted.ok()) return InEpisode(predicted.status(), i, "Predict");
    const absl::Status deleted =
        client.DeleteAdaptation(adapted->adaptation_id());
    if (!deleted.ok()) return InEpisode(deleted, i, "DeleteAdaptation");

    // The same bookkeeping as in process.
    absl::StatusOr<std::pair<torch::Tensor, std::vector<double>>> read =
        ReadPredictions(*predicted, queries, ways);
    if (!read.ok()) return InEpisode(read.status(), i, "Predict");
    core::EpisodeOutcome outcome;
    outcome.adapt = adapt_ended - adapt_began;
    outcome.score = predict_ended - adapt_ended;
    std::tie(outcome.scores, outcome.confidences) = *std::move(read);
    outcome.query_labels = episode.query_labels;
    recorder.AddEpisode(outcome);
    if (progress) progress(i + 1);
  }
  return recorder.Finish();
}

}  // namespace fewshot::tools
