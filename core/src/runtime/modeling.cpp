#include "modeling.hpp"

#include "biaslab/runtime/row_groups.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace biaslab::runtime::detail {

using torch::Tensor;

Activation activation(const std::string& name) {
  if (name == "gelu") return [](const Tensor& x) { return torch::gelu(x); };
  if (name == "gelu_pytorch_tanh") return [](const Tensor& x) { return torch::gelu(x, "tanh"); };
  if (name == "gelu_new" || name == "gelu_accurate") {
    // NewGELUActivation: the tanh approximation written out (GPT-2).
    return [](const Tensor& x) {
      const double c = std::sqrt(2.0 / M_PI);
      return 0.5 * x * (1.0 + torch::tanh(c * (x + 0.044715 * torch::pow(x, 3.0))));
    };
  }
  if (name == "gelu_fast") {
    return [](const Tensor& x) { return 0.5 * x * (1.0 + torch::tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x))); };
  }
  if (name == "quick_gelu") return [](const Tensor& x) { return x * torch::sigmoid(1.702 * x); };
  if (name == "relu") return [](const Tensor& x) { return torch::relu(x); };
  if (name == "silu" || name == "swish") return [](const Tensor& x) { return torch::silu(x); };
  if (name == "tanh") return [](const Tensor& x) { return torch::tanh(x); };
  if (name == "sigmoid") return [](const Tensor& x) { return torch::sigmoid(x); };
  if (name == "linear") return [](const Tensor& x) { return x; };
  throw std::runtime_error("unsupported activation function '" + name + "'");
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  auto h = x.to(torch::kFloat32);
  auto variance = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * torch::rsqrt(variance + eps);
  return weight * h.to(x.scalar_type());
}

Tensor attention_allowed(const Tensor& attention_mask, bool causal, std::optional<std::int64_t> sliding_window) {
  const auto T = attention_mask.size(1);
  auto keys = attention_mask.ne(0).view({attention_mask.size(0), 1, 1, T});
  if (!causal) return keys.expand({attention_mask.size(0), 1, T, T});
  auto idx = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(attention_mask.device()));
  auto q = idx.view({T, 1});
  auto k = idx.view({1, T});
  auto allowed = k.le(q);
  if (sliding_window) allowed = allowed.logical_and(k.gt(q - *sliding_window));
  return keys.logical_and(allowed.view({1, 1, T, T}));
}

namespace {

Tensor batched_attention(const Tensor& q, const Tensor& k_in, const Tensor& v_in, const Tensor& allowed, double scale) {
  Tensor k = k_in, v = v_in;
  const auto heads = q.size(1), kv_heads = k.size(1);
  if (heads != kv_heads) {
    const auto rep = heads / kv_heads;
    const auto B = k.size(0), T = k.size(2), D = k.size(3);
    k = k.unsqueeze(2).expand({B, kv_heads, rep, T, D}).reshape({B, heads, T, D});
    v = v.unsqueeze(2).expand({B, kv_heads, rep, T, v.size(3)}).reshape({B, heads, T, v.size(3)});
  }
  auto scores = torch::matmul(q, k.transpose(-1, -2)).to(torch::kFloat32) * scale;
  // A finite minimum (not -inf) as HF: fully masked rows stay finite instead of NaN.
  scores = scores.masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
  auto probs = torch::softmax(scores, -1).to(v.scalar_type());
  return torch::matmul(probs, v);
}

// Each sequence over its own real positions: the shapes -- and so the float32 reductions (softmax
// sums, GEMM kernels chosen by size) -- of a forward pass over that sequence alone. Padded query
// rows stay zero; no real position reads them.
Tensor per_sequence_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, double scale,
                              const RowGroups& groups) {
  const auto B = q.size(0), T = q.size(2);
  auto out = torch::zeros({B, q.size(1), T, v.size(3)}, q.options());
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::int64_t> positions;
    for (const auto& span : groups.groups[static_cast<std::size_t>(b)])
      for (auto r = span.begin; r < span.end; ++r) positions.push_back(r - b * T);
    if (positions.empty()) continue;
    const auto n = static_cast<std::int64_t>(positions.size());
    const bool prefix = positions.front() == 0 && positions.back() == n - 1;
    // Sequence b's real positions along `dim` of t's batch row b.
    auto pick = [&](const Tensor& t, std::int64_t dim) {
      if (prefix) return t.narrow(dim, 0, n);
      return t.index_select(dim, torch::tensor(positions, torch::kLong).to(t.device()));
    };
    auto row = [&](const Tensor& t) { return t.narrow(0, b, 1); };
    auto a = pick(pick(row(allowed.expand({B, allowed.size(1), T, T})), 2), 3);
    auto o = batched_attention(pick(row(q), 2), pick(row(k), 2), pick(row(v), 2), a, scale);
    if (prefix) {
      out.narrow(0, b, 1).narrow(2, 0, n).copy_(o);
    } else {
      out.narrow(0, b, 1).index_copy_(2, torch::tensor(positions, torch::kLong).to(out.device()), o);
    }
  }
  return out;
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& allowed, double scale) {
  // Models whose later layers quantize activations dynamically turn float32 rounding differences
  // into different integers; their forward passes describe the sequences (row_groups.hpp) and get
  // attention computed exactly as for each sequence alone.
  const RowGroups* groups = current_row_groups();
  const auto B = q.size(0), T = q.size(2);
  if (groups != nullptr && B > 1 && groups->rows == B * T && static_cast<std::int64_t>(groups->groups.size()) == B)
    return per_sequence_attention(q, k, v, allowed, scale, *groups);
  return batched_attention(q, k, v, allowed, scale);
}

