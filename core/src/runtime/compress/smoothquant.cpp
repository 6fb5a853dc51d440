#include "biaslab/runtime/compress/smoothquant.hpp"

#include <sstream>
#include <stdexcept>

#include "runtime/compress/detail.hpp"

namespace biaslab::runtime::compress {
namespace {
constexpr double kMinScale = 1e-5;  // clamp of the reference, for weights and scales
}

void SmoothQuantConfig::validate() const {
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throw std::invalid_argument("smoothquant: alpha must lie in [0, 1], got " + std::to_string(alpha));
  if (quantize) ops::require_quantized_engine(int8.engine);
}

SmoothQuantConfig SmoothQuantConfig::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("smoothquant: config must be a JSON object");
  SmoothQuantConfig config;
  nlohmann::json int8 = nlohmann::json::object();
  for (const auto& [key, value] : json.items()) {
    if (key == "alpha") {
      if (!value.is_number()) throw std::invalid_argument("smoothquant: 'alpha' must be a number");
      config.alpha = value.get<double>();
    } else if (key == "quantize") {
      if (!value.is_boolean()) throw std::invalid_argument("smoothquant: 'quantize' must be a boolean");
      config.quantize = value.get<bool>();
    } else if (key == "scheme" || key == "engine" || key == "reduce_range" || key == "activation_range" ||
               key == "bits") {
      int8[key] = value;
    } else {
      throw std::invalid_argument("smoothquant: unknown key '" + key +
                                  "' (known: alpha, quantize, scheme, engine, reduce_range, activation_range, bits)");
    }
  }
  try {
    config.int8 = ops::DynamicInt8Options::from_json(int8);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("smoothquant: ") + e.what());
  }
  config.validate();
  return config;
}

torch::Tensor smoothquant_scales(const torch::Tensor& act_abs_max, const std::vector<const LinearKernel*>& layers,
                                 double alpha) {
  if (layers.empty()) throw std::invalid_argument("smoothquant: no linear layers to smooth into");
  if (!(alpha >= 0.0 && alpha <= 1.0)) throw std::invalid_argument("smoothquant: alpha must lie in [0, 1]");
  torch::NoGradGuard no_grad;
  const auto in = layers.front()->in_features();
  if (act_abs_max.dim() != 1 || act_abs_max.size(0) != in) {
    std::ostringstream msg;
    msg << "smoothquant: activation maxima " << act_abs_max.sizes() << " do not match in_features " << in;
    throw std::invalid_argument(msg.str());
  }
  std::vector<torch::Tensor> column_max;
  for (const auto* layer : layers) {
    if (layer == nullptr) throw std::invalid_argument("smoothquant: null layer");
    if (layer->in_features() != in)
      throw std::invalid_argument("smoothquant: layers sharing one norm must have the same in_features (" +
                                  std::to_string(in) + " vs " + std::to_string(layer->in_features()) + ")");
    column_max.push_back(std::get<0>(layer->weight().to(torch::kFloat).abs().max(0)));
  }
  const auto device = column_max.front().device();
  auto weight_scales = std::get<0>(torch::stack(column_max).max(0)).clamp_min(kMinScale);
  auto act = act_abs_max.to(device, torch::kFloat);
  return (act.pow(alpha) / weight_scales.pow(1.0 - alpha)).clamp_min(kMinScale);
}

void apply_smoothing(torch::Tensor norm_weight, std::optional<torch::Tensor> norm_bias,
                     const std::vector<Linear*>& layers, const torch::Tensor& scales) {
  torch::NoGradGuard no_grad;
  if (scales.dim() != 1 || norm_weight.dim() != 1 || norm_weight.size(0) != scales.size(0))
    throw std::invalid_argument("smoothquant: norm weight and scales must be vectors of the same length");
  if (norm_bias && (norm_bias->dim() != 1 || norm_bias->size(0) != scales.size(0)))
    throw std::invalid_argument("smoothquant: norm bias must match the scales' length");
  // Validate every layer before changing anything.
  for (const auto* slot : layers) {
    if (slot == nullptr || !slot->kernel()) throw std::invalid_argument("smoothquant: empty linear slot");
    if (slot->kernel()->format() != "float")
      throw std::invalid_argument("smoothquant: layer '" + slot->name() + "' has format '" + slot->kernel()->format() +
                                  "'; smoothing must be applied to float layers before any quantization");
    if (slot->kernel()->in_features() != scales.size(0))
      throw std::invalid_argument("smoothquant: layer '" + slot->name() + "' has " +
                                  std::to_string(slot->kernel()->in_features()) + " inputs, scales have " +
                                  std::to_string(scales.size(0)));
  }
  const auto s = scales.to(torch::kFloat);
  norm_weight.copy_(norm_weight.to(torch::kFloat) / s.to(norm_weight.device()));
  if (norm_bias) norm_bias->copy_(norm_bias->to(torch::kFloat) / s.to(norm_bias->device()));
  for (auto* slot : layers) {
    const auto& kernel = *slot->kernel();
    auto w = kernel.weight().to(torch::kFloat);
    slot->set_kernel(detail::float_like(kernel, w * s.to(w.device()).unsqueeze(0)));
  }
}

torch::Tensor smooth_quant(torch::Tensor norm_weight, std::optional<torch::Tensor> norm_bias,
                           const std::vector<Linear*>& layers, const torch::Tensor& act_abs_max,
                           const SmoothQuantConfig& config) {
  config.validate();
  std::vector<const LinearKernel*> kernels;
  for (const auto* slot : layers) {
    if (slot == nullptr || !slot->kernel()) throw std::invalid_argument("smoothquant: empty linear slot");
    kernels.push_back(slot->kernel().get());
  }
  auto scales = smoothquant_scales(act_abs_max, kernels, config.alpha);
  apply_smoothing(std::move(norm_weight), std::move(norm_bias), layers, scales);
  if (config.quantize) {
    for (auto* slot : layers) {
      const auto& kernel = *slot->kernel();
      slot->set_kernel(ops::DynamicInt8Linear::quantize(kernel.weight().to(torch::kCPU), kernel.bias(), config.int8));
    }
  }
  return scales;
}

}  // namespace biaslab::runtime::compress
