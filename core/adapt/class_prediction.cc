// Softmax and arg-max over method scores.
//
// Plain loops rather than LibTorch operators: a served call scores a few
// queries, where each operator's dispatch would cost more than the math.
#include "core/adapt/class_prediction.h"

#include <algorithm>
#include <cmath>

namespace fewshot::core {
namespace {

// Fills `prediction` from one query's `classes` scores.
void PredictOne(const float* scores, int64_t classes, double temperature,
                ClassPrediction* prediction) {
  prediction->scores.assign(scores, scores + classes);

  // softmax(scores / T), shifted by the largest score so exp cannot
  // overflow.
  const float largest = *std::max_element(scores, scores + classes);
  prediction->probabilities.resize(classes);
  double total = 0.0;
  for (int64_t c = 0; c < classes; ++c) {
    const double weight = std::exp((scores[c] - largest) / temperature);
    prediction->probabilities[c] = static_cast<float>(weight);
    total += weight;
  }
  for (float& probability : prediction->probabilities) {
    probability = static_cast<float>(probability / total);
  }

  // The first class with the highest probability wins.
  prediction->best_class = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (prediction->probabilities[c] >
        prediction->probabilities[prediction->best_class]) {
      prediction->best_class = static_cast<int>(c);
    }
  }
  prediction->confidence = prediction->probabilities[prediction->best_class];
}

}  // namespace

std::vector<ClassPrediction> ToClassPredictions(const torch::Tensor& scores,
                                                double temperature) {
  const torch::Tensor scores_cpu =
      scores.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t queries = scores_cpu.size(0);
  const int64_t classes = scores_cpu.size(1);
  const float* data = scores_cpu.data_ptr<float>();

  std::vector<ClassPrediction> predictions(queries);
  if (classes == 0) return predictions;
  for (int64_t q = 0; q < queries; ++q) {
    PredictOne(data + q * classes, classes, temperature, &predictions[q]);
  }
  return predictions;
}

}  // namespace fewshot::core
