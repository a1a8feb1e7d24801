// Builds tensor examples of the model's input shape for server and
// integration tests, so that they need no images.
#ifndef FEWSHOT_TESTS_TENSOR_EXAMPLE_H_
#define FEWSHOT_TESTS_TENSOR_EXAMPLE_H_

#include <string>

#include "fewshot/v1/types.pb.h"

namespace fewshot::testing {

// A [1, 28, 28] tensor example whose pixels all equal `value`.
inline v1::Example ConstantTensorExample(float value) {
  v1::Example example;
  v1::FloatTensor* tensor = example.mutable_tensor();
  for (int dim : {1, 28, 28}) tensor->add_shape(dim);
  for (int i = 0; i < 28 * 28; ++i) tensor->add_values(value);
  return example;
}

// A [1, 28, 28] tensor example whose pixels all equal `value`, except the
// pixel at index `marker`, which is 1; the marker makes examples differ in
// more than brightness.
inline v1::Example MarkedTensorExample(float value, int marker) {
  v1::Example example;
  v1::FloatTensor* tensor = example.mutable_tensor();
  for (int dim : {1, 28, 28}) tensor->add_shape(dim);
  for (int i = 0; i < 28 * 28; ++i) {
    tensor->add_values(i == marker ? 1.0f : value);
  }
  return example;
}

// A support set of three classes "class-0" .. "class-2" of two examples
// each; class c's examples are MarkedTensorExample(0.3 * c, 100 + shot).
inline google::protobuf::RepeatedPtrField<v1::LabeledExample>
ThreeMarkedClasses() {
  google::protobuf::RepeatedPtrField<v1::LabeledExample> support;
  for (int c = 0; c < 3; ++c) {
    for (int shot = 0; shot < 2; ++shot) {
      v1::LabeledExample* labeled = support.Add();
      labeled->set_label("class-" + std::to_string(c));
      *labeled->mutable_example() = MarkedTensorExample(0.3f * c, 100 + shot);
    }
  }
  return support;
}

}  // namespace fewshot::testing

#endif  // FEWSHOT_TESTS_TENSOR_EXAMPLE_H_
