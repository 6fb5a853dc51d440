#include "biaslab/runtime/train/gpt_neox_lm.hpp"

#include <cmath>
#include <stdexcept>

#include "biaslab/runtime/model_config.hpp"
#include "runtime/modeling.hpp"

namespace biaslab::runtime::train {

namespace nn = torch::nn;
using torch::Tensor;

namespace {
std::runtime_error config_error(const std::string& field, const std::string& what) {
  return std::runtime_error("GPT-NeoX config: '" + field + "' " + what);
}
}  // namespace

void GptNeoxConfig::validate() const {
  auto positive = [](const char* field, std::int64_t v) {
    if (v <= 0) throw config_error(field, "must be positive, found " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_layers);
  positive("num_attention_heads", num_heads);
  positive("intermediate_size", intermediate_size);
  positive("max_position_embeddings", max_position_embeddings);
  if (hidden_size % num_heads != 0) {
    throw config_error("hidden_size", std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                                          std::to_string(num_heads));
  }
  if (!(rotary_pct >= 0.0 && rotary_pct <= 1.0)) throw config_error("rotary_pct", "must be in [0, 1]");
  const auto head_dim = hidden_size / num_heads;
  const auto rotary_dims = static_cast<std::int64_t>(static_cast<double>(head_dim) * rotary_pct);
  if (rotary_dims % 2 != 0) {
    throw config_error("rotary_pct", "gives " + std::to_string(rotary_dims) + " rotary dimensions per head (head size " +
                                         std::to_string(head_dim) + "); they must be even");
  }
  if (!(layer_norm_eps > 0)) throw config_error("layer_norm_eps", "must be positive");
  detail::activation(hidden_act);  // throws for unknown names
}

nlohmann::json GptNeoxConfig::to_hf_json() const {
  nlohmann::json j = {
      {"architectures", {"GPTNeoXForCausalLM"}},
      {"model_type", "gpt_neox"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_layers},
      {"num_attention_heads", num_heads},
      {"intermediate_size", intermediate_size},
      {"hidden_act", hidden_act},
      {"rotary_pct", rotary_pct},
      {"partial_rotary_factor", rotary_pct},
      {"rotary_emb_base", rotary_emb_base},
      {"rope_theta", rotary_emb_base},
      {"rope_scaling", nullptr},
      {"max_position_embeddings", max_position_embeddings},
      {"initializer_range", initializer_range},
      {"layer_norm_eps", layer_norm_eps},
      {"use_parallel_residual", use_parallel_residual},
      {"attention_bias", true},
      {"attention_dropout", 0.0},
      {"hidden_dropout", 0.0},
      {"classifier_dropout", 0.1},
      {"tie_word_embeddings", false},
      {"use_cache", true},
      {"bos_token_id", bos_token_id},
      {"eos_token_id", eos_token_id},
      {"torch_dtype", "float32"},
  };
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  return j;
}

GptNeoxConfig GptNeoxConfig::from_hf_json(const nlohmann::json& config, const std::string& source) {
  const auto m = ModelConfig::from_json(config, source);
  if (m.architecture != Architecture::gpt_neox) {
    throw std::runtime_error(source + ": model_type '" + m.model_type + "' is not gpt_neox");
  }
  if (m.tie_word_embeddings) throw std::runtime_error(source + ": tied GPT-NeoX embeddings are not supported");
  if (!m.qkv_bias) throw std::runtime_error(source + ": GPT-NeoX without attention biases is not supported");
  if (m.rope_scaling.type != "default") throw std::runtime_error(source + ": rope scaling is not supported for training");
  GptNeoxConfig c;
  c.vocab_size = m.vocab_size;
  c.hidden_size = m.hidden_size;
  c.num_layers = m.num_layers;
  c.num_heads = m.num_heads;
  c.intermediate_size = m.intermediate_size;
  c.max_position_embeddings = m.max_position_embeddings;
  c.rotary_pct = m.rotary_fraction;
  c.rotary_emb_base = m.rope_theta;
  c.layer_norm_eps = m.norm_eps;
  c.use_parallel_residual = m.use_parallel_residual;
  c.hidden_act = m.hidden_act;
  c.initializer_range = config.value("initializer_range", 0.02);
  c.bos_token_id = m.bos_token_id.value_or(0);
  c.eos_token_id = m.eos_token_id.value_or(0);
  c.pad_token_id = m.pad_token_id;
  c.validate();
  return c;
}

struct GptNeoxLM::Impl {
  struct Layer {
    nn::LayerNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
    nn::Linear query_key_value{nullptr}, dense{nullptr}, dense_h_to_4h{nullptr}, dense_4h_to_h{nullptr};
  };
  nn::Embedding embed_in{nullptr};
  std::vector<Layer> layers;
  nn::LayerNorm final_layer_norm{nullptr};
  nn::Linear embed_out{nullptr};
  detail::RotaryEmbedding rotary;
  detail::Activation act;
};

GptNeoxLM::GptNeoxLM(const GptNeoxConfig& config) : config_(config), impl_(std::make_unique<Impl>()) {
  config_.validate();
  const auto H = config_.hidden_size, I = config_.intermediate_size;
  auto& m = *impl_;
  auto layer_norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({H}).eps(config_.layer_norm_eps)); };
  auto linear = [](std::int64_t in, std::int64_t out, bool bias) { return nn::Linear(nn::LinearOptions(in, out).bias(bias)); };

