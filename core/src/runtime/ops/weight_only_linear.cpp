#include "biaslab/runtime/ops/weight_only_linear.hpp"

#include <sstream>
#include <stdexcept>

#include "biaslab/runtime/ops/bit_packing.hpp"

namespace biaslab::runtime::ops {
namespace {

constexpr const char* kPacking = "lsb_bitstream";

std::string describe(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes() << " " << t.dtype();
  return out.str();
}

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("weight_only: " + what); }

torch::Tensor default_group_index(std::int64_t in_features, std::int64_t group_size, const torch::Device& device) {
  auto columns = torch::arange(in_features, torch::TensorOptions().dtype(torch::kLong).device(device));
  if (group_size == -1) return torch::zeros_like(columns);
  return torch::div(columns, group_size, "floor");
}

std::int64_t default_group_count(std::int64_t in_features, std::int64_t group_size) {
  return group_size == -1 ? 1 : (in_features + group_size - 1) / group_size;
}

}  // namespace

WeightOnlyLinear::WeightOnlyLinear(const WeightQuantConfig& config, Parts parts, bool cache_dequantized)
    : config_(config) {
  config_.validate();
  torch::NoGradGuard no_grad;
  const auto& codes = parts.codes;
  if (codes.dim() != 2 || codes.is_floating_point() || codes.numel() == 0)
    fail("codes must be a non-empty integer [out, in] tensor, got " + describe(codes));
  out_features_ = codes.size(0);
  in_features_ = codes.size(1);
  const auto device = codes.device();

  if (parts.scales.dim() != 2 || parts.scales.size(0) != out_features_ || parts.scales.size(1) < 1 ||
      !parts.scales.is_floating_point())
    fail("scales must be float [" + std::to_string(out_features_) + ", groups], got " + describe(parts.scales));
  scales_ = parts.scales.to(device, torch::kFloat).contiguous();
  const auto n_groups = scales_.size(1);

  if (parts.group_index) {
    const auto& g = *parts.group_index;
    if (g.dim() != 1 || g.size(0) != in_features_ || g.is_floating_point())
      fail("group index must be an integer vector of " + std::to_string(in_features_) + " elements, got " +
           describe(g));
    auto g64 = g.to(device, torch::kLong);
    if (g64.min().item<std::int64_t>() < 0 || g64.max().item<std::int64_t>() >= n_groups)
      fail("group index values must lie in [0, " + std::to_string(n_groups) + ")");
    const bool is_default = n_groups == default_group_count(in_features_, config_.group_size) &&
                            torch::equal(g64, default_group_index(in_features_, config_.group_size, device));
    if (!is_default) group_index_ = g64.to(torch::kInt).contiguous();
    group_index_full_ = g64.contiguous();
  } else {
    const auto expected = default_group_count(in_features_, config_.group_size);
    if (n_groups != expected)
      fail("scales have " + std::to_string(n_groups) + " groups but " + std::to_string(in_features_) +
           " columns with group_size " + std::to_string(config_.group_size) + " need " + std::to_string(expected));
    group_index_full_ = default_group_index(in_features_, config_.group_size, device);
  }

  if (config_.symmetric) {
    if (parts.zeros) fail("symmetric layers have implicit zero points; do not pass zeros");
  } else {
    if (!parts.zeros) fail("asymmetric layers need zero points");
    const auto& z = *parts.zeros;
    if (z.dim() != 2 || z.size(0) != out_features_ || z.size(1) != n_groups)
      fail("zeros must be [" + std::to_string(out_features_) + ", " + std::to_string(n_groups) + "], got " +
           describe(z));
    auto z64 = z.to(device, torch::kLong);
    if (z.is_floating_point() && !torch::equal(z.to(device, torch::kDouble), z64.to(torch::kDouble)))
      fail("zero points must be integers");
    // One bit stream over all rows: padding per row would cost up to 7 codes per row.
    qzeros_ = pack_codes(z64.reshape({1, -1}), config_.bits).reshape({-1});
  }

  if (parts.bias) {
    if (parts.bias->dim() != 1 || parts.bias->size(0) != out_features_)
      fail("bias must have " + std::to_string(out_features_) + " elements, got " + describe(*parts.bias));
    bias_ = parts.bias->detach().to(device).contiguous();
  }

  auto codes64 = codes.to(torch::kLong);
  qweight_ = pack_codes(codes64, config_.bits);  // also range-checks the codes
  if (cache_dequantized) cached_weight_ = dequantize();
}

