#include "biaslab/runtime/train/bert_masked_lm.hpp"

#include <cmath>
#include <stdexcept>

#include "biaslab/runtime/model_config.hpp"
#include "runtime/modeling.hpp"

namespace biaslab::runtime::train {

namespace nn = torch::nn;
using torch::Tensor;

namespace {
std::runtime_error config_error(const std::string& field, const std::string& what) {
  return std::runtime_error("BERT config: '" + field + "' " + what);
}
}  // namespace

void BertConfig::validate() const {
  auto positive = [](const char* field, std::int64_t v) {
    if (v <= 0) throw config_error(field, "must be positive, found " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_layers);
  positive("num_attention_heads", num_heads);
  positive("intermediate_size", intermediate_size);
  positive("max_position_embeddings", max_position_embeddings);
  positive("type_vocab_size", type_vocab_size);
  if (hidden_size % num_heads != 0) {
    throw config_error("hidden_size", std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
                                          std::to_string(num_heads));
  }
  if (pad_token_id < 0 || pad_token_id >= vocab_size) {
    throw config_error("pad_token_id", std::to_string(pad_token_id) + " is outside the vocabulary");
  }
  if (roberta && max_position_embeddings <= pad_token_id + 1) {
    throw config_error("max_position_embeddings", "leaves no position for tokens after RoBERTa's padding offset");
  }
  if (!(layer_norm_eps > 0)) throw config_error("layer_norm_eps", "must be positive");
  detail::activation(hidden_act);
}

nlohmann::json BertConfig::to_hf_json() const {
  nlohmann::json j = {
      {"architectures", {roberta ? "RobertaForMaskedLM" : "BertForMaskedLM"}},
      {"model_type", roberta ? "roberta" : "bert"},
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_layers},
      {"num_attention_heads", num_heads},
      {"intermediate_size", intermediate_size},
      {"hidden_act", hidden_act},
      {"hidden_dropout_prob", 0.0},
      {"attention_probs_dropout_prob", 0.0},
      {"max_position_embeddings", max_position_embeddings},
      {"type_vocab_size", type_vocab_size},
      {"initializer_range", initializer_range},
      {"layer_norm_eps", layer_norm_eps},
      {"position_embedding_type", "absolute"},
      {"pad_token_id", pad_token_id},
      {"tie_word_embeddings", true},
      {"use_cache", true},
      {"torch_dtype", "float32"},
  };
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_id) j["eos_token_id"] = *eos_token_id;
  return j;
}

BertConfig BertConfig::from_hf_json(const nlohmann::json& config, const std::string& source) {
  const auto m = ModelConfig::from_json(config, source);
  if (m.architecture != Architecture::bert && m.architecture != Architecture::roberta) {
    throw std::runtime_error(source + ": model_type '" + m.model_type + "' is not bert or roberta");
  }
  if (!m.tie_word_embeddings) throw std::runtime_error(source + ": untied BERT decoders are not supported");
  BertConfig c;
  c.roberta = m.architecture == Architecture::roberta;
  c.vocab_size = m.vocab_size;
  c.hidden_size = m.hidden_size;
  c.num_layers = m.num_layers;
  c.num_heads = m.num_heads;
  c.intermediate_size = m.intermediate_size;
  c.max_position_embeddings = m.max_position_embeddings;
  c.type_vocab_size = m.type_vocab_size;
  c.layer_norm_eps = m.norm_eps;
  c.hidden_act = m.hidden_act;
  c.initializer_range = config.value("initializer_range", 0.02);
  c.pad_token_id = m.pad_token_id.value_or(0);
  c.bos_token_id = m.bos_token_id;
  c.eos_token_id = m.eos_token_id;
  c.validate();
  return c;
}

