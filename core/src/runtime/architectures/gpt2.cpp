// GPT2LMHeadModel: learned positions, pre-LN blocks, Conv1D projections (stored [in, out], held
// [out, in] in the Linear slots), gelu_new MLP, lm_head tied to wte.
#include <cmath>

#include "../modeling.hpp"
#include "architectures.hpp"

namespace biaslab::runtime::detail {

namespace {

using torch::Tensor;

class Gpt2Model final : public TransformerModel {
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
    const auto H = c.hidden_size, I = c.intermediate_size;
    ModelSpec s;
    s.base_prefix = "transformer";
    s.params.push_back({"transformer.wte.weight", {c.vocab_size, H}});
    s.params.push_back({"transformer.wpe.weight", {c.max_position_embeddings, H}});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "transformer.h." + std::to_string(i) + ".";
      for (const char* ln : {"ln_1", "ln_2"}) {
        s.params.push_back({p + ln + ".weight", {H}});
        s.params.push_back({p + ln + ".bias", {H}});
      }
      s.linears.push_back({p + "attn.c_attn", H, 3 * H, true, true});
      s.linears.push_back({p + "attn.c_proj", H, H, true, true});
      s.linears.push_back({p + "mlp.c_fc", H, I, true, true});
      s.linears.push_back({p + "mlp.c_proj", I, H, true, true});
    }
    s.params.push_back({"transformer.ln_f.weight", {H}});
    s.params.push_back({"transformer.ln_f.bias", {H}});
    LinearSpec head{"lm_head", H, c.vocab_size, false};
    head.tied_weight = "transformer.wte.weight";
    head.output_head = true;
    s.linears.push_back(head);
    s.ignored.emplace_back(R"(transformer\.h\.\d+\.attn\.(bias|masked_bias))");
    return s;
  }

  void bind() override {
    const auto& c = config_;
    layers_.clear();
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "transformer.h." + std::to_string(i) + ".";
      layers_.push_back({param(p + "ln_1.weight"), param(p + "ln_1.bias"), param(p + "ln_2.weight"),
                         param(p + "ln_2.bias"), &slot(p + "attn.c_attn"), &slot(p + "attn.c_proj"),
                         &slot(p + "mlp.c_fc"), &slot(p + "mlp.c_proj")});
    }
    wte_ = param("transformer.wte.weight");
    wpe_ = param("transformer.wpe.weight");
    ln_f_w_ = param("transformer.ln_f.weight");
    ln_f_b_ = param("transformer.ln_f.bias");
    lm_head_ = &slot("lm_head");
    act_ = activation(c.hidden_act);
  }

  std::vector<Tensor> encode(const Tensor& ids, const Tensor& mask, const Tensor& position_ids,
                             bool all_layers) const override {
    check_runnable();
    const auto& c = config_;
    const auto pos = position_ids.defined() ? position_ids : default_positions(ids);
    check_positions(pos, c.max_position_embeddings, architecture());
    auto allowed = attention_allowed(mask, /*causal=*/true);
    const auto H = c.hidden_size, D = c.head_dim;

    auto h = torch::embedding(wte_, ids) + torch::embedding(wpe_, pos);
    std::vector<Tensor> states;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const auto& L = layers_[i];
      if (all_layers) states.push_back(h);
      double scale = c.scale_attn_weights ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0;
      if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<double>(i + 1);
      auto qkv = (*L.c_attn)(layer_norm(h, L.ln1_w, L.ln1_b, c.norm_eps));
      auto q = split_heads(qkv.narrow(-1, 0, H), c.num_heads, D);
      auto k = split_heads(qkv.narrow(-1, H, H), c.num_heads, D);
      auto v = split_heads(qkv.narrow(-1, 2 * H, H), c.num_heads, D);
      h = h + (*L.c_proj)(merge_heads(attention(q, k, v, allowed, scale)));
      h = h + (*L.mlp_proj)(act_((*L.c_fc)(layer_norm(h, L.ln2_w, L.ln2_b, c.norm_eps))));
    }
    h = layer_norm(h, ln_f_w_, ln_f_b_, c.norm_eps);
    states.push_back(h);
    return states;
  }

 private:
  struct Layer {
    Tensor ln1_w, ln1_b, ln2_w, ln2_b;
    Linear *c_attn, *c_proj, *c_fc, *mlp_proj;
  };
  std::vector<Layer> layers_;
  Tensor wte_, wpe_, ln_f_w_, ln_f_b_;
  Linear* lm_head_ = nullptr;
  Activation act_;
};

}  // namespace

std::unique_ptr<TransformerModel> make_gpt2(ModelConfig config) {
  return std::make_unique<Gpt2Model>(std::move(config));
}

}  // namespace biaslab::runtime::detail
