#include "biaslab/runtime/compress/rtn.hpp"

#include <vector>

namespace biaslab::runtime::compress {

std::shared_ptr<ops::WeightOnlyLinear> quantize_rtn(const LinearKernel& layer, const ops::WeightQuantConfig& config,
                                                    bool cache_dequantized) {
  config.validate();
  torch::NoGradGuard no_grad;
  const auto w = layer.weight().to(torch::kFloat);
  const auto cols = w.size(1);
  const auto group = config.group_size == -1 ? cols : config.group_size;
  auto codes = torch::empty_like(w);
  std::vector<torch::Tensor> scales, zeros;
  for (std::int64_t start = 0; start < cols; start += group) {
    const auto width = std::min(group, cols - start);
    const auto slice = w.narrow(1, start, width);
    const auto grid = ops::fit_quant_grid(slice, config);
    codes.narrow(1, start, width).copy_(ops::quantize_to_codes(slice, grid, config.max_code()));
    scales.push_back(grid.scale);
    zeros.push_back(grid.zero);
  }
  ops::WeightOnlyLinear::Parts parts;
  parts.codes = codes.to(torch::kByte);
  parts.scales = torch::stack(scales, 1);
  if (!config.symmetric) parts.zeros = torch::stack(zeros, 1).to(torch::kByte);
  parts.bias = layer.bias();
  return std::make_shared<ops::WeightOnlyLinear>(config, std::move(parts), cache_dequantized);
}

}  // namespace biaslab::runtime::compress