struct BertMaskedLM::Impl {
  struct Layer {
    nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, attention_output{nullptr};
    nn::LayerNorm attention_norm{nullptr};
    nn::Linear intermediate{nullptr}, output{nullptr};
    nn::LayerNorm output_norm{nullptr};
  };
  nn::Embedding word{nullptr}, position{nullptr}, token_type{nullptr};
  nn::LayerNorm embedding_norm{nullptr};
  std::vector<Layer> layers;
  nn::Linear head_dense{nullptr};
  nn::LayerNorm head_norm{nullptr};
  Tensor head_bias;
  detail::Activation act, head_act;
};

BertMaskedLM::BertMaskedLM(const BertConfig& config) : config_(config), impl_(std::make_unique<Impl>()) {
  config_.validate();
  const auto& c = config_;
  const auto H = c.hidden_size, I = c.intermediate_size;
  auto& m = *impl_;
  auto layer_norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({H}).eps(c.layer_norm_eps)); };
  auto linear = [](std::int64_t in, std::int64_t out) { return nn::Linear(nn::LinearOptions(in, out).bias(true)); };

  auto base = register_module(base_prefix(), std::make_shared<nn::Module>());
  auto embeddings = base->register_module("embeddings", std::make_shared<nn::Module>());
  m.word = embeddings->register_module(
      "word_embeddings", nn::Embedding(nn::EmbeddingOptions(c.vocab_size, H).padding_idx(c.pad_token_id)));
  auto position_options = nn::EmbeddingOptions(c.max_position_embeddings, H);
  if (c.roberta) position_options.padding_idx(c.pad_token_id);
  m.position = embeddings->register_module("position_embeddings", nn::Embedding(position_options));
  m.token_type = embeddings->register_module("token_type_embeddings", nn::Embedding(c.type_vocab_size, H));
  m.embedding_norm = embeddings->register_module("LayerNorm", layer_norm());
  auto encoder = base->register_module("encoder", std::make_shared<nn::Module>());
  auto list = encoder->register_module("layer", nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_layers; ++i) {
    Impl::Layer L;
    auto block = std::make_shared<nn::Module>();
    auto attention = block->register_module("attention", std::make_shared<nn::Module>());
    auto self = attention->register_module("self", std::make_shared<nn::Module>());
    L.query = self->register_module("query", linear(H, H));
    L.key = self->register_module("key", linear(H, H));
    L.value = self->register_module("value", linear(H, H));
    auto attention_output = attention->register_module("output", std::make_shared<nn::Module>());
    L.attention_output = attention_output->register_module("dense", linear(H, H));
    L.attention_norm = attention_output->register_module("LayerNorm", layer_norm());
    auto intermediate = block->register_module("intermediate", std::make_shared<nn::Module>());
    L.intermediate = intermediate->register_module("dense", linear(H, I));
    auto output = block->register_module("output", std::make_shared<nn::Module>());
    L.output = output->register_module("dense", linear(I, H));
    L.output_norm = output->register_module("LayerNorm", layer_norm());
    list->push_back(block);
    m.layers.push_back(L);
  }
  if (c.roberta) {
    auto head = register_module("lm_head", std::make_shared<nn::Module>());
    m.head_dense = head->register_module("dense", linear(H, H));
    m.head_norm = head->register_module("layer_norm", layer_norm());
    m.head_bias = head->register_parameter("bias", torch::zeros({c.vocab_size}));
  } else {
    auto cls = register_module("cls", std::make_shared<nn::Module>());
    auto predictions = cls->register_module("predictions", std::make_shared<nn::Module>());
    auto transform = predictions->register_module("transform", std::make_shared<nn::Module>());
    m.head_dense = transform->register_module("dense", linear(H, H));
    m.head_norm = transform->register_module("LayerNorm", layer_norm());
    m.head_bias = predictions->register_parameter("bias", torch::zeros({c.vocab_size}));
  }
  m.act = detail::activation(c.hidden_act);
  // RobertaLMHead applies exact gelu whatever hidden_act says.
  m.head_act = c.roberta ? detail::activation("gelu") : m.act;

  // HF BertPreTrainedModel._init_weights: normal weights and embeddings (padding row zero), zero
  // biases, unit LayerNorm gains.
  torch::NoGradGuard no_grad;
  const double std = c.initializer_range;
  auto init_embedding = [&](nn::Embedding& e) {
    e->weight.normal_(0.0, std);
    if (e->options.padding_idx()) e->weight[*e->options.padding_idx()].zero_();
  };
  auto init_linear = [&](nn::Linear& l) {
    l->weight.normal_(0.0, std);
    l->bias.zero_();
  };
  auto init_norm = [](nn::LayerNorm& n) {
    n->weight.fill_(1.0);
    n->bias.zero_();
  };
  init_embedding(m.word);
  init_embedding(m.position);
  init_embedding(m.token_type);
  init_norm(m.embedding_norm);
  for (auto& L : m.layers) {
    for (auto* l : {&L.query, &L.key, &L.value, &L.attention_output, &L.intermediate, &L.output}) init_linear(*l);
    init_norm(L.attention_norm);
    init_norm(L.output_norm);
  }
  init_linear(m.head_dense);
  init_norm(m.head_norm);
  m.head_bias.zero_();
}

