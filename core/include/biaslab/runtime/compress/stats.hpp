#pragma once
// Size and sparsity statistics of linear layers.
// bits_per_weight = 8 * (storage_bytes - bias bytes) / weights: the stored weight payload
// including scales, zero points and group indices, excluding the bias.
// zero_weights counts exact zeros of the effective weight (LinearKernel::weight()), so a
// quantized layer also counts weights that rounded to zero.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/runtime/linear.hpp"

namespace biaslab::runtime::compress {

struct BIASLAB_API LayerCompressionStats {
  std::string name;
  std::string format;
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  std::int64_t weights = 0;
  std::int64_t zero_weights = 0;
  std::int64_t storage_bytes = 0;
  std::int64_t bias_bytes = 0;

  double sparsity() const;
  double bits_per_weight() const;
  nlohmann::json to_json() const;
};

struct BIASLAB_API CompressionSummary {
  std::vector<LayerCompressionStats> layers;
  std::int64_t weights = 0;
  std::int64_t zero_weights = 0;
  std::int64_t storage_bytes = 0;
  std::int64_t bias_bytes = 0;

  double sparsity() const;
  double bits_per_weight() const;
  nlohmann::json to_json() const;  // totals plus "layers": [...]
};

BIASLAB_API LayerCompressionStats layer_compression_stats(const std::string& name, const LinearKernel& kernel);
BIASLAB_API CompressionSummary summarize_compression(const std::vector<const Linear*>& layers);

}  // namespace biaslab::runtime::compress
