#include "biaslab/runtime/compress/stats.hpp"

#include <stdexcept>

namespace biaslab::runtime::compress {
namespace {
double ratio(std::int64_t a, std::int64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }
}  // namespace

double LayerCompressionStats::sparsity() const { return ratio(zero_weights, weights); }
double LayerCompressionStats::bits_per_weight() const { return 8.0 * ratio(storage_bytes - bias_bytes, weights); }

nlohmann::json LayerCompressionStats::to_json() const {
  return {{"name", name},
          {"format", format},
          {"in_features", in_features},
          {"out_features", out_features},
          {"weights", weights},
          {"zero_weights", zero_weights},
          {"sparsity", sparsity()},
          {"storage_bytes", storage_bytes},
          {"bias_bytes", bias_bytes},
          {"bits_per_weight", bits_per_weight()}};
}

double CompressionSummary::sparsity() const { return ratio(zero_weights, weights); }
double CompressionSummary::bits_per_weight() const { return 8.0 * ratio(storage_bytes - bias_bytes, weights); }

nlohmann::json CompressionSummary::to_json() const {
  nlohmann::json layer_list = nlohmann::json::array();
  for (const auto& l : layers) layer_list.push_back(l.to_json());
  return {{"weights", weights},         {"zero_weights", zero_weights}, {"sparsity", sparsity()},
          {"storage_bytes", storage_bytes}, {"bias_bytes", bias_bytes},  {"bits_per_weight", bits_per_weight()},
          {"layers", layer_list}};
}

LayerCompressionStats layer_compression_stats(const std::string& name, const LinearKernel& kernel) {
  torch::NoGradGuard no_grad;
  LayerCompressionStats s;
  s.name = name;
  s.format = kernel.format();
  s.in_features = kernel.in_features();
  s.out_features = kernel.out_features();
  s.weights = s.in_features * s.out_features;
  s.zero_weights = (kernel.weight() == 0).sum().item<std::int64_t>();
  s.storage_bytes = kernel.storage_bytes();
  if (auto b = kernel.bias()) s.bias_bytes = b->numel() * static_cast<std::int64_t>(b->element_size());
  return s;
}

CompressionSummary summarize_compression(const std::vector<const Linear*>& layers) {
  CompressionSummary summary;
  for (const auto* slot : layers) {
    if (slot == nullptr || !slot->kernel()) throw std::invalid_argument("compression stats: empty linear slot");
    auto s = layer_compression_stats(slot->name(), *slot->kernel());
    summary.weights += s.weights;
    summary.zero_weights += s.zero_weights;
    summary.storage_bytes += s.storage_bytes;
    summary.bias_bytes += s.bias_bytes;
    summary.layers.push_back(std::move(s));
  }
  return summary;
}

}  // namespace biaslab::runtime::compress
