#include "biaslab/runtime/compress/gptq.hpp"

#include <stdexcept>
#include <vector>

#include "runtime/compress/detail.hpp"

namespace biaslab::runtime::compress {

void GptqConfig::validate() const {
  quant.validate();
  if (!(percdamp >= 0)) throw std::invalid_argument("gptq: percdamp must be >= 0");
  if (block_size <= 0) throw std::invalid_argument("gptq: block_size must be positive");
  if (static_groups && quant.group_size == -1)
    throw std::invalid_argument("gptq: static_groups needs a group_size (got -1)");
}

GptqConfig GptqConfig::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("gptq: config must be a JSON object");
  GptqConfig config;
  nlohmann::json quant = nlohmann::json::object();
  for (const auto& [key, value] : json.items()) {
    auto need = [&](bool ok, const char* type) {
      if (!ok) throw std::invalid_argument("gptq: key '" + key + "' must be " + type);
    };
    if (key == "bits" || key == "group_size" || key == "symmetric") {
      quant[key] = value;
    } else if (key == "percdamp") {
      need(value.is_number(), "a number");
      config.percdamp = value.get<double>();
    } else if (key == "block_size") {
      need(value.is_number_integer(), "an integer");
      config.block_size = value.get<std::int64_t>();
    } else if (key == "act_order") {
      need(value.is_boolean(), "a boolean");
      config.act_order = value.get<bool>();
    } else if (key == "static_groups") {
      need(value.is_boolean(), "a boolean");
      config.static_groups = value.get<bool>();
    } else if (key == "cache_dequantized") {
      need(value.is_boolean(), "a boolean");
      config.cache_dequantized = value.get<bool>();
    } else {
      throw std::invalid_argument("gptq: unknown key '" + key +
                                  "' (known: bits, group_size, symmetric, percdamp, block_size, act_order, "
                                  "static_groups, cache_dequantized)");
    }
  }
  config.quant = ops::WeightQuantConfig::from_json(quant);
  config.validate();
  return config;
}

GptqResult gptq_quantize(const LinearKernel& layer, const torch::Tensor& hessian, const GptqConfig& config,
                         const std::string& layer_name) {
  const auto what = detail::context("gptq", layer_name);
  try {
    config.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(what + e.what());
  }
  torch::NoGradGuard no_grad;
  auto W = layer.weight().to(torch::kFloat).clone();
  const auto cols = W.size(1);
  auto H = detail::checked_hessian(hessian, W, what);
  const auto& q = config.quant;
  const auto maxq = q.max_code();
  const bool grouped = q.group_size != -1;
  const auto group = q.group_size;

  // Per-row grid of the whole weight before dead columns are zeroed, as the reference does.
  ops::QuantGrid grid;
  if (!grouped) grid = ops::fit_quant_grid(W, q);

  detail::mark_dead_columns(H, W);

  std::vector<ops::QuantGrid> static_grids;
  if (config.static_groups) {
    for (std::int64_t start = 0; start < cols; start += group)
      static_grids.push_back(ops::fit_quant_grid(W.narrow(1, start, std::min(group, cols - start)), q));
  }

  torch::Tensor perm, invperm;
  std::vector<std::int64_t> perm_values;
  if (config.act_order) {
    perm = torch::argsort(H.diagonal().contiguous(), /*dim=*/-1, /*descending=*/true);
    W = W.index_select(1, perm);
    H = H.index_select(0, perm).index_select(1, perm);
    invperm = torch::argsort(perm);
    auto p = perm.to(torch::kCPU).contiguous();
    perm_values.assign(p.data_ptr<std::int64_t>(), p.data_ptr<std::int64_t>() + cols);
  }

  const auto Hinv = detail::damped_inverse_cholesky_upper(H, config.percdamp, what);

  auto codes = torch::zeros_like(W);  // in processing (possibly permuted) order
  std::vector<ops::QuantGrid> dynamic_grids;
  auto loss = torch::zeros({}, W.options().dtype(torch::kDouble));

  for (std::int64_t i1 = 0; i1 < cols; i1 += config.block_size) {
    const auto i2 = std::min(i1 + config.block_size, cols);
    const auto count = i2 - i1;
    auto W1 = W.narrow(1, i1, count).clone();
    auto Err1 = torch::zeros_like(W1);
    const auto Hinv1 = Hinv.narrow(0, i1, count).narrow(1, i1, count);
    for (std::int64_t i = 0; i < count; ++i) {
      const auto col = i1 + i;
      if (grouped) {
        if (!config.static_groups) {
          // The reference fits the grid on W (updated by earlier blocks, not by earlier columns
          // of this block); with group_size a multiple of block_size these are the same.
          if (col % group == 0) {
            dynamic_grids.push_back(ops::fit_quant_grid(W.narrow(1, col, std::min(group, cols - col)), q));
            grid = dynamic_grids.back();
          }
        } else {
          const auto original = config.act_order ? perm_values[col] : col;
          grid = static_grids[original / group];
        }
      }
      const auto w = W1.select(1, i);
      const auto d = Hinv1[i][i];
      const auto code = ops::quantize_to_codes(w.unsqueeze(1), grid, maxq);
      const auto qcol = ops::dequantize_codes(code, grid).squeeze(1);
      codes.select(1, col).copy_(code.squeeze(1));
      const auto diff = w - qcol;
      loss += (diff.square() / d.square()).sum().to(torch::kDouble) / 2;
      const auto err = diff / d;
      W1.narrow(1, i, count - i).sub_(err.unsqueeze(1).matmul(Hinv1[i].narrow(0, i, count - i).unsqueeze(0)));
      Err1.select(1, i).copy_(err);
    }
    if (i2 < cols) W.narrow(1, i2, cols - i2).sub_(Err1.matmul(Hinv.narrow(0, i1, count).narrow(1, i2, cols - i2)));
  }

  ops::WeightOnlyLinear::Parts parts;
  std::vector<torch::Tensor> scales, zeros;
  const auto& grids = !grouped ? std::vector<ops::QuantGrid>{grid} : (config.static_groups ? static_grids : dynamic_grids);
  for (const auto& g : grids) {
    scales.push_back(g.scale);
    zeros.push_back(g.zero);
  }
  if (config.act_order) {
    codes = codes.index_select(1, invperm);
    // Dynamic groups are runs of permuted columns: column j sits at position invperm[j].
    if (grouped && !config.static_groups) parts.group_index = torch::div(invperm, group, "floor");
  }
  parts.codes = codes.to(torch::kByte);
  parts.scales = torch::stack(scales, 1);
  if (!q.symmetric) parts.zeros = torch::stack(zeros, 1).to(torch::kByte);
  parts.bias = layer.bias();
  GptqResult result;
  result.kernel = std::make_shared<ops::WeightOnlyLinear>(q, std::move(parts), config.cache_dequantized);
  result.loss = loss.item<double>();
  return result;
}

}  // namespace biaslab::runtime::compress
