#pragma once
// GPTNeoXForCausalLM (the Pythia architecture) as a trainable module with HF parameter names:
// gpt_neox.embed_in, gpt_neox.layers.<i>.{input_layernorm, post_attention_layernorm,
// attention.query_key_value, attention.dense, mlp.dense_h_to_4h, mlp.dense_4h_to_h},
// gpt_neox.final_layer_norm, embed_out (untied, as Pythia).
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/train/lm_module.hpp"

namespace biaslab::runtime::train {

struct BIASLAB_API GptNeoxConfig {
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 64;
  std::int64_t num_layers = 2;
  std::int64_t num_heads = 4;
  std::int64_t intermediate_size = 256;
  std::int64_t max_position_embeddings = 2048;
  double rotary_pct = 0.25;
  double rotary_emb_base = 10000.0;
  double layer_norm_eps = 1e-5;
  bool use_parallel_residual = true;
  std::string hidden_act = "gelu";
  double initializer_range = 0.02;
  std::int64_t bos_token_id = 0;
  std::int64_t eos_token_id = 0;
  std::optional<std::int64_t> pad_token_id;

  // Checks sizes (positive, hidden divisible by heads, even rotary dims); throws naming the field.
  void validate() const;
  // config.json in HF's layout (GPTNeoXConfig fields, model_type gpt_neox).
  nlohmann::json to_hf_json() const;
  // From an HF config.json (missing fields take HF's GPTNeoXConfig defaults).
  static GptNeoxConfig from_hf_json(const nlohmann::json& config, const std::string& source = "config.json");
};

class BIASLAB_API GptNeoxLM final : public TrainableLM {
 public:
  // Random initialisation as HF's GPTNeoXPreTrainedModel._init_weights.
  explicit GptNeoxLM(const GptNeoxConfig& config);
  ~GptNeoxLM() override;

  const GptNeoxConfig& config() const { return config_; }
  bool is_causal() const override { return true; }
  std::string architecture() const override { return "GPTNeoXForCausalLM"; }
  std::int64_t vocab_size() const override { return config_.vocab_size; }
  std::int64_t hidden_size() const override { return config_.hidden_size; }
  std::int64_t num_layers() const override { return config_.num_layers; }

  LmOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                   bool all_hidden_states = false) override;
  nlohmann::json config_json() const override { return config_.to_hf_json(); }

 protected:
  std::map<std::string, std::string> checkpoint_aliases() const override;
  std::vector<std::string> embedding_parameter_names() const override;

 private:
  struct Impl;
  GptNeoxConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biaslab::runtime::train
