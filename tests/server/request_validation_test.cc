// Tests that each kind of bad request is refused with INVALID_ARGUMENT and
// a message naming the field, before any work is done.
#include "server/request_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace fewshot::server {
namespace {

using ::testing::HasSubstr;

// Small limits so that the tests stay small.
RequestLimits TestLimits() {
  RequestLimits limits;
  limits.max_support_examples = 6;
  limits.max_queries = 3;
  limits.max_classes = 3;
  limits.max_image_bytes = 10;
  limits.max_label_length = 5;
  return limits;
}

// A valid [1, 28, 28] tensor example.
v1::Example TensorExample() {
  v1::Example example;
  v1::FloatTensor* tensor = example.mutable_tensor();
  tensor->add_shape(1);
  tensor->add_shape(28);
  tensor->add_shape(28);
  for (int i = 0; i < 28 * 28; ++i) tensor->add_values(0.5f);
  return example;
}

// Adds a labelled tensor example to `support`.
void AddSupport(google::protobuf::RepeatedPtrField<v1::LabeledExample>* support,
                const std::string& label) {
  v1::LabeledExample* labeled = support->Add();
  labeled->set_label(label);
  *labeled->mutable_example() = TensorExample();
}

// A valid two-class, two-example Adapt request.
v1::AdaptRequest ValidAdapt() {
  v1::AdaptRequest request;
  AddSupport(request.mutable_support(), "a");
  AddSupport(request.mutable_support(), "b");
  return request;
}

class RequestValidationTest : public ::testing::Test {
 protected:
  RequestValidator validator_{
      TestLimits(), core::Preprocessing{}, {"protonet"}};

  // Expects INVALID_ARGUMENT with every one of `parts` in the message.
  static void ExpectInvalid(const absl::Status& status,
                            std::initializer_list<const char*> parts) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    for (const char* part : parts) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(part));
    }
  }
};

TEST_F(RequestValidationTest, AcceptsValidRequests) {
  EXPECT_TRUE(validator_.ValidateAdapt(ValidAdapt()).ok());

  v1::AdaptRequest named = ValidAdapt();
  named.set_method("protonet");
  EXPECT_TRUE(validator_.ValidateAdapt(named).ok());

  v1::PredictRequest predict;
  predict.set_adaptation_id("abc");
  *predict.add_queries() = TensorExample();
  EXPECT_TRUE(validator_.ValidatePredict(predict).ok());

  v1::ClassifyRequest classify;
  *classify.mutable_support() = ValidAdapt().support();
  *classify.add_queries() = TensorExample();
  EXPECT_TRUE(validator_.ValidateClassify(classify).ok());
}

TEST_F(RequestValidationTest, RefusesEmptySupport) {
  ExpectInvalid(validator_.ValidateAdapt(v1::AdaptRequest()),
                {"support is empty"});
}

TEST_F(RequestValidationTest, RefusesASingleClass) {
  v1::AdaptRequest request;
  AddSupport(request.mutable_support(), "a");
  AddSupport(request.mutable_support(), "a");
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support has 1 distinct label", "at least 2"});
}

TEST_F(RequestValidationTest, RefusesTooManyClasses) {
  v1::AdaptRequest request;
  for (const char* label : {"a", "b", "c", "d"}) {
    AddSupport(request.mutable_support(), label);
  }
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support has 4 distinct labels", "at most 3"});
}

TEST_F(RequestValidationTest, RefusesTooManySupportExamples) {
  v1::AdaptRequest request;
  for (int i = 0; i < 7; ++i) {
    AddSupport(request.mutable_support(), i % 2 == 0 ? "a" : "b");
  }
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support has 7 entries", "at most 6"});
}

TEST_F(RequestValidationTest, RefusesEmptyLabel) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(1)->set_label("");
  ExpectInvalid(validator_.ValidateAdapt(request), {"support[1].label"});
}

TEST_F(RequestValidationTest, RefusesTooLongLabel) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(0)->set_label("abcdef");
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[0].label has 6 bytes", "at most 5"});
}

TEST_F(RequestValidationTest, RefusesExampleWithoutInput) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(1)->mutable_example()->Clear();
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[1].example has neither image nor tensor"});

  request.mutable_support(1)->clear_example();
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[1].example is missing"});
}

