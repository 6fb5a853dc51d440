#include "biaslab/runtime/compress/sparsegpt.hpp"

#include <stdexcept>

#include "runtime/compress/detail.hpp"

namespace biaslab::runtime::compress {

void SparseGptConfig::validate() const {
  target.validate();
  if (block_size <= 0) throw std::invalid_argument("sparsegpt: block_size must be positive");
  if (!(percdamp >= 0)) throw std::invalid_argument("sparsegpt: percdamp must be >= 0");
  if (target.pattern && block_size % target.pattern->group != 0)
    throw std::invalid_argument("sparsegpt: block_size " + std::to_string(block_size) + " must be a multiple of m=" +
                                std::to_string(target.pattern->group));
}

SparseGptConfig SparseGptConfig::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("sparsegpt: config must be a JSON object");
  SparseGptConfig config;
  nlohmann::json target = nlohmann::json::object();
  for (const auto& [key, value] : json.items()) {
    if (key == "sparsity" || key == "n" || key == "m") {
      target[key] = value;
    } else if (key == "block_size") {
      if (!value.is_number_integer()) throw std::invalid_argument("sparsegpt: 'block_size' must be an integer");
      config.block_size = value.get<std::int64_t>();
    } else if (key == "percdamp") {
      if (!value.is_number()) throw std::invalid_argument("sparsegpt: 'percdamp' must be a number");
      config.percdamp = value.get<double>();
    } else {
      throw std::invalid_argument("sparsegpt: unknown key '" + key + "' (known: sparsity, n, m, block_size, percdamp)");
    }
  }
  config.target = SparsityTarget::from_json(target);
  config.validate();
  return config;
}

SparseGptResult sparsegpt_prune(const LinearKernel& layer, const torch::Tensor& hessian, const SparseGptConfig& config,
                                const std::string& layer_name) {
  const auto what = detail::context("sparsegpt", layer_name);
  try {
    config.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(what + e.what());
  }
  torch::NoGradGuard no_grad;
  auto W = layer.weight().to(torch::kFloat).clone();
  const auto cols = W.size(1);
  const auto& pattern = config.target.pattern;
  if (pattern && cols % pattern->group != 0)
    throw std::invalid_argument(what + "input dimension " + std::to_string(cols) + " is not a multiple of m=" +
                                std::to_string(pattern->group));
  auto H = detail::checked_hessian(hessian, W, what);
  detail::mark_dead_columns(H, W);
  const auto Hinv = detail::damped_inverse_cholesky_upper(H, config.percdamp, what);
  auto loss = torch::zeros({}, W.options().dtype(torch::kDouble));

  for (std::int64_t i1 = 0; i1 < cols; i1 += config.block_size) {
    const auto i2 = std::min(i1 + config.block_size, cols);
    const auto count = i2 - i1;
    auto W1 = W.narrow(1, i1, count).clone();
    auto Q1 = torch::zeros_like(W1);
    auto Err1 = torch::zeros_like(W1);
    const auto Hinv1 = Hinv.narrow(0, i1, count).narrow(1, i1, count);
    const auto hinv_diag = Hinv1.diagonal();
    torch::Tensor mask1;
    if (!pattern) {
      // Adaptive mask of this block from the OBS saliency w^2 / [Hinv]_jj^2.
      mask1 = lowest_scores_mask(W1.square() / hinv_diag.unsqueeze(0).square(), config.target.ratio);
    } else {
      mask1 = torch::zeros(W1.sizes(), W1.options().dtype(torch::kBool));
    }
    for (std::int64_t i = 0; i < count; ++i) {
      if (pattern && i % pattern->group == 0) {
        const auto saliency = W1.narrow(1, i, pattern->group).square() /
                              hinv_diag.narrow(0, i, pattern->group).unsqueeze(0).square();
        mask1.narrow(1, i, pattern->group).copy_(nm_mask(saliency, *pattern));
      }
      const auto w = W1.select(1, i);
      const auto d = Hinv1[i][i];
      const auto qcol = w.masked_fill(mask1.select(1, i), 0);
      Q1.select(1, i).copy_(qcol);
      const auto diff = w - qcol;
      loss += (diff.square() / d.square()).sum().to(torch::kDouble) / 2;
      const auto err = diff / d;
      W1.narrow(1, i, count - i).sub_(err.unsqueeze(1).matmul(Hinv1[i].narrow(0, i, count - i).unsqueeze(0)));
      Err1.select(1, i).copy_(err);
    }
    W.narrow(1, i1, count).copy_(Q1);
    if (i2 < cols) W.narrow(1, i2, cols - i2).sub_(Err1.matmul(Hinv.narrow(0, i1, count).narrow(1, i2, cols - i2)));
  }
  SparseGptResult result;
  result.kernel = detail::float_like(layer, W);
  result.loss = loss.item<double>();
  return result;
}

}  // namespace biaslab::runtime::compress
