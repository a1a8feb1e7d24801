// Softmax and arg-max over method scores.
#include "core/adapt/class_prediction.h"

namespace fewshot::core {

std::vector<ClassPrediction> ToClassPredictions(const torch::Tensor& scores,
                                                double temperature) {
  const torch::Tensor scores_cpu = scores.to(torch::kFloat32).contiguous();
  const torch::Tensor probabilities =
      torch::softmax(scores_cpu / temperature, /*dim=*/1).contiguous();
  const int64_t queries = scores_cpu.size(0);
  const int64_t classes = scores_cpu.size(1);
  const float* score_data = scores_cpu.data_ptr<float>();
  const float* probability_data = probabilities.data_ptr<float>();

  std::vector<ClassPrediction> predictions(queries);
  for (int64_t q = 0; q < queries; ++q) {
    ClassPrediction& prediction = predictions[q];
    prediction.scores.assign(score_data + q * classes,
                             score_data + (q + 1) * classes);
    prediction.probabilities.assign(probability_data + q * classes,
                                    probability_data + (q + 1) * classes);
    for (int64_t c = 1; c < classes; ++c) {
      if (prediction.probabilities[c] >
          prediction.probabilities[prediction.best_class]) {
        prediction.best_class = static_cast<int>(c);
      }
    }
    prediction.confidence = prediction.probabilities[prediction.best_class];
  }
  return predictions;
}

}  // namespace fewshot::core
