#pragma once
// Round-to-nearest weight-only quantization: every group of every output row gets its own grid
// (ops::fit_quant_grid) and each weight is rounded to it independently.
#include <memory>
#include <string>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/ops/weight_only_linear.hpp"

namespace biaslab::runtime::compress {

BIASLAB_API std::shared_ptr<ops::WeightOnlyLinear> quantize_rtn(const LinearKernel& layer,
                                                                 const ops::WeightQuantConfig& config,
                                                                 bool cache_dequantized = false);

}  // namespace biaslab::runtime::compress