WeightOnlyLinear::~WeightOnlyLinear() = default;

torch::Tensor WeightOnlyLinear::codes() const { return unpack_codes(qweight_, config_.bits, in_features_); }

torch::Tensor WeightOnlyLinear::zero_points() const {
  if (config_.symmetric)
    return torch::full(scales_.sizes(), static_cast<double>(config_.max_code() + 1) / 2, scales_.options());
  return unpack_codes(qzeros_->unsqueeze(0), config_.bits, out_features_ * groups())
      .view({out_features_, groups()})
      .to(torch::kFloat);
}

torch::Tensor WeightOnlyLinear::group_index() const { return group_index_full_; }

torch::Tensor WeightOnlyLinear::dequantize() const {
  torch::NoGradGuard no_grad;
  const auto codes = unpack_codes(qweight_, config_.bits, in_features_).to(torch::kFloat);
  const auto zeros = zero_points();
  const auto group = config_.group_size;
  if (!group_index_ && group != -1 && in_features_ % group == 0) {
    // Contiguous equal groups: broadcast [out, groups, 1] instead of gathering [out, in].
    const auto grouped = codes.view({out_features_, groups(), group});
    return (scales_.unsqueeze(-1) * (grouped - zeros.unsqueeze(-1))).view({out_features_, in_features_});
  }
  const auto scale = scales_.index_select(1, group_index_full_);
  const auto zero = zeros.index_select(1, group_index_full_);
  return scale * (codes - zero);
}

torch::Tensor WeightOnlyLinear::weight() const { return cached_weight_ ? cached_weight_->clone() : dequantize(); }

torch::Tensor WeightOnlyLinear::forward(const torch::Tensor& x) const {
  if (x.dim() < 1 || x.size(-1) != in_features_)
    fail("input last dimension must be " + std::to_string(in_features_) + ", got " + describe(x));
  torch::NoGradGuard no_grad;
  const auto dtype = x.scalar_type();
  auto w = cached_weight_ ? *cached_weight_ : dequantize();
  if (w.scalar_type() != dtype) w = w.to(dtype);
  std::optional<torch::Tensor> b;
  if (bias_) b = bias_->scalar_type() == dtype ? *bias_ : bias_->to(dtype);
  return torch::linear(x, w, b ? *b : torch::Tensor());
}

std::int64_t WeightOnlyLinear::storage_bytes() const {
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;
  serialize(tensors, meta);
  std::int64_t bytes = 0;
  for (const auto& [name, t] : tensors) bytes += t.numel() * static_cast<std::int64_t>(t.element_size());
  return bytes;
}

void WeightOnlyLinear::serialize(std::map<std::string, torch::Tensor>& tensors, nlohmann::json& meta) const {
  tensors["qweight"] = qweight_;
  tensors["scales"] = scales_;
  if (qzeros_) tensors["qzeros"] = *qzeros_;
  if (group_index_) tensors["g_idx"] = *group_index_;
  if (bias_) tensors["bias"] = *bias_;
  meta["bits"] = config_.bits;
  meta["group_size"] = config_.group_size;
  meta["symmetric"] = config_.symmetric;
  meta["in_features"] = in_features_;
  meta["out_features"] = out_features_;
  meta["packing"] = kPacking;
}

