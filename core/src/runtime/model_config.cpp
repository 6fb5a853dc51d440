#include "biaslab/runtime/model_config.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace biaslab::runtime {

std::string to_string(Architecture a) {
  switch (a) {
    case Architecture::gpt_neox: return "gpt_neox";
    case Architecture::gpt2: return "gpt2";
    case Architecture::bert: return "bert";
    case Architecture::roberta: return "roberta";
    case Architecture::distilbert: return "distilbert";
    case Architecture::llama: return "llama";
    case Architecture::qwen2: return "qwen2";
    case Architecture::mistral: return "mistral";
  }
  return "unknown";
}

std::string hf_class_name(Architecture a) {
  switch (a) {
    case Architecture::gpt_neox: return "GPTNeoXForCausalLM";
    case Architecture::gpt2: return "GPT2LMHeadModel";
    case Architecture::bert: return "BertForMaskedLM";
    case Architecture::roberta: return "RobertaForMaskedLM";
    case Architecture::distilbert: return "DistilBertForMaskedLM";
    case Architecture::llama: return "LlamaForCausalLM";
    case Architecture::qwen2: return "Qwen2ForCausalLM";
    case Architecture::mistral: return "MistralForCausalLM";
  }
  return "unknown";
}

bool is_causal(Architecture a) {
  return !(a == Architecture::bert || a == Architecture::roberta || a == Architecture::distilbert);
}

namespace {

// Typed access to config.json fields; null counts as absent (HF's None -> the default applies).
class Fields {
 public:
  Fields(const nlohmann::json& j, const std::string& source) : j_(j), source_(source) {}

  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }

  std::int64_t integer(const char* key, std::optional<std::int64_t> fallback = std::nullopt) const {
    if (!has(key)) {
      if (fallback) return *fallback;
      throw error(key, "is required");
    }
    const auto& v = j_[key];
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
    }
    throw error(key, "must be an integer, found " + v.dump());
  }

  // An explicit null is HF's None (e.g. sliding_window: null = no window), not "use the default".
  std::optional<std::int64_t> optional_integer(const char* key, std::optional<std::int64_t> fallback) const {
    if (!j_.contains(key)) return fallback;
    if (j_[key].is_null()) return std::nullopt;
    const auto& v = j_[key];
    // eos_token_id may be a list (Llama 3); the first one is the primary.
    if (v.is_array()) {
      if (v.empty()) return std::nullopt;
      if (!v[0].is_number_integer()) throw error(key, "must be an integer or a list of integers");
      return v[0].get<std::int64_t>();
    }
    return integer(key);
  }

  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number()) throw error(key, "must be a number, found " + j_[key].dump());
    return j_[key].get<double>();
  }

  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean()) throw error(key, "must be true or false, found " + j_[key].dump());
    return j_[key].get<bool>();
  }

  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_string()) throw error(key, "must be a string, found " + j_[key].dump());
    return j_[key].get<std::string>();
  }

  std::runtime_error error(const std::string& key, const std::string& what) const {
    return std::runtime_error(source_ + ": '" + key + "' " + what);
  }

 private:
  const nlohmann::json& j_;
  const std::string& source_;
};

Architecture detect_architecture(const nlohmann::json& j, const std::string& source) {
  static const std::map<std::string, Architecture> by_type{
      {"gpt_neox", Architecture::gpt_neox}, {"gpt2", Architecture::gpt2},
      {"bert", Architecture::bert},         {"roberta", Architecture::roberta},
      {"distilbert", Architecture::distilbert}, {"llama", Architecture::llama},
      {"qwen2", Architecture::qwen2},       {"mistral", Architecture::mistral}};
  if (j.contains("model_type") && j["model_type"].is_string()) {
    const auto type = j["model_type"].get<std::string>();
    auto it = by_type.find(type);
    if (it == by_type.end()) {
      throw std::runtime_error(source + ": unsupported model_type '" + type +
                               "' (supported: gpt_neox, gpt2, bert, roberta, distilbert, llama, qwen2, mistral)");
    }
    return it->second;
  }
  // No model_type: fall back to the class name HF stored in "architectures".
  static const std::vector<std::pair<std::string, Architecture>> by_class{
      {"GPTNeoX", Architecture::gpt_neox}, {"GPT2", Architecture::gpt2},
      {"DistilBert", Architecture::distilbert}, {"Roberta", Architecture::roberta},
      {"Bert", Architecture::bert}, {"Llama", Architecture::llama},
      {"Qwen2", Architecture::qwen2}, {"Mistral", Architecture::mistral}};
  if (j.contains("architectures") && j["architectures"].is_array()) {
    for (const auto& a : j["architectures"]) {
      if (!a.is_string()) continue;
      const auto name = a.get<std::string>();
      for (const auto& [prefix, arch] : by_class) {
        if (name.rfind(prefix, 0) == 0) return arch;
      }
    }
  }
  throw std::runtime_error(source + ": cannot determine the architecture (no known 'model_type' or 'architectures')");
}

