#include "biaslab/runtime/compress/calibration.hpp"

#include <sstream>
#include <stdexcept>

namespace biaslab::runtime::compress {

torch::Tensor LayerCalibration::hessian() const {
  if (!xtx.defined()) throw std::logic_error("calibration: Hessian was not recorded (CalibrationOptions::hessian)");
  if (rows == 0) throw std::logic_error("calibration: no inputs recorded");
  return xtx * (2.0 / static_cast<double>(rows));
}

torch::Tensor LayerCalibration::column_norms() const {
  if (!sq_norm.defined()) throw std::logic_error("calibration: squared norms were not recorded (CalibrationOptions::sq_norm)");
  return sq_norm.sqrt().to(torch::kFloat);
}

CalibrationRecorder::CalibrationRecorder(CalibrationOptions options) : options_(options) {}

void CalibrationRecorder::observe(const std::string& layer, const torch::Tensor& input) {
  if (!input.defined() || input.dim() < 1 || input.size(-1) == 0)
    throw std::invalid_argument("calibration: layer '" + layer + "' got an input without a feature dimension");
  torch::NoGradGuard no_grad;
  const auto in = input.size(-1);
  const auto x = input.detach().reshape({-1, in}).to(torch::kFloat);
  // Heavy math outside the lock; only the merge is serialized.
  torch::Tensor abs_max, sq_norm, xtx;
  if (options_.abs_max) abs_max = std::get<0>(x.abs().max(0));
  if (options_.sq_norm) sq_norm = x.to(torch::kDouble).square().sum(0);
  if (options_.hessian) xtx = x.t().matmul(x);
  std::lock_guard lock(mutex_);
  auto [it, inserted] = stats_.try_emplace(layer);
  auto& s = it->second;
  if (inserted) {
    s.in_features = in;
  } else if (s.in_features != in) {
    std::ostringstream msg;
    msg << "calibration: layer '" << layer << "' got inputs with " << in << " features after " << s.in_features;
    throw std::invalid_argument(msg.str());
  }
  s.rows += x.size(0);
  if (abs_max.defined()) s.abs_max = s.abs_max.defined() ? torch::maximum(s.abs_max, abs_max) : abs_max;
  if (sq_norm.defined()) s.sq_norm = s.sq_norm.defined() ? s.sq_norm + sq_norm : sq_norm;
  if (xtx.defined()) s.xtx = s.xtx.defined() ? s.xtx.add_(xtx) : xtx;
}

LinearObserver CalibrationRecorder::observer() {
  return [this](const std::string& layer, const torch::Tensor& input) { observe(layer, input); };
}

void CalibrationRecorder::attach(Linear& slot) { slot.set_observer(observer()); }

void CalibrationRecorder::detach(Linear& slot) { slot.set_observer({}); }

bool CalibrationRecorder::contains(const std::string& layer) const {
  std::lock_guard lock(mutex_);
  return stats_.count(layer) > 0;
}

const LayerCalibration& CalibrationRecorder::at(const std::string& layer) const {
  std::lock_guard lock(mutex_);
  auto it = stats_.find(layer);
  if (it == stats_.end())
    throw std::out_of_range("calibration: layer '" + layer + "' saw no input (was the recorder attached to it?)");
  return it->second;
}

std::vector<std::string> CalibrationRecorder::layers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, s] : stats_) names.push_back(name);
  return names;
}

void CalibrationRecorder::erase(const std::string& layer) {
  std::lock_guard lock(mutex_);
  stats_.erase(layer);
}

void CalibrationRecorder::clear() {
  std::lock_guard lock(mutex_);
  stats_.clear();
}

}  // namespace biaslab::runtime::compress
