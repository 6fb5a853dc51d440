// DistilBertForMaskedLM: word + learned position embeddings (no token types), post-LN blocks
// (sa_layer_norm, output_layer_norm, eps 1e-12), head = vocab_transform + activation +
// vocab_layer_norm + vocab_projector (weight tied to the word embeddings, own bias).
#include <cmath>

#include "../modeling.hpp"
#include "architectures.hpp"

namespace biaslab::runtime::detail {

namespace {

using torch::Tensor;

class DistilBertModel final : public TransformerModel {
 public:
  using TransformerModel::TransformerModel;

  Tensor logits_from_hidden(const Tensor& last_hidden) const override {
    c10::InferenceMode guard;
    check_runnable();
    auto x = act_((*vocab_transform_)(last_hidden.to(device_, dtype_)));
    x = layer_norm(x, vocab_ln_w_, vocab_ln_b_, config_.norm_eps);
    return (*vocab_projector_)(x).to(torch::kFloat32);
  }

 protected:
  ModelSpec build_spec() const override {
    const auto& c = config_;
    const auto D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
    ModelSpec s;
    s.base_prefix = "distilbert";
    s.params.push_back({"distilbert.embeddings.word_embeddings.weight", {V, D}});
    s.params.push_back({"distilbert.embeddings.position_embeddings.weight", {c.max_position_embeddings, D}});
    s.params.push_back({"distilbert.embeddings.LayerNorm.weight", {D}});
    s.params.push_back({"distilbert.embeddings.LayerNorm.bias", {D}});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "distilbert.transformer.layer." + std::to_string(i) + ".";
      for (const char* lin : {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
        s.linears.push_back({p + lin, D, D, true});
      }
      s.linears.push_back({p + "ffn.lin1", D, I, true});
      s.linears.push_back({p + "ffn.lin2", I, D, true});
      for (const char* ln : {"sa_layer_norm", "output_layer_norm"}) {
        s.params.push_back({p + ln + ".weight", {D}});
        s.params.push_back({p + ln + ".bias", {D}});
      }
    }
    s.linears.push_back({"vocab_transform", D, D, true});
    s.params.push_back({"vocab_layer_norm.weight", {D}});
    s.params.push_back({"vocab_layer_norm.bias", {D}});
    LinearSpec projector{"vocab_projector", D, V, true};
    projector.tied_weight = "distilbert.embeddings.word_embeddings.weight";
    projector.output_head = true;
    s.linears.push_back(projector);
    s.ignored.emplace_back(R"(distilbert\.embeddings\.position_ids)");
    return s;
  }

  void bind() override {
    const auto& c = config_;
    word_ = param("distilbert.embeddings.word_embeddings.weight");
    position_ = param("distilbert.embeddings.position_embeddings.weight");
    emb_ln_w_ = param("distilbert.embeddings.LayerNorm.weight");
    emb_ln_b_ = param("distilbert.embeddings.LayerNorm.bias");
    layers_.clear();
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = "distilbert.transformer.layer." + std::to_string(i) + ".";
      layers_.push_back({&slot(p + "attention.q_lin"), &slot(p + "attention.k_lin"), &slot(p + "attention.v_lin"),
                         &slot(p + "attention.out_lin"), &slot(p + "ffn.lin1"), &slot(p + "ffn.lin2"),
                         param(p + "sa_layer_norm.weight"), param(p + "sa_layer_norm.bias"),
                         param(p + "output_layer_norm.weight"), param(p + "output_layer_norm.bias")});
    }
    vocab_transform_ = &slot("vocab_transform");
    vocab_projector_ = &slot("vocab_projector");
    vocab_ln_w_ = param("vocab_layer_norm.weight");
    vocab_ln_b_ = param("vocab_layer_norm.bias");
    act_ = activation(c.hidden_act);
  }

  std::vector<Tensor> encode(const Tensor& ids, const Tensor& mask, const Tensor& position_ids,
                             bool all_layers) const override {
    check_runnable();
    const auto& c = config_;
    const auto pos = position_ids.defined() ? position_ids : default_positions(ids);
    check_positions(pos, c.max_position_embeddings, architecture());
    auto allowed = attention_allowed(mask, /*causal=*/false);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));

    auto h = torch::embedding(word_, ids) + torch::embedding(position_, pos);
    h = layer_norm(h, emb_ln_w_, emb_ln_b_, c.norm_eps);
    std::vector<Tensor> states;
    if (all_layers) states.push_back(h);
    for (const auto& L : layers_) {
      auto q = split_heads((*L.q)(h), c.num_heads, c.head_dim);
      auto k = split_heads((*L.k)(h), c.num_heads, c.head_dim);
      auto v = split_heads((*L.v)(h), c.num_heads, c.head_dim);
      auto sa = (*L.out)(merge_heads(attention(q, k, v, allowed, scale)));
      sa = layer_norm(sa + h, L.sa_ln_w, L.sa_ln_b, c.norm_eps);
      auto ffn = (*L.lin2)(act_((*L.lin1)(sa)));
      h = layer_norm(ffn + sa, L.out_ln_w, L.out_ln_b, c.norm_eps);
      if (all_layers) states.push_back(h);
    }
    if (!all_layers) states.push_back(h);
    return states;
  }

 private:
  struct Layer {
    Linear *q, *k, *v, *out, *lin1, *lin2;
    Tensor sa_ln_w, sa_ln_b, out_ln_w, out_ln_b;
  };
  std::vector<Layer> layers_;
  Tensor word_, position_, emb_ln_w_, emb_ln_b_, vocab_ln_w_, vocab_ln_b_;
  Linear *vocab_transform_ = nullptr, *vocab_projector_ = nullptr;
  Activation act_;
};

}  // namespace

std::unique_ptr<TransformerModel> make_distilbert(ModelConfig config) {
  return std::make_unique<DistilBertModel>(std::move(config));
}

}  // namespace biaslab::runtime::detail
