// BertForMaskedLM and RobertaForMaskedLM: post-LN encoder, word + position + token-type (0)
// embeddings, MLM head = dense + activation + LayerNorm + decoder tied to the word embeddings with
// its bias tied to the head's bias. RoBERTa counts positions from padding_idx + 1 over non-pad ids.
#include <cmath>

#include "../modeling.hpp"
#include "architectures.hpp"

namespace biaslab::runtime::detail {

namespace {

using torch::Tensor;

class BertModel final : public TransformerModel {
 public:
  using TransformerModel::TransformerModel;

  Tensor logits_from_hidden(const Tensor& last_hidden) const override {
    c10::InferenceMode guard;
    check_runnable();
    auto x = (*head_dense_)(last_hidden.to(device_, dtype_));
    x = layer_norm(head_act_(x), head_ln_w_, head_ln_b_, config_.norm_eps);
    return (*decoder_)(x).to(torch::kFloat32);
  }

 protected:
  bool roberta() const { return config_.architecture == Architecture::roberta; }
  std::string base() const { return roberta() ? "roberta." : "bert."; }

  ModelSpec build_spec() const override {
    const auto& c = config_;
    const auto H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
    const auto b = base();
    ModelSpec s;
    s.base_prefix = roberta() ? "roberta" : "bert";
    s.params.push_back({b + "embeddings.word_embeddings.weight", {V, H}});
    s.params.push_back({b + "embeddings.position_embeddings.weight", {c.max_position_embeddings, H}});
    s.params.push_back({b + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, H}});
    s.params.push_back({b + "embeddings.LayerNorm.weight", {H}});
    s.params.push_back({b + "embeddings.LayerNorm.bias", {H}});
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = b + "encoder.layer." + std::to_string(i) + ".";
      s.linears.push_back({p + "attention.self.query", H, H, true});
      s.linears.push_back({p + "attention.self.key", H, H, true});
      s.linears.push_back({p + "attention.self.value", H, H, true});
      s.linears.push_back({p + "attention.output.dense", H, H, true});
      s.linears.push_back({p + "intermediate.dense", H, I, true});
      s.linears.push_back({p + "output.dense", I, H, true});
      for (const char* ln : {"attention.output.LayerNorm", "output.LayerNorm"}) {
        s.params.push_back({p + ln + ".weight", {H}});
        s.params.push_back({p + ln + ".bias", {H}});
      }
    }
    const std::string head = roberta() ? "lm_head." : "cls.predictions.";
    const std::string transform = roberta() ? "lm_head." : "cls.predictions.transform.";
    const std::string ln = roberta() ? "lm_head.layer_norm" : "cls.predictions.transform.LayerNorm";
    s.linears.push_back({transform + "dense", H, H, true});
    s.params.push_back({ln + ".weight", {H}});
    s.params.push_back({ln + ".bias", {H}});
    s.params.push_back({head + "bias", {V}});
    LinearSpec decoder{head + "decoder", H, V, true};
    decoder.tied_weight = b + "embeddings.word_embeddings.weight";
    decoder.tied_bias = head + "bias";
    decoder.output_head = true;
    s.linears.push_back(decoder);
    // Buffers of older checkpoints, and heads BertForMaskedLM does not have (HF drops them too).
    s.ignored.emplace_back((roberta() ? R"(roberta)" : R"(bert)") + std::string(R"(\.embeddings\.(position_ids|token_type_ids))"));
    s.ignored.emplace_back((roberta() ? R"(roberta)" : R"(bert)") + std::string(R"(\.pooler\..*)"));
    s.ignored.emplace_back(R"(cls\.seq_relationship\..*)");
    return s;
  }

