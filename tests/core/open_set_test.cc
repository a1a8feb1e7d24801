// Tests the open-set rates and the equal error point on confidences that
// can be counted by hand.
#include "core/eval/open_set.h"

#include <gtest/gtest.h>

namespace fewshot::core {
namespace {

const std::vector<double> kKnown = {0.9, 0.8, 0.4, 0.95};
const std::vector<double> kUnknown = {0.3, 0.5, 0.85, 0.2};

TEST(OpenSetTest, RatesCountRejectedKnownAndAcceptedUnknown) {
  // At 0.5: 0.4 of the known is rejected; 0.5 and 0.85 of the unknown
  // are accepted (a confidence equal to the threshold is accepted).
  const OpenSetPoint point = RatesAtThreshold(kKnown, kUnknown, 0.5);
  EXPECT_DOUBLE_EQ(point.threshold, 0.5);
  EXPECT_DOUBLE_EQ(point.false_reject_rate, 0.25);
  EXPECT_DOUBLE_EQ(point.false_accept_rate, 0.5);
}

TEST(OpenSetTest, TableFollowsTheRequestedThresholds) {
  absl::StatusOr<OpenSetCurve> curve =
      MeasureOpenSet(kKnown, kUnknown, {0.0, 0.85, 1.0});
  ASSERT_TRUE(curve.ok()) << curve.status();
  ASSERT_EQ(curve->points.size(), 3u);
  EXPECT_DOUBLE_EQ(curve->points[0].false_reject_rate, 0.0);
  EXPECT_DOUBLE_EQ(curve->points[0].false_accept_rate, 1.0);
  EXPECT_DOUBLE_EQ(curve->points[1].false_reject_rate, 0.5);
  EXPECT_DOUBLE_EQ(curve->points[1].false_accept_rate, 0.25);
  EXPECT_DOUBLE_EQ(curve->points[2].false_reject_rate, 1.0);
  EXPECT_DOUBLE_EQ(curve->points[2].false_accept_rate, 0.0);
}

TEST(OpenSetTest, EqualErrorPointIsWhereTheRatesMeet) {
  // At 0.8: the known 0.4 is rejected (1/4), the unknown 0.85 accepted
  // (1/4); no other threshold brings the two rates closer.
  absl::StatusOr<OpenSetCurve> curve = MeasureOpenSet(kKnown, kUnknown, {});
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_DOUBLE_EQ(curve->equal_error_threshold, 0.8);
  EXPECT_DOUBLE_EQ(curve->equal_error_rate, 0.25);
}

TEST(OpenSetTest, SeparatedConfidencesHaveNoError) {
  absl::StatusOr<OpenSetCurve> curve =
      MeasureOpenSet({0.9, 0.95}, {0.3, 0.4, 0.5}, {});
  ASSERT_TRUE(curve.ok()) << curve.status();
  EXPECT_DOUBLE_EQ(curve->equal_error_rate, 0.0);
  EXPECT_GT(curve->equal_error_threshold, 0.5);
  EXPECT_LE(curve->equal_error_threshold, 0.9);
}

TEST(OpenSetTest, EmptySideIsInvalid) {
  EXPECT_EQ(MeasureOpenSet({}, kUnknown, {0.5}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MeasureOpenSet(kKnown, {}, {0.5}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fewshot::core