RopeScaling parse_rope_scaling(const nlohmann::json& j, const std::string& source) {
  RopeScaling r;
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return r;
  const auto& rs = j["rope_scaling"];
  if (!rs.is_object()) throw std::runtime_error(source + ": 'rope_scaling' must be an object or null");
  const std::string where = source + " rope_scaling";
  Fields f(rs, where);
  // Newer configs say rope_type, older ones type.
  r.type = f.string("rope_type", f.string("type", "default"));
  if (r.type == "default") return r;
  if (r.type == "linear") {
    r.factor = f.number("factor", 0.0);
    if (!f.has("factor")) throw f.error("factor", "is required for linear rope scaling");
  } else if (r.type == "llama3") {
    for (const char* key : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!f.has(key)) throw f.error(key, "is required for llama3 rope scaling");
    }
    r.factor = f.number("factor", 1.0);
    r.low_freq_factor = f.number("low_freq_factor", 1.0);
    r.high_freq_factor = f.number("high_freq_factor", 4.0);
    r.original_max_position_embeddings = f.integer("original_max_position_embeddings");
    if (r.high_freq_factor == r.low_freq_factor) {
      throw f.error("high_freq_factor", "must differ from low_freq_factor");
    }
  } else {
    throw std::runtime_error(source + ": rope_scaling type '" + r.type +
                             "' is not supported (supported: default, linear, llama3)");
  }
  if (!(r.factor > 0)) throw f.error("factor", "must be positive");
  return r;
}