TEST_F(RequestValidationTest, RefusesWrongTensorShape) {
  v1::AdaptRequest request = ValidAdapt();
  v1::FloatTensor* tensor =
      request.mutable_support(1)->mutable_example()->mutable_tensor();
  tensor->set_shape(1, 32);
  tensor->set_shape(2, 32);
  ExpectInvalid(
      validator_.ValidateAdapt(request),
      {"support[1].example.tensor.shape is [1,32,32]; expected [1,28,28]"});

  tensor->mutable_shape()->RemoveLast();
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[1].example.tensor.shape is [1,32]"});
}

TEST_F(RequestValidationTest, RefusesValueCountNotMatchingShape) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(0)
      ->mutable_example()
      ->mutable_tensor()
      ->mutable_values()
      ->RemoveLast();
  ExpectInvalid(
      validator_.ValidateAdapt(request),
      {"support[0].example.tensor.values has 783 values", "expected 784"});
}

TEST_F(RequestValidationTest, RefusesNonFiniteValues) {
  v1::AdaptRequest request = ValidAdapt();
  v1::FloatTensor* tensor =
      request.mutable_support(0)->mutable_example()->mutable_tensor();
  tensor->set_values(17, std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[0].example.tensor.values[17]", "finite"});

  tensor->set_values(17, std::numeric_limits<float>::infinity());
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[0].example.tensor.values[17] is inf"});
}

TEST_F(RequestValidationTest, RefusesImagesOverTheByteLimit) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(1)->mutable_example()->set_image(
      std::string(11, 'x'));
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[1].example.image has 11 bytes", "at most 10"});
}

TEST_F(RequestValidationTest, RefusesEmptyImage) {
  v1::AdaptRequest request = ValidAdapt();
  request.mutable_support(0)->mutable_example()->set_image("");
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"support[0].example.image is empty"});
}

TEST_F(RequestValidationTest, RefusesUnknownMethod) {
  v1::AdaptRequest request = ValidAdapt();
  request.set_method("maml");
  ExpectInvalid(validator_.ValidateAdapt(request),
                {"method is \"maml\"", "protonet"});
}

TEST_F(RequestValidationTest, RefusesPredictWithoutIdOrQueries) {
  v1::PredictRequest request;
  *request.add_queries() = TensorExample();
  ExpectInvalid(validator_.ValidatePredict(request), {"adaptation_id"});

  request.set_adaptation_id("abc");
  request.clear_queries();
  ExpectInvalid(validator_.ValidatePredict(request), {"queries is empty"});
}

TEST_F(RequestValidationTest, RefusesTooManyQueries) {
  v1::PredictRequest request;
  request.set_adaptation_id("abc");
  for (int i = 0; i < 4; ++i) *request.add_queries() = TensorExample();
  ExpectInvalid(validator_.ValidatePredict(request),
                {"queries has 4 entries", "at most 3"});
}

TEST_F(RequestValidationTest, NamesTheBadQuery) {
  v1::ClassifyRequest request;
  *request.mutable_support() = ValidAdapt().support();
  *request.add_queries() = TensorExample();
  request.add_queries();
  ExpectInvalid(validator_.ValidateClassify(request),
                {"queries[1] has neither image nor tensor"});
}

TEST_F(RequestValidationTest, RefusesDeleteWithoutId) {
  ExpectInvalid(
      validator_.ValidateDeleteAdaptation(v1::DeleteAdaptationRequest()),
      {"adaptation_id is empty"});
}

TEST_F(RequestValidationTest, AddExamplesNeedsIdAndValidExamples) {
  v1::AddExamplesRequest request;
  AddSupport(request.mutable_examples(), "a");
  ExpectInvalid(validator_.ValidateAddExamples(request),
                {"adaptation_id is empty"});
  request.set_adaptation_id("abc");
  EXPECT_TRUE(validator_.ValidateAddExamples(request).ok());
  AddSupport(request.mutable_examples(), "toolong");
  ExpectInvalid(validator_.ValidateAddExamples(request),
                {"examples[1].label has 7 bytes", "at most 5"});
  request.clear_examples();
  ExpectInvalid(validator_.ValidateAddExamples(request), {"examples is empty"});
  for (int i = 0; i < 7; ++i) AddSupport(request.mutable_examples(), "a");
  ExpectInvalid(validator_.ValidateAddExamples(request),
                {"examples has 7 entries", "at most 6"});
}

