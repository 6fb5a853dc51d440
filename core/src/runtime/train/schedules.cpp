#include "biaslab/runtime/train/schedules.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace biaslab::runtime::train {

double LearningRateSchedule::at(std::int64_t step) const {
  if (step < warmup_steps) {
    return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const double min_lr = peak_lr * min_lr_ratio;
  const auto decay_steps = total_steps - warmup_steps;
  double progress = decay_steps > 0 ? static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps) : 1.0;
  progress = std::clamp(progress, 0.0, 1.0);
  return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::vector<std::int64_t> CheckpointSchedule::steps(std::int64_t total_steps) const {
  if (total_steps < 0) throw std::invalid_argument("checkpoint schedule: total steps must not be negative");
  std::set<std::int64_t> s{total_steps};
  if (log_spaced) {
    s.insert(0);
    for (std::int64_t p = 1; p <= 512 && p <= total_steps; p *= 2) s.insert(p);
  }
  if (every > 0) {
    for (std::int64_t k = every; k <= total_steps; k += every) s.insert(k);
  }
  for (auto step : extra_steps) {
    if (step < 0 || step > total_steps) {
      throw std::invalid_argument("checkpoint step " + std::to_string(step) + " is outside the run's 0.." +
                                  std::to_string(total_steps) + " steps");
    }
    s.insert(step);
  }
  for (const auto& [_, step] : fraction_steps(total_steps)) s.insert(step);
  return {s.begin(), s.end()};
}

std::map<double, std::int64_t> CheckpointSchedule::fraction_steps(std::int64_t total_steps) const {
  std::map<double, std::int64_t> out;
  for (double f : fractions) {
    if (!(f >= 0.0 && f <= 1.0)) {
      throw std::invalid_argument("checkpoint fraction " + nlohmann::json(f).dump() + " is outside [0, 1]");
    }
    out[f] = static_cast<std::int64_t>(std::llround(f * static_cast<double>(total_steps)));
  }
  return out;
}

std::string checkpoint_name(std::int64_t step) { return "step" + std::to_string(step); }

std::string fraction_name(double fraction) { return "frac" + nlohmann::json(fraction).dump(); }

}  // namespace biaslab::runtime::train