BertMaskedLM::~BertMaskedLM() = default;

LmOutput BertMaskedLM::forward(const Tensor& input_ids, const Tensor& attention_mask, bool all_hidden_states) {
  auto& m = *impl_;
  const auto& c = config_;
  if (input_ids.dim() != 2) throw std::invalid_argument(architecture() + ": input_ids must be [batch, length]");
  const auto ids = input_ids.to(torch::kLong);
  const auto mask = attention_mask.defined() ? attention_mask.ne(0).to(torch::kLong) : torch::ones_like(ids);
  Tensor positions;
  if (c.roberta) {
    // HF create_position_ids_from_input_ids: non-pad tokens count from padding_idx + 1.
    auto real = ids.ne(c.pad_token_id).to(torch::kLong);
    positions = torch::cumsum(real, 1) * real + c.pad_token_id;
  } else {
    positions = detail::default_positions(ids);
  }
  detail::check_positions(positions, c.max_position_embeddings, architecture());
  const auto allowed = detail::attention_allowed(mask, /*causal=*/false);
  const auto D = c.hidden_size / c.num_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));

  LmOutput out;
  // token_type_ids are all 0, as HF's default buffer.
  auto h = m.word(ids) + m.token_type->weight[0];
  h = h + m.position(positions);
  h = m.embedding_norm(h);
  if (all_hidden_states) out.hidden.push_back(h);
  for (auto& L : m.layers) {
    auto q = detail::split_heads(L.query(h), c.num_heads, D);
    auto k = detail::split_heads(L.key(h), c.num_heads, D);
    auto v = detail::split_heads(L.value(h), c.num_heads, D);
    auto context = detail::merge_heads(detail::attention(q, k, v, allowed, scale));
    auto a = L.attention_norm(L.attention_output(context) + h);
    h = L.output_norm(L.output(m.act(L.intermediate(a))) + a);
    if (all_hidden_states) out.hidden.push_back(h);
  }
  if (!all_hidden_states) out.hidden.push_back(h);
  auto x = m.head_norm(m.head_act(m.head_dense(h)));
  out.logits = torch::nn::functional::linear(x, m.word->weight, m.head_bias);
  return out;
}

std::map<std::string, std::string> BertMaskedLM::checkpoint_aliases() const {
  const auto b = base_prefix();
  const std::string head = config_.roberta ? "lm_head." : "cls.predictions.";
  return {
      {head + "decoder.weight", b + ".embeddings.word_embeddings.weight"},
      {head + "decoder.bias", head + "bias"},
      {b + ".embeddings.position_ids", ""},
      {b + ".embeddings.token_type_ids", ""},
      {b + ".pooler.*", ""},
      {"cls.seq_relationship.*", ""},
  };
}

std::vector<std::string> BertMaskedLM::embedding_parameter_names() const {
  const auto e = base_prefix() + ".embeddings.";
  return {e + "word_embeddings.weight", e + "position_embeddings.weight", e + "token_type_embeddings.weight"};
}

}  // namespace biaslab::runtime::train