TEST_F(RequestValidationTest, FeedbackNeedsQueryAndLabel) {
  v1::FeedbackRequest request;
  request.set_adaptation_id("abc");
  request.set_correct_label("a");
  ExpectInvalid(validator_.ValidateFeedback(request), {"query is missing"});
  request.mutable_query()->mutable_tensor()->add_shape(3);
  ExpectInvalid(validator_.ValidateFeedback(request), {"query.tensor.shape"});
  *request.mutable_query() = TensorExample();
  request.clear_correct_label();
  ExpectInvalid(validator_.ValidateFeedback(request),
                {"correct_label is empty"});
  request.set_correct_label("b");
  EXPECT_TRUE(validator_.ValidateFeedback(request).ok());
}

TEST_F(RequestValidationTest, RemoveExamplesNeedsNumericIds) {
  v1::RemoveExamplesRequest request;
  request.set_adaptation_id("abc");
  ExpectInvalid(validator_.ValidateRemoveExamples(request),
                {"example_ids is empty"});
  request.add_example_ids("3");
  EXPECT_TRUE(validator_.ValidateRemoveExamples(request).ok());
  request.add_example_ids("-1");
  ExpectInvalid(validator_.ValidateRemoveExamples(request),
                {"example_ids[1] is \"-1\""});
}

TEST_F(RequestValidationTest, RemoveClassAndGetNeedTheirFields) {
  v1::RemoveClassRequest remove;
  remove.set_adaptation_id("abc");
  ExpectInvalid(validator_.ValidateRemoveClass(remove), {"label is empty"});
  ExpectInvalid(validator_.ValidateGetAdaptation(v1::GetAdaptationRequest()),
                {"adaptation_id is empty"});
}

TEST(MethodOptionsValidationTest, MamlOptionsWithinTheLimits) {
  RequestLimits limits = TestLimits();
  limits.max_maml_steps = 20;
  limits.max_maml_step_size = 2.0f;
  const RequestValidator validator(limits, core::Preprocessing{},
                                   {"protonet", "maml"});
  v1::AdaptRequest request = ValidAdapt();
  request.set_method("maml");
  request.mutable_maml()->set_steps(20);
  request.mutable_maml()->set_step_size(2.0f);
  EXPECT_TRUE(validator.ValidateAdapt(request).ok());

  request.mutable_maml()->set_steps(21);
  absl::Status status = validator.ValidateAdapt(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("maml.steps is 21; expected 0 (the default) to 20"));

  request.mutable_maml()->set_steps(-1);
  EXPECT_FALSE(validator.ValidateAdapt(request).ok());
  request.mutable_maml()->set_steps(3);
  request.mutable_maml()->set_step_size(2.5f);
  status = validator.ValidateAdapt(request);
  EXPECT_THAT(std::string(status.message()), HasSubstr("maml.step_size"));
  request.mutable_maml()->set_step_size(std::nanf(""));
  EXPECT_FALSE(validator.ValidateAdapt(request).ok());
}

TEST(MethodOptionsValidationTest, MamlOptionsNeedTheMamlMethod) {
  const RequestValidator validator(TestLimits(), core::Preprocessing{},
                                   {"protonet", "maml"});
  v1::ClassifyRequest request;
  AddSupport(request.mutable_support(), "a");
  AddSupport(request.mutable_support(), "b");
  *request.add_queries() = TensorExample();
  request.mutable_maml()->set_steps(2);
  // Empty means the default, protonet.
  const absl::Status status = validator.ValidateClassify(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("method is \"protonet\"; set method to \"maml\""));
  request.set_method("maml");
  EXPECT_TRUE(validator.ValidateClassify(request).ok());
}

TEST_F(RequestValidationTest, MinConfidenceIsAProbability) {
  v1::PredictRequest predict;
  predict.set_adaptation_id("abc");
  *predict.add_queries() = TensorExample();
  for (float good : {0.0f, 0.5f, 1.0f}) {
    predict.set_min_confidence(good);
    EXPECT_TRUE(validator_.ValidatePredict(predict).ok()) << good;
  }
  for (float bad : {-0.01f, 1.01f, std::nanf("")}) {
    predict.set_min_confidence(bad);
    ExpectInvalid(validator_.ValidatePredict(predict),
                  {"min_confidence", "[0, 1]"});
  }
}

}  // namespace
}  // namespace fewshot::server
