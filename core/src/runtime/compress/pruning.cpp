#include "biaslab/runtime/compress/pruning.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "runtime/compress/detail.hpp"

namespace biaslab::runtime::compress {
namespace {

// floor(n * ratio) with the same double arithmetic as the reference scripts' int(n * ratio).
std::int64_t prune_count(std::int64_t n, double ratio) {
  return static_cast<std::int64_t>(std::floor(static_cast<double>(n) * ratio));
}

void check_ratio(double ratio, const char* what) {
  if (!(ratio >= 0.0 && ratio <= 1.0))
    throw std::invalid_argument(std::string(what) + ": sparsity ratio must lie in [0, 1], got " + std::to_string(ratio));
}

void check_scores(const torch::Tensor& scores, const char* what) {
  if (!scores.defined() || scores.dim() != 2) throw std::invalid_argument(std::string(what) + ": scores must be [out, in]");
  if (!torch::isfinite(scores).all().item<bool>())
    throw std::invalid_argument(std::string(what) + ": scores contain NaN or infinity");
}

}  // namespace

void NMPattern::validate() const {
  if (group <= 0 || kept < 0 || kept > group)
    throw std::invalid_argument("N:M sparsity: need 0 <= n <= m and m > 0, got " + std::to_string(kept) + ":" +
                                std::to_string(group));
}

SparsityTarget SparsityTarget::unstructured(double ratio) {
  SparsityTarget t;
  t.ratio = ratio;
  t.validate();
  return t;
}

SparsityTarget SparsityTarget::n_m(std::int64_t kept, std::int64_t group) {
  SparsityTarget t;
  t.pattern = NMPattern{kept, group};
  t.ratio = t.effective_ratio();
  t.validate();
  return t;
}

double SparsityTarget::effective_ratio() const {
  if (pattern) return 1.0 - static_cast<double>(pattern->kept) / static_cast<double>(pattern->group);
  return ratio;
}

void SparsityTarget::validate() const {
  if (pattern) {
    pattern->validate();
  } else {
    check_ratio(ratio, "pruning");
  }
}

SparsityTarget SparsityTarget::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw std::invalid_argument("pruning: sparsity target must be a JSON object");
  const bool has_ratio = json.contains("sparsity");
  const bool has_nm = json.contains("n") || json.contains("m");
  if (has_ratio == has_nm)
    throw std::invalid_argument("pruning: give either 'sparsity' (unstructured) or 'n' and 'm' (N:M), not " +
                                std::string(has_ratio ? "both" : "neither"));
  if (has_ratio) {
    if (!json["sparsity"].is_number()) throw std::invalid_argument("pruning: 'sparsity' must be a number");
    return unstructured(json["sparsity"].get<double>());
  }
  if (!json.contains("n") || !json.contains("m") || !json["n"].is_number_integer() || !json["m"].is_number_integer())
    throw std::invalid_argument("pruning: N:M needs integer 'n' (kept weights) and 'm' (group size)");
  return n_m(json["n"].get<std::int64_t>(), json["m"].get<std::int64_t>());
}

torch::Tensor lowest_scores_mask(const torch::Tensor& scores, double ratio) {
  check_ratio(ratio, "magnitude pruning");
  if (!scores.defined() || !torch::isfinite(scores).all().item<bool>())
    throw std::invalid_argument("pruning: scores contain NaN or infinity");
  torch::NoGradGuard no_grad;
  const auto flat = scores.flatten();
  const auto k = prune_count(flat.numel(), ratio);
  if (k == 0) return torch::zeros(scores.sizes(), scores.options().dtype(torch::kBool));
  // k-th smallest value; everything below it goes, ties at it are pruned in index order.
  const auto threshold = std::get<0>(flat.kthvalue(k));
  const auto below = flat < threshold;
  const auto remaining = k - below.sum().item<std::int64_t>();
  const auto at_threshold = flat == threshold;
  const auto tie_rank = at_threshold.to(torch::kLong).cumsum(0);
  const auto mask = below.logical_or(at_threshold.logical_and(tie_rank <= remaining));
  return mask.view(scores.sizes());
}

