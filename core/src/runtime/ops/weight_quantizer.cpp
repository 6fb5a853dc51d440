#include "biaslab/runtime/ops/weight_quantizer.hpp"

#include <stdexcept>
#include <string>

namespace biaslab::runtime::ops {

void WeightQuantConfig::validate() const {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    throw std::invalid_argument("weight quantization: bits must be 2, 3, 4 or 8, got " + std::to_string(bits));
  if (group_size != -1 && group_size <= 0)
    throw std::invalid_argument("weight quantization: group_size must be -1 (per output row) or positive, got " +
                                std::to_string(group_size));
}

nlohmann::json WeightQuantConfig::to_json() const {
  return {{"bits", bits}, {"group_size", group_size}, {"symmetric", symmetric}};
}

WeightQuantConfig WeightQuantConfig::from_json(const nlohmann::json& json) {
  WeightQuantConfig config;
  if (!json.is_object()) throw std::invalid_argument("weight quantization: config must be a JSON object");
  auto read_int = [&](const char* key, auto& out) {
    if (!json.contains(key)) return;
    if (!json[key].is_number_integer())
      throw std::invalid_argument(std::string("weight quantization: key '") + key + "' must be an integer");
    out = json[key].get<std::decay_t<decltype(out)>>();
  };
  read_int("bits", config.bits);
  read_int("group_size", config.group_size);
  if (json.contains("symmetric")) {
    if (!json["symmetric"].is_boolean())
      throw std::invalid_argument("weight quantization: key 'symmetric' must be a boolean");
    config.symmetric = json["symmetric"].get<bool>();
  }
  config.validate();
  return config;
}

QuantGrid fit_quant_grid(const torch::Tensor& w, const WeightQuantConfig& config) {
  config.validate();
  if (w.dim() != 2 || w.size(1) == 0)
    throw std::invalid_argument("weight quantization: grid needs a non-empty [rows, cols] slice");
  torch::NoGradGuard no_grad;
  const auto x = w.to(torch::kFloat);
  const auto zeros = torch::zeros({x.size(0)}, x.options());
  auto xmin = torch::minimum(std::get<0>(x.min(1)), zeros);
  auto xmax = torch::maximum(std::get<0>(x.max(1)), zeros);
  if (config.symmetric) {
    xmax = torch::maximum(xmin.abs(), xmax);
    xmin = torch::where(xmin < 0, -xmax, xmin);
  }
  const auto empty_range = (xmin == 0).logical_and(xmax == 0);
  xmin = torch::where(empty_range, torch::full_like(xmin, -1), xmin);
  xmax = torch::where(empty_range, torch::full_like(xmax, 1), xmax);
  const auto maxq = static_cast<double>(config.max_code());
  QuantGrid grid;
  grid.scale = (xmax - xmin) / maxq;
  grid.zero = config.symmetric ? torch::full_like(grid.scale, (maxq + 1) / 2) : torch::round(-xmin / grid.scale);
  return grid;
}

torch::Tensor quantize_to_codes(const torch::Tensor& w, const QuantGrid& grid, std::int64_t max_code) {
  const auto scale = grid.scale.dim() == 1 ? grid.scale.unsqueeze(1) : grid.scale;
  const auto zero = grid.zero.dim() == 1 ? grid.zero.unsqueeze(1) : grid.zero;
  return torch::clamp(torch::round(w / scale) + zero, 0, static_cast<double>(max_code));
}

torch::Tensor dequantize_codes(const torch::Tensor& codes, const QuantGrid& grid) {
  const auto scale = grid.scale.dim() == 1 ? grid.scale.unsqueeze(1) : grid.scale;
  const auto zero = grid.zero.dim() == 1 ? grid.zero.unsqueeze(1) : grid.zero;
  return scale * (codes - zero);
}

}  // namespace biaslab::runtime::ops
