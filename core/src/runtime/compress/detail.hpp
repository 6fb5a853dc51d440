#pragma once
// Helpers shared by the compression algorithms (not installed).
#include <memory>
#include <stdexcept>
#include <string>

#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::compress::detail {

// "layer 'x': " or "" -- prefix for error messages.
inline std::string context(const std::string& method, const std::string& layer_name) {
  return method + (layer_name.empty() ? "" : " (layer '" + layer_name + "')") + ": ";
}

// Storage dtype of a float layer (float32 for every other format).
torch::ScalarType float_dtype_of(const LinearKernel& layer);

// A FloatLinear holding `weight` (float32 [out, in]) in the layer's storage dtype and device,
// with the layer's bias.
std::shared_ptr<FloatLinear> float_like(const LinearKernel& layer, const torch::Tensor& weight);

// GPTQ/SparseGPT Hessian preparation (in place on float32 copies): marks dead columns
// (H_jj == 0), sets H_jj = 1 there and zeroes those weight columns. Returns the dead mask.
torch::Tensor mark_dead_columns(torch::Tensor& hessian, torch::Tensor& weight);

// H + percdamp * mean(diag H) * I -> upper Cholesky factor of its inverse. Throws naming the
// layer when H is not positive definite.
torch::Tensor damped_inverse_cholesky_upper(torch::Tensor hessian, double percdamp, const std::string& what);

// Validates a [cols, cols] Hessian against a [rows, cols] weight and returns a float32 copy.
torch::Tensor checked_hessian(const torch::Tensor& hessian, const torch::Tensor& weight, const std::string& what);

}  // namespace biaslab::runtime::compress::detail
