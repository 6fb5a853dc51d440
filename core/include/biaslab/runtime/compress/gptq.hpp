#pragma once
// GPTQ (Frantar et al., 2022) for one linear layer, following the semantics of the reference
// implementation (IST-DASLab/gptq, GPTQ.fasterquant):
//  * H = 2 X X^T from the layer's calibration inputs; columns with H_jj == 0 are dead: H_jj = 1
//    and their weights are zeroed;
//  * act_order: columns processed in order of decreasing H_jj;
//  * H += percdamp * mean(diag H) * I; Hinv = upper Cholesky factor of H^-1;
//  * columns quantized left to right in blocks of block_size, each quantization error spread over
//    the remaining columns with Hinv (lazy batch updates between blocks);
//  * grids: group_size -1 -> one grid per row from the whole (original) weight; otherwise a new
//    grid from the current (updated) weights whenever a group starts in processing order --
//    with act_order that is a group of consecutive permuted columns, stored with a per-column
//    group index; static_groups -> grids of the original column groups computed up front.
// The result is a WeightOnlyLinear with the same quantizer as RTN.
#include <cstdint>
#include <memory>
#include <string>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/weight_only_linear.hpp"

namespace biaslab::runtime::compress {

struct BIASLAB_API GptqConfig {
  ops::WeightQuantConfig quant;
  double percdamp = 0.01;
  std::int64_t block_size = 128;
  bool act_order = false;
  bool static_groups = false;
  bool cache_dequantized = false;  // of the resulting WeightOnlyLinear

  void validate() const;
  // Flat keys: bits, group_size, symmetric, percdamp, block_size, act_order, static_groups,
  // cache_dequantized. Unknown keys are rejected.
  static GptqConfig from_json(const nlohmann::json& json);
};

struct GptqResult {
  std::shared_ptr<ops::WeightOnlyLinear> kernel;
  // Sum over weights of (w - q)^2 / Hinv_jj^2 / 2, the reference's reported "error".
  double loss = 0;
};

// hessian: [in, in] (e.g. LayerCalibration::hessian()); layer_name only labels errors.
BIASLAB_API GptqResult gptq_quantize(const LinearKernel& layer, const torch::Tensor& hessian,
                                     const GptqConfig& config, const std::string& layer_name = {});

}  // namespace biaslab::runtime::compress