void require_positive(const Fields& f, const char* key, std::int64_t value) {
  if (value <= 0) throw f.error(key, "must be positive, found " + std::to_string(value));
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw std::runtime_error(source + ": config is not a JSON object");
  ModelConfig c;
  c.raw = j;
  c.architecture = detect_architecture(j, source);
  c.model_type = to_string(c.architecture);
  Fields f(j, source);
  c.torch_dtype = f.string("torch_dtype", "");
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", true);

  switch (c.architecture) {
    case Architecture::gpt_neox: {  // GPTNeoXConfig
      c.vocab_size = f.integer("vocab_size", 50432);
      c.hidden_size = f.integer("hidden_size", 6144);
      c.num_layers = f.integer("num_hidden_layers", 44);
      c.num_heads = f.integer("num_attention_heads", 64);
      c.intermediate_size = f.integer("intermediate_size", 24576);
      c.hidden_act = f.string("hidden_act", "gelu");
      // HF sets partial_rotary_factor/rope_theta from rotary_pct/rotary_emb_base after reading
      // the file, so those two are what counts.
      c.rotary_fraction = f.number("rotary_pct", 0.25);
      c.rope_theta = f.number("rotary_emb_base", 10000.0);
      c.max_position_embeddings = f.integer("max_position_embeddings", 2048);
      c.norm_eps = f.number("layer_norm_eps", 1e-5);
      c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
      c.use_parallel_residual = f.boolean("use_parallel_residual", true);
      c.qkv_bias = c.attention_output_bias = f.boolean("attention_bias", true);
      c.mlp_bias = true;
      c.rope_scaling = parse_rope_scaling(j, source);
      c.bos_token_id = f.optional_integer("bos_token_id", 0);
      c.eos_token_id = f.optional_integer("eos_token_id", 2);
      c.pad_token_id = f.optional_integer("pad_token_id", std::nullopt);
      break;
    }
    case Architecture::gpt2: {  // GPT2Config
      c.vocab_size = f.integer("vocab_size", 50257);
      c.max_position_embeddings = f.integer("n_positions", 1024);
      c.hidden_size = f.integer("n_embd", 768);
      c.num_layers = f.integer("n_layer", 12);
      c.num_heads = f.integer("n_head", 12);
      c.intermediate_size = f.integer("n_inner", 4 * c.hidden_size);
      c.hidden_act = f.string("activation_function", "gelu_new");
      c.norm_eps = f.number("layer_norm_epsilon", 1e-5);
      c.scale_attn_weights = f.boolean("scale_attn_weights", true);
      c.scale_attn_by_inverse_layer_idx = f.boolean("scale_attn_by_inverse_layer_idx", false);
      c.qkv_bias = c.attention_output_bias = c.mlp_bias = true;
      c.bos_token_id = f.optional_integer("bos_token_id", 50256);
      c.eos_token_id = f.optional_integer("eos_token_id", 50256);
      c.pad_token_id = f.optional_integer("pad_token_id", std::nullopt);
      break;
    }
    case Architecture::bert:
    case Architecture::roberta: {  // BertConfig / RobertaConfig (same defaults but the special ids)
      const bool roberta = c.architecture == Architecture::roberta;
      c.vocab_size = f.integer("vocab_size", 30522);
      c.hidden_size = f.integer("hidden_size", 768);
      c.num_layers = f.integer("num_hidden_layers", 12);
      c.num_heads = f.integer("num_attention_heads", 12);
      c.intermediate_size = f.integer("intermediate_size", 3072);
      c.hidden_act = f.string("hidden_act", "gelu");
      c.max_position_embeddings = f.integer("max_position_embeddings", 512);
      c.type_vocab_size = f.integer("type_vocab_size", 2);
      c.norm_eps = f.number("layer_norm_eps", 1e-12);
      c.qkv_bias = c.attention_output_bias = c.mlp_bias = true;
      c.pad_token_id = f.optional_integer("pad_token_id", roberta ? 1 : 0);
      c.bos_token_id = f.optional_integer("bos_token_id", roberta ? std::optional<std::int64_t>(0) : std::nullopt);
      c.eos_token_id = f.optional_integer("eos_token_id", roberta ? std::optional<std::int64_t>(2) : std::nullopt);
      const auto pet = f.string("position_embedding_type", "absolute");
      if (pet != "absolute") {
        throw f.error("position_embedding_type", "'" + pet + "' is not supported (only 'absolute')");
      }
      if (f.boolean("is_decoder", false)) throw f.error("is_decoder", "true is not supported");
      if (roberta && !c.pad_token_id) throw f.error("pad_token_id", "is required for RoBERTa position ids");
      require_positive(f, "type_vocab_size", c.type_vocab_size);
      break;
    }
    case Architecture::distilbert: {  // DistilBertConfig
      c.vocab_size = f.integer("vocab_size", 30522);
      c.max_position_embeddings = f.integer("max_position_embeddings", 512);
      c.num_layers = f.integer("n_layers", 6);
      c.num_heads = f.integer("n_heads", 12);
      c.hidden_size = f.integer("dim", 768);
      c.intermediate_size = f.integer("hidden_dim", 4 * 768);
      c.hidden_act = f.string("activation", "gelu");
      c.norm_eps = 1e-12;  // hard-coded in modeling_distilbert.py
      c.qkv_bias = c.attention_output_bias = c.mlp_bias = true;
      c.pad_token_id = f.optional_integer("pad_token_id", 0);
      c.bos_token_id = f.optional_integer("bos_token_id", std::nullopt);
      c.eos_token_id = f.optional_integer("eos_token_id", std::nullopt);
      break;
    }
    case Architecture::llama:
    case Architecture::qwen2:
    case Architecture::mistral: {  // LlamaConfig / Qwen2Config / MistralConfig
      const auto a = c.architecture;
      const bool llama = a == Architecture::llama, qwen2 = a == Architecture::qwen2;
      c.vocab_size = f.integer("vocab_size", qwen2 ? 151936 : 32000);
      c.hidden_size = f.integer("hidden_size", 4096);
      c.intermediate_size = f.integer("intermediate_size", llama ? 11008 : qwen2 ? 22016 : 14336);
      c.num_layers = f.integer("num_hidden_layers", 32);
      c.num_heads = f.integer("num_attention_heads", 32);
      // Llama's default is None (= num_attention_heads); Qwen2 defaults to 32, Mistral to 8.
      c.num_kv_heads = f.integer("num_key_value_heads", llama ? c.num_heads : qwen2 ? 32 : 8);
      c.hidden_act = f.string("hidden_act", "silu");
      c.max_position_embeddings = f.integer("max_position_embeddings", llama ? 2048 : qwen2 ? 32768 : 4096 * 32);
      c.norm_eps = f.number("rms_norm_eps", 1e-6);
      c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
      c.rope_theta = f.number("rope_theta", 10000.0);
      c.rotary_fraction = f.number("partial_rotary_factor", 1.0);
      c.rope_scaling = parse_rope_scaling(j, source);
      if (llama) {
        c.qkv_bias = c.attention_output_bias = f.boolean("attention_bias", false);
        c.mlp_bias = f.boolean("mlp_bias", false);
        if (f.integer("pretraining_tp", 1) < 1) throw f.error("pretraining_tp", "must be >= 1");
      } else if (qwen2) {
        c.qkv_bias = true;  // Qwen2Attention: q/k/v with bias, o_proj without
        if (f.boolean("use_sliding_window", false)) {
          c.sliding_window = f.optional_integer("sliding_window", 4096);
          c.max_window_layers = f.integer("max_window_layers", 28);
        }
      } else {
        c.sliding_window = f.optional_integer("sliding_window", 4096);
      }
      c.bos_token_id = f.optional_integer("bos_token_id", qwen2 ? std::nullopt : std::optional<std::int64_t>(1));
      c.eos_token_id = f.optional_integer("eos_token_id", qwen2 ? std::nullopt : std::optional<std::int64_t>(2));
      c.pad_token_id = f.optional_integer("pad_token_id", std::nullopt);
      if (c.sliding_window && *c.sliding_window <= 0) throw f.error("sliding_window", "must be positive");
      break;
    }
  }

  const char* heads_key = c.architecture == Architecture::gpt2         ? "n_head"
                          : c.architecture == Architecture::distilbert ? "n_heads"
                                                                       : "num_attention_heads";
  require_positive(f, "vocab_size", c.vocab_size);
  require_positive(f, "hidden_size", c.hidden_size);
  require_positive(f, heads_key, c.num_heads);
  require_positive(f, "intermediate_size", c.intermediate_size);
  require_positive(f, "max_position_embeddings", c.max_position_embeddings);
  if (c.num_layers < 0) throw f.error("num_hidden_layers", "must not be negative");
  if (c.num_kv_heads == 0) c.num_kv_heads = c.num_heads;
  const bool llama_family = c.architecture == Architecture::llama || c.architecture == Architecture::qwen2 ||
                            c.architecture == Architecture::mistral;
  if (llama_family && f.has("head_dim")) {
    c.head_dim = f.integer("head_dim");
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      throw f.error(heads_key, "(" + std::to_string(c.num_heads) + ") must divide the hidden size " +
                                   std::to_string(c.hidden_size));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  require_positive(f, "head_dim", c.head_dim);
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    throw f.error("num_key_value_heads", "(" + std::to_string(c.num_kv_heads) +
                                             ") must divide num_attention_heads (" + std::to_string(c.num_heads) + ")");
  }
  if (!(c.rotary_fraction > 0 && c.rotary_fraction <= 1)) {
    throw f.error(c.architecture == Architecture::gpt_neox ? "rotary_pct" : "partial_rotary_factor",
                  "must be in (0, 1]");
  }
  if (!(c.norm_eps > 0)) throw std::runtime_error(source + ": layer norm epsilon must be positive");
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": malformed JSON: " + e.what());
  }
  return from_json(j, path.string());
}

}  // namespace biaslab::runtime
