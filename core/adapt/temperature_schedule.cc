// Interpolation of calibrated temperatures over support examples per class.
#include "core/adapt/temperature_schedule.h"

#include <cmath>
#include <cstdint>

namespace fewshot::core {

double TemperatureSchedule::At(double shots_per_class) const {
  if (by_shots_.empty()) return fallback_;
  if (!(shots_per_class > by_shots_.front().shots)) {
    return by_shots_.front().temperature;
  }
  if (shots_per_class >= by_shots_.back().shots) {
    return by_shots_.back().temperature;
  }

  // The stored pair around shots_per_class; interpolate in log-log space.
  size_t upper = 1;
  while (by_shots_[upper].shots < shots_per_class) ++upper;
  const ShotTemperature& low = by_shots_[upper - 1];
  const ShotTemperature& high = by_shots_[upper];
  const double fraction = (std::log(shots_per_class) - std::log(low.shots)) /
                          (std::log(high.shots) - std::log(low.shots));
  return std::exp(std::log(low.temperature) +
                  fraction *
                      (std::log(high.temperature) - std::log(low.temperature)));
}

double TemperatureSchedule::For(const AdaptationState& state) const {
  if (by_shots_.empty() || state.num_classes() == 0) return fallback_;
  const int64_t rows =
      state.support_labels.defined() ? state.support_labels.numel() : 0;
  return At(static_cast<double>(rows) / state.num_classes());
}

}  // namespace fewshot::core