torch::Tensor lowest_scores_per_row_mask(const torch::Tensor& scores, double ratio) {
  check_ratio(ratio, "pruning");
  check_scores(scores, "pruning");
  torch::NoGradGuard no_grad;
  auto mask = torch::zeros(scores.sizes(), scores.options().dtype(torch::kBool));
  const auto k = prune_count(scores.size(1), ratio);
  if (k == 0) return mask;
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false));
  mask.scatter_(1, order.narrow(1, 0, k), true);
  return mask;
}

torch::Tensor nm_mask(const torch::Tensor& scores, const NMPattern& pattern) {
  pattern.validate();
  check_scores(scores, "N:M pruning");
  const auto rows = scores.size(0);
  const auto cols = scores.size(1);
  if (cols % pattern.group != 0)
    throw std::invalid_argument("N:M pruning: input dimension " + std::to_string(cols) + " is not a multiple of m=" +
                                std::to_string(pattern.group));
  torch::NoGradGuard no_grad;
  const auto prune = pattern.group - pattern.kept;
  auto mask = torch::zeros({rows, cols / pattern.group, pattern.group}, scores.options().dtype(torch::kBool));
  if (prune > 0) {
    const auto grouped = scores.reshape({rows, cols / pattern.group, pattern.group});
    const auto order = std::get<1>(grouped.sort(/*stable=*/true, /*dim=*/2, /*descending=*/false));
    mask.scatter_(2, order.narrow(2, 0, prune), true);
  }
  return mask.view({rows, cols});
}

torch::Tensor wanda_scores(const torch::Tensor& weight, const torch::Tensor& column_norms) {
  if (weight.dim() != 2 || column_norms.dim() != 1 || column_norms.size(0) != weight.size(1)) {
    std::ostringstream msg;
    msg << "wanda: activation norms " << column_norms.sizes() << " do not match weight " << weight.sizes();
    throw std::invalid_argument(msg.str());
  }
  return weight.to(torch::kFloat).abs() * column_norms.to(weight.device(), torch::kFloat).unsqueeze(0);
}

std::shared_ptr<FloatLinear> apply_mask(const LinearKernel& layer, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  auto w = layer.weight().to(torch::kFloat);
  if (mask.scalar_type() != torch::kBool || mask.sizes() != w.sizes()) {
    std::ostringstream msg;
    msg << "pruning: mask must be bool " << w.sizes() << ", got " << mask.sizes() << " " << mask.dtype();
    throw std::invalid_argument(msg.str());
  }
  return detail::float_like(layer, w.masked_fill(mask.to(w.device()), 0));
}

std::shared_ptr<FloatLinear> prune_magnitude(const LinearKernel& layer, const SparsityTarget& target) {
  target.validate();
  const auto scores = layer.weight().to(torch::kFloat).abs();
  return apply_mask(layer, target.pattern ? nm_mask(scores, *target.pattern) : lowest_scores_mask(scores, target.ratio));
}

std::vector<std::shared_ptr<FloatLinear>> prune_magnitude_global(const std::vector<const LinearKernel*>& layers,
                                                                 double ratio) {
  check_ratio(ratio, "global magnitude pruning");
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> scores;
  for (const auto* layer : layers) {
    if (layer == nullptr) throw std::invalid_argument("global magnitude pruning: null layer");
    scores.push_back(layer->weight().to(torch::kCPU, torch::kFloat).abs().flatten());
  }
  std::vector<std::shared_ptr<FloatLinear>> pruned;
  if (layers.empty()) return pruned;
  const auto mask = lowest_scores_mask(torch::cat(scores), ratio);
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto n = scores[i].numel();
    const auto layer_mask = mask.narrow(0, offset, n).view({layers[i]->out_features(), layers[i]->in_features()});
    pruned.push_back(apply_mask(*layers[i], layer_mask));
    offset += n;
  }
  return pruned;
}

std::shared_ptr<FloatLinear> prune_wanda(const LinearKernel& layer, const torch::Tensor& column_norms,
                                         const SparsityTarget& target) {
  target.validate();
  const auto scores = wanda_scores(layer.weight(), column_norms);
  return apply_mask(layer, target.pattern ? nm_mask(scores, *target.pattern)
                                          : lowest_scores_per_row_mask(scores, target.ratio));
}

}  // namespace biaslab::runtime::compress