  auto base = register_module("gpt_neox", std::make_shared<nn::Module>());
  m.embed_in = base->register_module("embed_in", nn::Embedding(config_.vocab_size, H));
  auto list = base->register_module("layers", nn::ModuleList());
  for (std::int64_t i = 0; i < config_.num_layers; ++i) {
    Impl::Layer L;
    auto block = std::make_shared<nn::Module>();
    L.input_layernorm = block->register_module("input_layernorm", layer_norm());
    L.post_attention_layernorm = block->register_module("post_attention_layernorm", layer_norm());
    auto attention = block->register_module("attention", std::make_shared<nn::Module>());
    L.query_key_value = attention->register_module("query_key_value", linear(H, 3 * H, true));
    L.dense = attention->register_module("dense", linear(H, H, true));
    auto mlp = block->register_module("mlp", std::make_shared<nn::Module>());
    L.dense_h_to_4h = mlp->register_module("dense_h_to_4h", linear(H, I, true));
    L.dense_4h_to_h = mlp->register_module("dense_4h_to_h", linear(I, H, true));
    list->push_back(block);
    m.layers.push_back(L);
  }
  m.final_layer_norm = base->register_module("final_layer_norm", layer_norm());
  m.embed_out = register_module("embed_out", linear(H, config_.vocab_size, false));
  m.act = detail::activation(config_.hidden_act);
  const auto head_dim = H / config_.num_heads;
  m.rotary = detail::RotaryEmbedding(static_cast<std::int64_t>(static_cast<double>(head_dim) * config_.rotary_pct),
                                     config_.rotary_emb_base, RopeScaling{});

  // HF GPTNeoXPreTrainedModel._init_weights, in module order.
  torch::NoGradGuard no_grad;
  const double std = config_.initializer_range;
  m.embed_in->weight.normal_(0.0, std);
  for (auto& L : m.layers) {
    for (auto* ln : {&L.input_layernorm, &L.post_attention_layernorm}) {
      (*ln)->weight.fill_(1.0);
      (*ln)->bias.zero_();
    }
    for (auto* lin : {&L.query_key_value, &L.dense, &L.dense_h_to_4h, &L.dense_4h_to_h}) {
      (*lin)->weight.normal_(0.0, std);
      (*lin)->bias.zero_();
    }
  }
  m.final_layer_norm->weight.fill_(1.0);
  m.final_layer_norm->bias.zero_();
  m.embed_out->weight.normal_(0.0, std);
}

GptNeoxLM::~GptNeoxLM() = default;

LmOutput GptNeoxLM::forward(const Tensor& input_ids, const Tensor& attention_mask, bool all_hidden_states) {
  auto& m = *impl_;
  const auto& c = config_;
  if (input_ids.dim() != 2) throw std::invalid_argument("GPTNeoXForCausalLM: input_ids must be [batch, length]");
  const auto ids = input_ids.to(torch::kLong);
  // Training batches have no padding: a [1,1,T,T] causal mask then, instead of one per row.
  const auto T = ids.size(1);
  const auto allowed = attention_mask.defined()
                           ? detail::attention_allowed(attention_mask.ne(0).to(torch::kLong), /*causal=*/true)
                           : torch::ones({T, T}, torch::kBool).tril().view({1, 1, T, T});
  const auto positions = detail::default_positions(ids);
  auto [cos, sin] = m.rotary.cos_sin(positions, torch::kFloat32);
  const auto heads = c.num_heads, D = c.hidden_size / c.num_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  LmOutput out;
  auto h = m.embed_in(ids);
  for (auto& L : m.layers) {
    if (all_hidden_states) out.hidden.push_back(h);
    auto qkv = L.query_key_value(L.input_layernorm(h));
    // Fused projection laid out per head as (q, k, v).
    qkv = qkv.view({qkv.size(0), qkv.size(1), heads, 3 * D});
    auto q = qkv.narrow(-1, 0, D).permute({0, 2, 1, 3});
    auto k = qkv.narrow(-1, D, D).permute({0, 2, 1, 3});
    auto v = qkv.narrow(-1, 2 * D, D).permute({0, 2, 1, 3});
    q = m.rotary.apply(q, cos, sin);
    k = m.rotary.apply(k, cos, sin);
    auto attn = L.dense(detail::merge_heads(detail::attention(q, k, v, allowed, scale)));
    if (c.use_parallel_residual) {
      auto mlp = L.dense_4h_to_h(m.act(L.dense_h_to_4h(L.post_attention_layernorm(h))));
      h = mlp + attn + h;
    } else {
      auto a = attn + h;
      auto mlp = L.dense_4h_to_h(m.act(L.dense_h_to_4h(L.post_attention_layernorm(a))));
      h = mlp + a;
    }
  }
  h = m.final_layer_norm(h);
  out.hidden.push_back(h);
  out.logits = m.embed_out(h);
  return out;
}

std::map<std::string, std::string> GptNeoxLM::checkpoint_aliases() const {
  // Buffers that older GPT-NeoX checkpoints (Pythia) stored.
  std::map<std::string, std::string> a;
  for (std::int64_t i = 0; i < config_.num_layers; ++i) {
    const auto p = "gpt_neox.layers." + std::to_string(i) + ".attention.";
    a[p + "bias"] = "";
    a[p + "masked_bias"] = "";
    a[p + "rotary_emb.inv_freq"] = "";
  }
  return a;
}

std::vector<std::string> GptNeoxLM::embedding_parameter_names() const {
  return {"gpt_neox.embed_in.weight", "embed_out.weight"};
}

}  // namespace biaslab::runtime::train