  void bind() override {
    const auto& c = config_;
    const auto b = base();
    word_ = param(b + "embeddings.word_embeddings.weight");
    position_ = param(b + "embeddings.position_embeddings.weight");
    token_type_ = param(b + "embeddings.token_type_embeddings.weight");
    emb_ln_w_ = param(b + "embeddings.LayerNorm.weight");
    emb_ln_b_ = param(b + "embeddings.LayerNorm.bias");
    layers_.clear();
    for (std::int64_t i = 0; i < c.num_layers; ++i) {
      const auto p = b + "encoder.layer." + std::to_string(i) + ".";
      layers_.push_back({&slot(p + "attention.self.query"), &slot(p + "attention.self.key"),
                         &slot(p + "attention.self.value"), &slot(p + "attention.output.dense"),
                         &slot(p + "intermediate.dense"), &slot(p + "output.dense"),
                         param(p + "attention.output.LayerNorm.weight"), param(p + "attention.output.LayerNorm.bias"),
                         param(p + "output.LayerNorm.weight"), param(p + "output.LayerNorm.bias")});
    }
    const std::string ln = roberta() ? "lm_head.layer_norm" : "cls.predictions.transform.LayerNorm";
    head_dense_ = &slot(roberta() ? "lm_head.dense" : "cls.predictions.transform.dense");
    head_ln_w_ = param(ln + ".weight");
    head_ln_b_ = param(ln + ".bias");
    decoder_ = &slot(roberta() ? "lm_head.decoder" : "cls.predictions.decoder");
    act_ = activation(c.hidden_act);
    // RobertaLMHead applies exact gelu whatever hidden_act says.
    head_act_ = roberta() ? activation("gelu") : act_;
  }

  std::vector<Tensor> encode(const Tensor& ids, const Tensor& mask, const Tensor& position_ids,
                             bool all_layers) const override {
    check_runnable();
    const auto& c = config_;
    Tensor pos = position_ids;
    if (!pos.defined()) {
      if (roberta()) {
        const auto pad = *c.pad_token_id;
        auto real = ids.ne(pad).to(torch::kLong);
        pos = torch::cumsum(real, 1) * real + pad;
      } else {
        pos = default_positions(ids);
      }
    }
    check_positions(pos, c.max_position_embeddings, architecture());
    auto allowed = attention_allowed(mask, /*causal=*/false);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));

    // token_type_ids are all 0 (HF's default buffer).
    auto h = torch::embedding(word_, ids) + token_type_[0];
    h = h + torch::embedding(position_, pos);
    h = layer_norm(h, emb_ln_w_, emb_ln_b_, c.norm_eps);
    std::vector<Tensor> states;
    if (all_layers) states.push_back(h);
    for (const auto& L : layers_) {
      auto q = split_heads((*L.query)(h), c.num_heads, c.head_dim);
      auto k = split_heads((*L.key)(h), c.num_heads, c.head_dim);
      auto v = split_heads((*L.value)(h), c.num_heads, c.head_dim);
      auto context = merge_heads(attention(q, k, v, allowed, scale));
      auto a = layer_norm((*L.attn_out)(context) + h, L.attn_ln_w, L.attn_ln_b, c.norm_eps);
      auto inter = act_((*L.intermediate)(a));
      h = layer_norm((*L.output)(inter) + a, L.out_ln_w, L.out_ln_b, c.norm_eps);
      if (all_layers) states.push_back(h);
    }
    if (!all_layers) states.push_back(h);
    return states;
  }

 private:
  struct Layer {
    Linear *query, *key, *value, *attn_out, *intermediate, *output;
    Tensor attn_ln_w, attn_ln_b, out_ln_w, out_ln_b;
  };
  std::vector<Layer> layers_;
  Tensor word_, position_, token_type_, emb_ln_w_, emb_ln_b_, head_ln_w_, head_ln_b_;
  Linear *head_dense_ = nullptr, *decoder_ = nullptr;
  Activation act_, head_act_;
};

}  // namespace

std::unique_ptr<TransformerModel> make_bert(ModelConfig config) {
  return std::make_unique<BertModel>(std::move(config));
}

}  // namespace biaslab::runtime::detail
