// The softmax temperature a method's scores are divided by before they
// become probabilities. Calibration shows it depends on how many support
// examples each class has (one-shot scores are over-confident, five-shot
// ones slightly under-confident), so a bundle may store one temperature per
// shot count, fitted on validation episodes, and this schedule interpolates
// between them for the support set at hand.
//
// Example:
//   TemperatureSchedule schedule({{1, 1.6}, {5, 0.8}}, /*fallback=*/1.0);
//   double t = schedule.For(state);  // 1.6 for a 1-shot state
#ifndef FEWSHOT_CORE_ADAPT_TEMPERATURE_SCHEDULE_H_
#define FEWSHOT_CORE_ADAPT_TEMPERATURE_SCHEDULE_H_

#include <utility>
#include <vector>

#include "core/adapt/adaptation_state.h"
#include "core/bundle/model_bundle.h"

namespace fewshot::core {

// Immutable and thread-safe.
class TemperatureSchedule {
 public:
  // Always `temperature`. REQUIRES: temperature finite and > 0.
  explicit TemperatureSchedule(double temperature = 1.0)
      : fallback_(temperature) {}

  // REQUIRES: `by_shots` as the bundle loader accepts it (shots strictly
  // increasing from >= 1, temperatures finite and > 0); `fallback` finite
  // and > 0. With an empty `by_shots`, always `fallback`.
  TemperatureSchedule(std::vector<ShotTemperature> by_shots, double fallback)
      : by_shots_(std::move(by_shots)), fallback_(fallback) {}

  // From a bundle's method entry (already validated by the bundle loader).
  static TemperatureSchedule FromSpec(const MethodSpec& spec) {
    return TemperatureSchedule(spec.temperatures_by_shots, spec.temperature);
  }

  // The temperature for `shots_per_class` support examples per class:
  // log T is linear in log shots between neighbouring stored points and
  // constant beyond the first and the last one.
  double At(double shots_per_class) const;

  // At() for the mean number of support rows per class of `state`.
  double For(const AdaptationState& state) const;

  const std::vector<ShotTemperature>& by_shots() const { return by_shots_; }
  double fallback() const { return fallback_; }

 private:
  const std::vector<ShotTemperature> by_shots_;
  const double fallback_;
};

}  // namespace fewshot::core

#endif  // FEWSHOT_CORE_ADAPT_TEMPERATURE_SCHEDULE_H_
