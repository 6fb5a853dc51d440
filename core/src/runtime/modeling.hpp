#pragma once
// Building blocks shared by the architectures, each written to match the HF module it replaces.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "biaslab/runtime/model_config.hpp"

namespace biaslab::runtime::detail {

using Activation = std::function<torch::Tensor(const torch::Tensor&)>;

// HF ACT2FN names: gelu (erf), gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, relu, silu/swish, tanh.
Activation activation(const std::string& name);

torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps);
// LlamaRMSNorm: normalise in float32, cast back, then scale.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// Which keys each query may attend to: bool [B,1,T,T]. attention_mask [B,T] (1 = token).
// sliding_window w: query i sees keys j with i - w < j (Mistral / Qwen2 sliding layers).
torch::Tensor attention_allowed(const torch::Tensor& attention_mask, bool causal,
                                std::optional<std::int64_t> sliding_window = std::nullopt);

// Eager scaled dot-product attention. q [B,H,T,D]; k, v [B,Hkv,T,D] (grouped-query attention
// repeats each kv head H/Hkv times). Scores are masked with the float32 minimum and normalised in
// float32, as HF's eager paths do. Returns [B,H,T,D] in q's dtype.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& allowed, double scale);

// [B,T,H*D] -> [B,H,T,D] and back.
torch::Tensor split_heads(const torch::Tensor& x, std::int64_t heads, std::int64_t head_dim);
torch::Tensor merge_heads(const torch::Tensor& x);

// Rotary position embedding over the first `dim` features of each head (HF rotate_half layout).
class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(std::int64_t dim, double base, const RopeScaling& scaling);
  std::int64_t dim() const { return dim_; }
  // cos, sin [B,1,T,dim] in dtype, for position_ids [B,T].
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& position_ids, torch::Dtype dtype) const;
  // x [B,H,T,D]: rotates x[..., :dim], passes the rest through.
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) const;
  const torch::Tensor& inv_freq() const { return inv_freq_; }

 private:
  std::int64_t dim_ = 0;
  torch::Tensor inv_freq_;  // float32 [dim/2], CPU; moved per call
};

// arange(T) broadcast to [B,T].
torch::Tensor default_positions(const torch::Tensor& input_ids);
// Throws if any position id is outside [0, max_positions).
void check_positions(const torch::Tensor& position_ids, std::int64_t max_positions, const std::string& what);

}  // namespace biaslab::runtime::detail
