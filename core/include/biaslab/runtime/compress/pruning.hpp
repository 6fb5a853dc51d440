#pragma once
// Pruning masks and magnitude / Wanda pruning. Masks are bool [out, in] with true = weight set
// to zero. Pruned layers are plain FloatLinear layers (format "float") in the original weight
// dtype; stats.hpp reports their sparsity.
//
// Counts and ties: an unstructured ratio r over n candidates prunes exactly floor(n * r) of them
// (the reference scripts' `score <= sorted[k]` prunes k+1); among equal scores the lower index
// (flat, row-major) is pruned first, like a stable sort.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::compress {

// N:M structured sparsity: in every run of `group` consecutive input columns of a row, at most
// `kept` weights stay non-zero (2:4 = kept 2 of 4).
struct BIASLAB_API NMPattern {
  std::int64_t kept = 2;
  std::int64_t group = 4;
  void validate() const;
};

struct BIASLAB_API SparsityTarget {
  double ratio = 0.5;                // unstructured: fraction of weights set to zero
  std::optional<NMPattern> pattern;  // set: N:M structured instead of `ratio`

  static SparsityTarget unstructured(double ratio);
  static SparsityTarget n_m(std::int64_t kept, std::int64_t group);
  double effective_ratio() const;
  void validate() const;
  // {"sparsity": 0.5} or {"n": 2, "m": 4} (n = kept per m).
  static SparsityTarget from_json(const nlohmann::json& json);
};

// Prunes the floor(numel * ratio) lowest scores of the whole tensor.
BIASLAB_API torch::Tensor lowest_scores_mask(const torch::Tensor& scores, double ratio);
// Prunes the floor(cols * ratio) lowest scores of every row.
BIASLAB_API torch::Tensor lowest_scores_per_row_mask(const torch::Tensor& scores, double ratio);
// Prunes the group - kept lowest scores in every run of `group` columns (cols % group == 0).
BIASLAB_API torch::Tensor nm_mask(const torch::Tensor& scores, const NMPattern& pattern);
// Wanda's score |W_ij| * ||X_j||_2.
BIASLAB_API torch::Tensor wanda_scores(const torch::Tensor& weight, const torch::Tensor& column_norms);

// The layer's weight with masked entries zeroed, as a FloatLinear in the original dtype.
BIASLAB_API std::shared_ptr<FloatLinear> apply_mask(const LinearKernel& layer, const torch::Tensor& mask);

// Magnitude pruning of one layer: unstructured over the whole layer, or N:M along the input dim.
BIASLAB_API std::shared_ptr<FloatLinear> prune_magnitude(const LinearKernel& layer, const SparsityTarget& target);
// Global magnitude pruning: one threshold over all given layers' weights together.
BIASLAB_API std::vector<std::shared_ptr<FloatLinear>> prune_magnitude_global(
    const std::vector<const LinearKernel*>& layers, double ratio);
// Wanda (Sun et al., 2023): score |W_ij| * ||X_j||_2, unstructured per output row or N:M.
// column_norms: LayerCalibration::column_norms().
BIASLAB_API std::shared_ptr<FloatLinear> prune_wanda(const LinearKernel& layer, const torch::Tensor& column_norms,
                                                     const SparsityTarget& target);

}  // namespace biaslab::runtime::compress
