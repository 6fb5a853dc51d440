#pragma once
// SparseGPT (Frantar & Alistarh, 2023) for one linear layer, following the reference
// (IST-DASLab/sparsegpt, SparseGPT.fasterprune) without joint quantization:
// same Hessian preparation as GPTQ (dead columns, dampening, upper Cholesky factor of H^-1);
// unstructured: the mask of each block of block_size columns prunes the lowest
// w^2 / Hinv_jj^2 of that block (exactly floor(rows * block_cols * ratio)); N:M: at every
// group start the group - kept lowest scores of the current weights per row; pruned weights'
// errors are compensated on the not yet processed columns.
#include <cstdint>
#include <memory>
#include <string>

#include "biaslab/export.hpp"
#include "biaslab/runtime/compress/pruning.hpp"
#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::compress {

struct BIASLAB_API SparseGptConfig {
  SparsityTarget target;
  std::int64_t block_size = 128;
  double percdamp = 0.01;

  void validate() const;
  // Keys: sparsity | n + m, block_size, percdamp. Unknown keys are rejected.
  static SparseGptConfig from_json(const nlohmann::json& json);
};

struct SparseGptResult {
  std::shared_ptr<FloatLinear> kernel;
  double loss = 0;  // sum of (w - q)^2 / Hinv_jj^2 / 2 as in the reference
};

BIASLAB_API SparseGptResult sparsegpt_prune(const LinearKernel& layer, const torch::Tensor& hessian,
                                            const SparseGptConfig& config, const std::string& layer_name = {});

}  // namespace biaslab::runtime::compress
