// GPTNeoXForCausalLM (Pythia): pre-LN blocks, fused per-head interleaved qkv, rotary on the first
// rotary_pct of each head, parallel or sequential residual, untied embed_out by default.
#include <cmath>

#include "../modeling.hpp"
#include "architectures.hpp"

namespace biaslab::runtime::detail {

namespace {

using torch::Tensor;

class GptNeoxModel final : public TransformerModel {
 public:
  using TransformerModel::TransformerModel;

  Tensor logits_from_hidden(const Tensor& last_hidden) const override {
    c10::InferenceMode guard;
    check_runnable();
    return (*embed_out_)(last_hidden.to(device_, dtype_)).to(torch::kFloat32);
  }

 protected:
  ModelSpec build_spec() const override {
    const auto& c = config_;
    const auto H = c.hidden_size, I = c.intermediate_size;
    ModelSpec s;
    s.base_prefix = "gpt_neox";
    s.params.push_back({"gpt_neox.embed_in.weight", {c.vocab_size, H}});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "gpt_neox.layers." + std::to_string(i) + ".";
      for (const char* ln : {"input_layernorm", "post_attention_layernorm"}) {
        s.params.push_back({p + ln + ".weight", {H}});
        s.params.push_back({p + ln + ".bias", {H}});
      }
      s.linears.push_back({p + "attention.query_key_value", H, 3 * H, c.qkv_bias});
      s.linears.push_back({p + "attention.dense", H, H, c.attention_output_bias});
      s.linears.push_back({p + "mlp.dense_h_to_4h", H, I, true});
      s.linears.push_back({p + "mlp.dense_4h_to_h", I, H, true});
    }
    s.params.push_back({"gpt_neox.final_layer_norm.weight", {H}});
    s.params.push_back({"gpt_neox.final_layer_norm.bias", {H}});
    LinearSpec head{"embed_out", H, c.vocab_size, false};
    head.tied_weight = "gpt_neox.embed_in.weight";
    head.output_head = true;
    s.linears.push_back(head);
    // Buffers that older checkpoints stored.
    s.ignored.emplace_back(R"(gpt_neox\.layers\.\d+\.attention\.(bias|masked_bias|rotary_emb\.inv_freq))");
    return s;
  }

  void bind() override {
    const auto& c = config_;
    layers_.clear();
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "gpt_neox.layers." + std::to_string(i) + ".";
      layers_.push_back({param(p + "input_layernorm.weight"), param(p + "input_layernorm.bias"),
                         param(p + "post_attention_layernorm.weight"), param(p + "post_attention_layernorm.bias"),
                         &slot(p + "attention.query_key_value"), &slot(p + "attention.dense"),
                         &slot(p + "mlp.dense_h_to_4h"), &slot(p + "mlp.dense_4h_to_h")});
    }
    embed_in_ = param("gpt_neox.embed_in.weight");
    final_w_ = param("gpt_neox.final_layer_norm.weight");
    final_b_ = param("gpt_neox.final_layer_norm.bias");
    embed_out_ = &slot("embed_out");
    act_ = activation(c.hidden_act);
    rotary_ = RotaryEmbedding(static_cast<std::int64_t>(static_cast<double>(c.head_dim) * c.rotary_fraction),
                              c.rope_theta, c.rope_scaling);
  }

  std::vector<Tensor> encode(const Tensor& ids, const Tensor& mask, const Tensor& position_ids,
                             bool all_layers) const override {
    check_runnable();
    const auto& c = config_;
    const auto pos = position_ids.defined() ? position_ids : default_positions(ids);
    auto allowed = attention_allowed(mask, /*causal=*/true);
    auto [cos, sin] = rotary_.cos_sin(pos, dtype_);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
    const auto D = c.head_dim, heads = c.num_heads;

    auto h = torch::embedding(embed_in_, ids);
    std::vector<Tensor> states;
    for (const auto& L : layers_) {
      if (all_layers) states.push_back(h);
      auto x = layer_norm(h, L.ln1_w, L.ln1_b, c.norm_eps);
      // [B,T,heads*3*D] is laid out per head as (q, k, v).
      auto qkv = (*L.qkv)(x);
      qkv = qkv.view({qkv.size(0), qkv.size(1), heads, 3 * D});
      auto q = qkv.narrow(-1, 0, D).permute({0, 2, 1, 3});
      auto k = qkv.narrow(-1, D, D).permute({0, 2, 1, 3});
      auto v = qkv.narrow(-1, 2 * D, D).permute({0, 2, 1, 3});
      q = rotary_.apply(q, cos, sin);
      k = rotary_.apply(k, cos, sin);
      auto attn = (*L.dense)(merge_heads(attention(q, k, v, allowed, scale)));
      if (c.use_parallel_residual) {
        auto mlp = (*L.fc_out)(act_((*L.fc_in)(layer_norm(h, L.ln2_w, L.ln2_b, c.norm_eps))));
        h = mlp + attn + h;
      } else {
        auto a = attn + h;
        auto mlp = (*L.fc_out)(act_((*L.fc_in)(layer_norm(a, L.ln2_w, L.ln2_b, c.norm_eps))));
        h = mlp + a;
      }
    }
    h = layer_norm(h, final_w_, final_b_, c.norm_eps);
    states.push_back(h);
    return states;
  }

 private:
  struct Layer {
    Tensor ln1_w, ln1_b, ln2_w, ln2_b;
    Linear *qkv, *dense, *fc_in, *fc_out;
  };
  std::vector<Layer> layers_;
  Tensor embed_in_, final_w_, final_b_;
  Linear* embed_out_ = nullptr;
  Activation act_;
  RotaryEmbedding rotary_;
};

}  // namespace

std::unique_ptr<TransformerModel> make_gpt_neox(ModelConfig config) {
  return std::make_unique<GptNeoxModel>(std::move(config));
}

}  // namespace biaslab::runtime::detail
