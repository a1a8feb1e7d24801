// Turns a method's score matrix into per-query answers: the best class, its
// probability, and every class's score and probability.
#ifndef FEWSHOT_CORE_ADAPT_CLASS_PREDICTION_H_
#define FEWSHOT_CORE_ADAPT_CLASS_PREDICTION_H_

#include <torch/torch.h>

#include <vector>

namespace fewshot::core {

struct ClassPrediction {
  int best_class = 0;
  float confidence = 0.0f;    // Probability of best_class.
  std::vector<float> scores;  // Per class index, raw method scores.
  // Per class index, softmax of scores / temperature.
  std::vector<float> probabilities;
};

// scores: float [q, num_classes] -> q predictions, with probabilities
// softmax(scores / temperature). REQUIRES: temperature > 0.
std::vector<ClassPrediction> ToClassPredictions(const torch::Tensor& scores,
                                                double temperature = 1.0);

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_CLASS_PREDICTION_H_