Tensor split_heads(const Tensor& x, std::int64_t heads, std::int64_t head_dim) {
  return x.view({x.size(0), x.size(1), heads, head_dim}).permute({0, 2, 1, 3});
}

Tensor merge_heads(const Tensor& x) {
  auto y = x.permute({0, 2, 1, 3}).contiguous();
  return y.view({y.size(0), y.size(1), y.size(2) * y.size(3)});
}

RotaryEmbedding::RotaryEmbedding(std::int64_t dim, double base, const RopeScaling& scaling) : dim_(dim) {
  if (dim <= 0) return;
  if (dim % 2 != 0) throw std::runtime_error("rotary dimension " + std::to_string(dim) + " must be even");
  // HF: 1 / base ** (arange(0, dim, 2) / dim), in float32.
  auto exponents = torch::arange(0, dim, 2, torch::kLong).to(torch::kFloat32) / static_cast<double>(dim);
  auto inv_freq = torch::reciprocal(torch::pow(base, exponents));
  if (scaling.type == "linear") {
    inv_freq = inv_freq / scaling.factor;
  } else if (scaling.type == "llama3") {
    // Llama 3.1: keep high frequencies, divide low ones by factor, interpolate in between.
    const double old_len = static_cast<double>(scaling.original_max_position_embeddings);
    const double low_wavelen = old_len / scaling.low_freq_factor;
    const double high_wavelen = old_len / scaling.high_freq_factor;
    auto wavelen = torch::reciprocal(inv_freq) * (2.0 * M_PI);
    auto scaled = torch::where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq);
    auto smooth = (torch::reciprocal(wavelen) * old_len - scaling.low_freq_factor) /
                  (scaling.high_freq_factor - scaling.low_freq_factor);
    auto smoothed = (1.0 - smooth) * scaled / scaling.factor + smooth * scaled;
    auto medium = wavelen.ge(high_wavelen).logical_and(wavelen.le(low_wavelen));
    inv_freq = torch::where(medium, smoothed, scaled);
  } else if (scaling.type != "default") {
    throw std::runtime_error("unsupported rope scaling '" + scaling.type + "'");
  }
  inv_freq_ = inv_freq.contiguous();
}

std::pair<Tensor, Tensor> RotaryEmbedding::cos_sin(const Tensor& position_ids, torch::Dtype dtype) const {
  auto inv = inv_freq_.to(position_ids.device());
  auto freqs = position_ids.to(torch::kFloat32).unsqueeze(-1) * inv;  // [B,T,dim/2]
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype).unsqueeze(1), emb.sin().to(dtype).unsqueeze(1)};
}

Tensor RotaryEmbedding::apply(const Tensor& x, const Tensor& cos, const Tensor& sin) const {
  if (dim_ <= 0) return x;
  const auto D = x.size(-1);
  auto rot = dim_ == D ? x : x.narrow(-1, 0, dim_);
  const auto half = dim_ / 2;
  auto rotated_half = torch::cat({-rot.narrow(-1, half, half), rot.narrow(-1, 0, half)}, -1);
  auto out = rot * cos + rotated_half * sin;
  if (dim_ == D) return out;
  return torch::cat({out, x.narrow(-1, dim_, D - dim_)}, -1);
}

Tensor default_positions(const Tensor& input_ids) {
  const auto T = input_ids.size(1);
  return torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(input_ids.device()))
      .unsqueeze(0)
      .expand({input_ids.size(0), T});
}

void check_positions(const Tensor& position_ids, std::int64_t max_positions, const std::string& what) {
  if (position_ids.numel() == 0) return;
  const auto hi = position_ids.max().item<std::int64_t>();
  const auto lo = position_ids.min().item<std::int64_t>();
  if (lo < 0 || hi >= max_positions) {
    throw std::invalid_argument(what + ": position id " + std::to_string(lo < 0 ? lo : hi) +
                                " is outside the " + std::to_string(max_positions) +
                                " learned positions (sequence too long?)");
  }
}

}  // namespace biaslab::runtime::detail
