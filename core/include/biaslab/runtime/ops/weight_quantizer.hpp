#pragma once
// Round-to-nearest integer grid shared by RTN and GPTQ, with the semantics of the GPTQ reference
// quantizer (IST-DASLab/gptq quant.py, perchannel=True, mse=False):
//   xmin = min(min(w), 0), xmax = max(max(w), 0)                    per row of the slice
//   symmetric: xmax = max(|xmin|, xmax); xmin = -xmax only if xmin < 0
//   xmin == xmax == 0 -> [-1, 1]
//   scale = (xmax - xmin) / maxq, maxq = 2^bits - 1
//   zero  = symmetric ? (maxq + 1) / 2 : round(-xmin / scale)
//   code  = clamp(round(w / scale) + zero, 0, maxq); w_hat = scale * (code - zero)
// Note (kept for fidelity with the reference): a symmetric slice without negative values keeps
// xmin = 0, so its scale spans [0, max] while the zero point sits mid-range; values above
// ~max/2 clip.
#include <cstdint>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime::ops {

struct BIASLAB_API WeightQuantConfig {
  int bits = 4;                   // 2, 3, 4 or 8
  std::int64_t group_size = 128;  // input columns sharing a scale/zero; -1 = one group per row
  bool symmetric = false;         // GPTQ's default (--sym off): asymmetric with a zero point

  std::int64_t max_code() const { return (std::int64_t{1} << bits) - 1; }
  // Throws std::invalid_argument for unsupported bits or group sizes.
  void validate() const;
  nlohmann::json to_json() const;
  // Keys "bits", "group_size", "symmetric"; missing keys keep the defaults above.
  static WeightQuantConfig from_json(const nlohmann::json& json);
};

// Per-row grid of one slice of columns: scale and zero are float32 [rows]; zero holds integers.
struct BIASLAB_API QuantGrid {
  torch::Tensor scale;
  torch::Tensor zero;
};

// w: float32 [rows, cols] slice -> its grid (see above).
BIASLAB_API QuantGrid fit_quant_grid(const torch::Tensor& w, const WeightQuantConfig& config);
// Integer codes (as float32) of w on the grid; grid tensors broadcast as [rows, 1].
BIASLAB_API torch::Tensor quantize_to_codes(const torch::Tensor& w, const QuantGrid& grid, std::int64_t max_code);
// scale * (codes - zero).
BIASLAB_API torch::Tensor dequantize_codes(const torch::Tensor& codes, const QuantGrid& grid);

}  // namespace biaslab::runtime::ops
