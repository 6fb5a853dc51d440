// LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM: RMSNorm pre-norm blocks, rotary
// attention with grouped-query heads, SwiGLU MLP. Differences: Qwen2 has q/k/v biases, Llama
// optional attention/MLP biases (attention_bias, mlp_bias), Mistral (and Qwen2 with
// use_sliding_window, from layer max_window_layers on) a sliding attention window.
#include <cmath>

#include "../modeling.hpp"
#include "architectures.hpp"

namespace biaslab::runtime::detail {

namespace {

using torch::Tensor;

class LlamaModel final : public TransformerModel {
 public:
  using TransformerModel::TransformerModel;

  Tensor logits_from_hidden(const Tensor& last_hidden) const override {
    c10::InferenceMode guard;
    check_runnable();
    return (*lm_head_)(last_hidden.to(device_, dtype_)).to(torch::kFloat32);
  }

 protected:
  ModelSpec build_spec() const override {
    const auto& c = config_;
    const auto H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
    ModelSpec s;
    s.base_prefix = "model";
    s.params.push_back({"model.embed_tokens.weight", {c.vocab_size, H}});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "model.layers." + std::to_string(i) + ".";
      s.params.push_back({p + "input_layernorm.weight", {H}});
      s.params.push_back({p + "post_attention_layernorm.weight", {H}});
      s.linears.push_back({p + "self_attn.q_proj", H, c.num_heads * D, c.qkv_bias});
      s.linears.push_back({p + "self_attn.k_proj", H, c.num_kv_heads * D, c.qkv_bias});
      s.linears.push_back({p + "self_attn.v_proj", H, c.num_kv_heads * D, c.qkv_bias});
      s.linears.push_back({p + "self_attn.o_proj", c.num_heads * D, H, c.attention_output_bias});
      s.linears.push_back({p + "mlp.gate_proj", H, I, c.mlp_bias});
      s.linears.push_back({p + "mlp.up_proj", H, I, c.mlp_bias});
      s.linears.push_back({p + "mlp.down_proj", I, H, c.mlp_bias});
    }
    s.params.push_back({"model.norm.weight", {H}});
    LinearSpec head{"lm_head", H, c.vocab_size, false};
    head.tied_weight = "model.embed_tokens.weight";
    head.output_head = true;
    s.linears.push_back(head);
    s.ignored.emplace_back(R"(model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq)");
    return s;
  }

  void bind() override {
    const auto& c = config_;
    layers_.clear();
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "model.layers." + std::to_string(i) + ".";
      Layer L{param(p + "input_layernorm.weight"), param(p + "post_attention_layernorm.weight"),
              &slot(p + "self_attn.q_proj"), &slot(p + "self_attn.k_proj"), &slot(p + "self_attn.v_proj"),
              &slot(p + "self_attn.o_proj"), &slot(p + "mlp.gate_proj"), &slot(p + "mlp.up_proj"),
              &slot(p + "mlp.down_proj"), false};
      // Qwen2 windows only the layers from max_window_layers on; Mistral every layer.
      L.sliding = c.sliding_window.has_value() &&
                  (c.architecture != Architecture::qwen2 || i >= c.max_window_layers);
      layers_.push_back(L);
    }
    embed_ = param("model.embed_tokens.weight");
    norm_ = param("model.norm.weight");
    lm_head_ = &slot("lm_head");
    act_ = activation(c.hidden_act);
    rotary_ = RotaryEmbedding(static_cast<std::int64_t>(static_cast<double>(c.head_dim) * c.rotary_fraction),
                              c.rope_theta, c.rope_scaling);
  }

  std::vector<Tensor> encode(const Tensor& ids, const Tensor& mask, const Tensor& position_ids,
                             bool all_layers) const override {
    check_runnable();
    const auto& c = config_;
    const auto pos = position_ids.defined() ? position_ids : default_positions(ids);
    auto full = attention_allowed(mask, /*causal=*/true);
    Tensor windowed;
    if (c.sliding_window) windowed = attention_allowed(mask, /*causal=*/true, c.sliding_window);
    auto [cos, sin] = rotary_.cos_sin(pos, dtype_);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));

    auto h = torch::embedding(embed_, ids);
    std::vector<Tensor> states;
    for (const auto& L : layers_) {
      if (all_layers) states.push_back(h);
      auto x = rms_norm(h, L.ln1, c.norm_eps);
      auto q = rotary_.apply(split_heads((*L.q)(x), c.num_heads, c.head_dim), cos, sin);
      auto k = rotary_.apply(split_heads((*L.k)(x), c.num_kv_heads, c.head_dim), cos, sin);
      auto v = split_heads((*L.v)(x), c.num_kv_heads, c.head_dim);
      h = h + (*L.o)(merge_heads(attention(q, k, v, L.sliding ? windowed : full, scale)));
      x = rms_norm(h, L.ln2, c.norm_eps);
      h = h + (*L.down)(act_((*L.gate)(x)) * (*L.up)(x));
    }
    h = rms_norm(h, norm_, c.norm_eps);
    states.push_back(h);
    return states;
  }

 private:
  struct Layer {
    Tensor ln1, ln2;
    Linear *q, *k, *v, *o, *gate, *up, *down;
    bool sliding;
  };
  std::vector<Layer> layers_;
  Tensor embed_, norm_;
  Linear* lm_head_ = nullptr;
  Activation act_;
  RotaryEmbedding rotary_;
};

}  // namespace

std::unique_ptr<TransformerModel> make_llama(ModelConfig config) {
  return std::make_unique<LlamaModel>(std::move(config));
}

}  // namespace biaslab::runtime::detail
