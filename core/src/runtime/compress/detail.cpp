#include "runtime/compress/detail.hpp"

#include <sstream>

namespace biaslab::runtime::compress::detail {

torch::ScalarType float_dtype_of(const LinearKernel& layer) {
  if (const auto* f = dynamic_cast<const FloatLinear*>(&layer)) {
    // raw_weight() has no const overload; reading its dtype does not modify the layer.
    return const_cast<FloatLinear*>(f)->raw_weight().scalar_type();
  }
  return torch::kFloat;
}

std::shared_ptr<FloatLinear> float_like(const LinearKernel& layer, const torch::Tensor& weight) {
  torch::Device device = torch::kCPU;
  if (const auto* f = dynamic_cast<const FloatLinear*>(&layer)) device = const_cast<FloatLinear*>(f)->raw_weight().device();
  auto stored = weight.to(device, float_dtype_of(layer)).contiguous();
  return std::make_shared<FloatLinear>(stored, layer.bias());
}

torch::Tensor mark_dead_columns(torch::Tensor& hessian, torch::Tensor& weight) {
  auto diag = hessian.diagonal();
  auto dead = diag == 0;
  diag.masked_fill_(dead, 1);
  weight.masked_fill_(dead.unsqueeze(0), 0);
  return dead;
}

torch::Tensor damped_inverse_cholesky_upper(torch::Tensor hessian, double percdamp, const std::string& what) {
  auto diag = hessian.diagonal();
  // Mean over a contiguous copy, like the reference's torch.mean(torch.diag(H)): a strided
  // reduction sums in another order and shifts the dampening by an ulp.
  diag.add_(percdamp * diag.contiguous().mean());
  auto [lower, info] = torch::linalg_cholesky_ex(hessian);
  if (info.item<std::int64_t>() != 0)
    throw std::runtime_error(what + "damped Hessian is not positive definite (Cholesky failed at minor " +
                             std::to_string(info.item<std::int64_t>()) + "); increase percdamp (now " +
                             std::to_string(percdamp) + ") or use more calibration data");
  auto inverse = torch::cholesky_inverse(lower);
  auto [upper, info2] = torch::linalg_cholesky_ex(inverse, /*upper=*/true);
  if (info2.item<std::int64_t>() != 0)
    throw std::runtime_error(what + "inverse Hessian is not positive definite; increase percdamp (now " +
                             std::to_string(percdamp) + ")");
  return upper;
}

torch::Tensor checked_hessian(const torch::Tensor& hessian, const torch::Tensor& weight, const std::string& what) {
  const auto cols = weight.size(1);
  if (!hessian.defined() || hessian.dim() != 2 || hessian.size(0) != cols || hessian.size(1) != cols) {
    std::ostringstream msg;
    msg << what << "Hessian must be [" << cols << ", " << cols << "] for a weight of shape " << weight.sizes()
        << ", got " << (hessian.defined() ? hessian.sizes() : c10::IntArrayRef{});
    throw std::invalid_argument(msg.str());
  }
  if (!torch::isfinite(hessian).all().item<bool>()) throw std::invalid_argument(what + "Hessian has non-finite values");
  return hessian.to(weight.device(), torch::kFloat).clone();
}

}  // namespace biaslab::runtime::compress::detail
