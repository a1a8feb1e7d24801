// Tests the text and JSON output of fewshot-client.
#include "client/output_format.h"

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/image_files.h"
#include "fewshot/v1/fewshot_service.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fewshot::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A response with one prediction over three classes, best first.
v1::ClassifyResponse ThreeClassResponse() {
  v1::ClassifyResponse response;
  v1::Prediction* prediction = response.add_predictions();
  prediction->set_label("alpha");
  prediction->set_confidence(0.75f);
  for (const char* label : {"alpha", "beta", "gamma"}) {
    v1::LabelScore* score = prediction->add_scores();
    score->set_label(label);
    score->set_probability(0.1f);
    score->set_score(-1.0f);
  }
  return response;
}

TEST(OutputFormatTest, PredictionLineHasPathLabelAndConfidence) {
  const std::vector<QueryFile> queries = {{"q/a.png", {}}};

  const std::string text =
      FormatPredictions(queries, ThreeClassResponse().predictions(),
                        /*top_k=*/0);

  EXPECT_EQ(text, "q/a.png\talpha\t0.7500\n");
}

TEST(OutputFormatTest, RejectedQueryIsMarked) {
  const std::vector<QueryFile> queries = {{"q/a.png", {}}};
  v1::ClassifyResponse response = ThreeClassResponse();
  response.mutable_predictions(0)->set_label("");
  response.mutable_predictions(0)->set_rejected(true);

  const std::string text =
      FormatPredictions(queries, response.predictions(), /*top_k=*/0);

  EXPECT_EQ(text, "q/a.png\t(rejected)\t0.7500\n");
}

TEST(OutputFormatTest, TopKLimitsPrintedScores) {
  const std::vector<QueryFile> queries = {{"q/a.png", {}}};

  const std::string text =
      FormatPredictions(queries, ThreeClassResponse().predictions(),
                        /*top_k=*/2);

  EXPECT_THAT(text, HasSubstr("1. alpha"));
  EXPECT_THAT(text, HasSubstr("2. beta"));
  EXPECT_THAT(text, Not(HasSubstr("gamma")));
}

TEST(OutputFormatTest, AdaptationListsIdAndClasses) {
  v1::AdaptResponse response;
  response.set_adaptation_id("id-1");
  v1::ClassSummary* summary = response.add_classes();
  summary->set_label("alpha");
  summary->set_examples(5);

  const std::string text = FormatAdaptation(response);

  EXPECT_THAT(text, HasSubstr("adaptation_id: id-1\n"));
  EXPECT_THAT(text, HasSubstr("alpha: 5 examples"));
}

TEST(OutputFormatTest, JsonEscapesQueryPathsAndKeepsResponse) {
  const std::vector<QueryFile> queries = {{"q/\"odd\".png", {}}};

  absl::StatusOr<std::string> json =
      ResponseWithQueriesToJson(queries, ThreeClassResponse());

  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr(R"({"queries":["q/\"odd\".png"],"response":{)"));
  EXPECT_THAT(*json, HasSubstr(R"("label":"alpha")"));
  EXPECT_THAT(*json, HasSubstr(R"("confidence":0.75)"));
}

}  // namespace
}  // namespace fewshot::client
