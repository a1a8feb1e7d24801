// Tests the temperature a method applies for a support set: constant
// without per-shot values, the stored value at a stored shot count,
// log-log interpolation between them and the end values beyond.
#include "core/adapt/temperature_schedule.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace fewshot::core {
namespace {

TEST(TemperatureScheduleTest, WithoutPerShotValuesItIsConstant) {
  const TemperatureSchedule schedule(0.75);
  EXPECT_DOUBLE_EQ(schedule.At(1), 0.75);
  EXPECT_DOUBLE_EQ(schedule.At(20), 0.75);
  EXPECT_DOUBLE_EQ(TemperatureSchedule().At(3), 1.0);
}

TEST(TemperatureScheduleTest, StoredShotCountsGiveTheirValues) {
  const TemperatureSchedule schedule({{1, 2.0}, {4, 0.5}, {16, 0.25}},
                                     /*fallback=*/9.0);
  EXPECT_DOUBLE_EQ(schedule.At(1), 2.0);
  EXPECT_DOUBLE_EQ(schedule.At(4), 0.5);
  EXPECT_DOUBLE_EQ(schedule.At(16), 0.25);
}

TEST(TemperatureScheduleTest, InterpolatesLogTemperatureOverLogShots) {
  const TemperatureSchedule schedule({{1, 2.0}, {4, 0.5}, {16, 0.25}}, 9.0);

  // 2 shots lie halfway between 1 and 4 in log shots: sqrt(2 * 0.5) = 1.
  EXPECT_NEAR(schedule.At(2), 1.0, 1e-12);
  // 8 shots lie halfway between 4 and 16: sqrt(0.5 * 0.25).
  EXPECT_NEAR(schedule.At(8), std::sqrt(0.125), 1e-12);
}

TEST(TemperatureScheduleTest, BeyondTheEndsKeepsTheEndValues) {
  const TemperatureSchedule schedule({{2, 1.5}, {5, 0.8}}, 9.0);
  EXPECT_DOUBLE_EQ(schedule.At(1), 1.5);
  EXPECT_DOUBLE_EQ(schedule.At(1.5), 1.5);
  EXPECT_DOUBLE_EQ(schedule.At(50), 0.8);
}

TEST(TemperatureScheduleTest, FromSpecUsesTheBundleEntry) {
  const TemperatureSchedule schedule = TemperatureSchedule::FromSpec(
      MethodSpec{.name = "protonet",
                 .temperature = 3.0,
                 .temperatures_by_shots = {{1, 1.25}}});
  EXPECT_DOUBLE_EQ(schedule.At(7), 1.25);
  EXPECT_DOUBLE_EQ(schedule.fallback(), 3.0);
  EXPECT_DOUBLE_EQ(
      TemperatureSchedule::FromSpec(MethodSpec{.temperature = 3.0}).At(7), 3.0);
}

TEST(TemperatureScheduleTest, StateUsesItsMeanSupportRowsPerClass) {
  const TemperatureSchedule schedule({{1, 2.0}, {4, 0.5}}, 9.0);
  AdaptationState state;
  state.labels = {"a", "b"};

  // One row each: 1 shot.
  state.support_labels = torch::tensor({0, 1}, torch::kInt64);
  EXPECT_DOUBLE_EQ(schedule.For(state), 2.0);

  // 3 and 5 rows: 4 shots on average.
  state.support_labels = torch::tensor({0, 0, 0, 1, 1, 1, 1, 1}, torch::kInt64);
  EXPECT_DOUBLE_EQ(schedule.For(state), 0.5);

  // No classes yet: the fallback.
  EXPECT_DOUBLE_EQ(schedule.For(AdaptationState()), 9.0);
}

}  // namespace
}  // namespace fewshot::core
