#pragma once
// SmoothQuant (Xiao et al., 2023), semantics of mit-han-lab/smoothquant smooth_ln_fcs:
//   s_j = clamp(max|X_j|^alpha / max(max_i |W_ij| over all following layers, 1e-5)^(1-alpha), 1e-5)
// The preceding LayerNorm/RMSNorm absorbs 1/s (weight and bias divided by s) and every following
// linear layer's weight columns are multiplied by s, so the float function is unchanged while
// activation outliers move into the weights. Then W8A8: both weights and (per call, per tensor)
// activations int8 with DynamicInt8Linear -- with per_tensor weights this is SmoothQuant-O2.
#include <optional>
#include <string>
#include <vector>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"

namespace biaslab::runtime::compress {

struct BIASLAB_API SmoothQuantConfig {
  double alpha = 0.5;
  bool quantize = true;  // false: smoothing only (float layers)
  ops::DynamicInt8Options int8;

  void validate() const;
  // Keys: alpha, quantize, scheme, engine, reduce_range, bits (must be 8). Unknown keys rejected.
  static SmoothQuantConfig from_json(const nlohmann::json& json);
};

// act_abs_max: [in] per-channel max |x| of the shared input (LayerCalibration::abs_max);
// layers: the linear layers reading the normalized activations (e.g. q/k/v or fused qkv).
BIASLAB_API torch::Tensor smoothquant_scales(const torch::Tensor& act_abs_max,
                                             const std::vector<const LinearKernel*>& layers, double alpha);

// Divides norm_weight (and norm_bias) by scales in place and gives every slot a FloatLinear with
// weight W * diag(scales), in the slots' original dtype. Slots must hold float layers.
BIASLAB_API void apply_smoothing(torch::Tensor norm_weight, std::optional<torch::Tensor> norm_bias,
                                 const std::vector<Linear*>& layers, const torch::Tensor& scales);

// smoothquant_scales + apply_smoothing, then (config.quantize) DynamicInt8Linear kernels on the
// smoothed weights. Returns the scales.
BIASLAB_API torch::Tensor smooth_quant(torch::Tensor norm_weight, std::optional<torch::Tensor> norm_bias,
                                       const std::vector<Linear*>& layers, const torch::Tensor& act_abs_max,
                                       const SmoothQuantConfig& config);

}  // namespace biaslab::runtime::compress
