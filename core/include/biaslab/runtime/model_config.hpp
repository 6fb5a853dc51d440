#pragma once
// config.json of a Hugging Face model, resolved with HF's defaults (configs are diff-style: a
// field at its HF default may be absent). Defaults follow transformers' configuration_*.py.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

enum class Architecture { gpt_neox, gpt2, bert, roberta, distilbert, llama, qwen2, mistral };

BIASLAB_API std::string to_string(Architecture architecture);      // "gpt_neox", ... (HF model_type)
BIASLAB_API std::string hf_class_name(Architecture architecture);  // "GPTNeoXForCausalLM", ...
BIASLAB_API bool is_causal(Architecture architecture);

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                        // llama3
  double high_freq_factor = 4.0;                       // llama3
  std::int64_t original_max_position_embeddings = 0;  // llama3
};

struct ModelConfig {
  Architecture architecture = Architecture::gpt2;
  std::string model_type;
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;  // = num_heads unless grouped-query attention
  std::int64_t head_dim = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 0;
  std::int64_t type_vocab_size = 0;  // BERT / RoBERTa token types
  double norm_eps = 1e-5;            // LayerNorm / RMSNorm epsilon
  std::string hidden_act;            // activation of the MLP (and BERT's MLM transform)
  bool tie_word_embeddings = true;

  // rotary (gpt_neox, llama family)
  double rope_theta = 10000.0;
  double rotary_fraction = 1.0;  // gpt_neox rotary_pct; llama partial_rotary_factor
  RopeScaling rope_scaling;

  // gpt_neox
  bool use_parallel_residual = true;
  // biases: gpt_neox attention_bias; llama attention_bias/mlp_bias; qwen2 q/k/v only
  bool qkv_bias = false;
  bool attention_output_bias = false;
  bool mlp_bias = false;
  // sliding-window attention (mistral; qwen2 when use_sliding_window)
  std::optional<std::int64_t> sliding_window;
  std::int64_t max_window_layers = 0;  // qwen2: layers >= this use the window

  // gpt2
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  std::optional<std::int64_t> pad_token_id;
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;  // first one when config lists several
  std::string torch_dtype;                   // as stored ("float16", ...), may be empty

  nlohmann::json raw = nlohmann::json::object();  // config.json as read

  // Throws std::runtime_error naming `source` and the key on missing/invalid fields.
  BIASLAB_API static ModelConfig from_json(const nlohmann::json& config, const std::string& source = "config.json");
  BIASLAB_API static ModelConfig from_file(const std::filesystem::path& config_json);
};

}  // namespace biaslab::runtime