void WeightOnlyLinear::to(const torch::Device& device) {
  qweight_ = qweight_.to(device);
  scales_ = scales_.to(device);
  if (qzeros_) qzeros_ = qzeros_->to(device);
  if (group_index_) group_index_ = group_index_->to(device);
  group_index_full_ = group_index_full_.to(device);
  if (bias_) bias_ = bias_->to(device);
  if (cached_weight_) cached_weight_ = cached_weight_->to(device);
}

std::shared_ptr<LinearKernel> WeightOnlyLinear::load(const std::map<std::string, torch::Tensor>& tensors,
                                                     const nlohmann::json& meta) {
  auto error = [](const std::string& what) { return std::runtime_error("weight_only: " + what); };
  auto tensor = [&](const char* name) -> const torch::Tensor& {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw error(std::string("missing tensor '") + name + "'");
    return it->second;
  };
  auto optional_tensor = [&](const char* name) -> std::optional<torch::Tensor> {
    auto it = tensors.find(name);
    if (it == tensors.end()) return std::nullopt;
    return it->second;
  };
  if (!meta.is_object()) throw error("metadata must be a JSON object");
  for (const char* key : {"bits", "group_size", "in_features", "out_features"})
    if (!meta.contains(key) || !meta[key].is_number_integer())
      throw error(std::string("metadata key '") + key + "' (integer) is missing");
  if (!meta.contains("symmetric") || !meta["symmetric"].is_boolean())
    throw error("metadata key 'symmetric' (boolean) is missing");
  if (meta.contains("packing") && meta["packing"] != kPacking)
    throw error("unsupported packing '" + meta["packing"].dump() + "' (expected " + kPacking + ")");
  WeightQuantConfig config;
  try {
    config = WeightQuantConfig::from_json(
        {{"bits", meta["bits"]}, {"group_size", meta["group_size"]}, {"symmetric", meta["symmetric"]}});
  } catch (const std::exception& e) {
    throw error(e.what());
  }
  const auto in = meta["in_features"].get<std::int64_t>();
  const auto out = meta["out_features"].get<std::int64_t>();
  if (in <= 0 || out <= 0) throw error("in_features/out_features must be positive");
  const auto& qweight = tensor("qweight");
  if (qweight.dim() != 2 || qweight.size(0) != out || qweight.scalar_type() != torch::kByte ||
      qweight.size(1) != packed_row_bytes(in, config.bits))
    throw error("tensor 'qweight' must be uint8 [" + std::to_string(out) + ", " +
                std::to_string(packed_row_bytes(in, config.bits)) + "], got " + describe(qweight));
  const auto& scales = tensor("scales");
  if (scales.dim() != 2 || scales.size(0) != out)
    throw error("tensor 'scales' must be [" + std::to_string(out) + ", groups], got " + describe(scales));
  Parts parts;
  parts.codes = unpack_codes(qweight, config.bits, in);
  parts.scales = scales;
  if (!config.symmetric) {
    const auto& qzeros = tensor("qzeros");
    const auto zero_count = out * scales.size(1);
    if (qzeros.dim() != 1 || qzeros.scalar_type() != torch::kByte ||
        qzeros.size(0) != packed_row_bytes(zero_count, config.bits))
      throw error("tensor 'qzeros' must be uint8 [" + std::to_string(packed_row_bytes(zero_count, config.bits)) +
                  "], got " + describe(qzeros));
    parts.zeros = unpack_codes(qzeros.unsqueeze(0), config.bits, zero_count).view({out, scales.size(1)});
  }
  parts.group_index = optional_tensor("g_idx");
  parts.bias = optional_tensor("bias");
  bool cache = false;
  if (meta.contains("cache_dequantized")) {
    if (!meta["cache_dequantized"].is_boolean()) throw error("metadata key 'cache_dequantized' must be a boolean");
    cache = meta["cache_dequantized"].get<bool>();
  }
  try {
    return std::make_shared<WeightOnlyLinear>(config, std::move(parts), cache);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace biaslab::runtime::ops
