#pragma once
// BertForMaskedLM / RobertaForMaskedLM as a trainable module with HF parameter names:
// <base>.embeddings.{word,position,token_type}_embeddings + LayerNorm,
// <base>.encoder.layer.<i>.{attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
// intermediate.dense, output.{dense,LayerNorm}}, and the MLM head (BERT: cls.predictions.transform
// .{dense,LayerNorm} + cls.predictions.bias; RoBERTa: lm_head.{dense,layer_norm,bias}) whose decoder
// is tied to the word embeddings (stored once, as HF does). <base> is "bert" or "roberta".
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/train/lm_module.hpp"

namespace biaslab::runtime::train {

struct BIASLAB_API BertConfig {
  bool roberta = false;  // RoBERTa flavour: names, padding-aware position ids, exact-gelu head
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 64;
  std::int64_t num_layers = 2;
  std::int64_t num_heads = 4;
  std::int64_t intermediate_size = 256;
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
  double initializer_range = 0.02;
  std::int64_t pad_token_id = 0;
  std::optional<std::int64_t> bos_token_id;
  std::optional<std::int64_t> eos_token_id;

  void validate() const;
  nlohmann::json to_hf_json() const;
  static BertConfig from_hf_json(const nlohmann::json& config, const std::string& source = "config.json");
};

class BIASLAB_API BertMaskedLM final : public TrainableLM {
 public:
  explicit BertMaskedLM(const BertConfig& config);
  ~BertMaskedLM() override;

  const BertConfig& config() const { return config_; }
  bool is_causal() const override { return false; }
  std::string architecture() const override { return config_.roberta ? "RobertaForMaskedLM" : "BertForMaskedLM"; }
  std::int64_t vocab_size() const override { return config_.vocab_size; }
  std::int64_t hidden_size() const override { return config_.hidden_size; }
  std::int64_t num_layers() const override { return config_.num_layers; }
  // HF name prefix of the encoder: "bert" or "roberta".
  std::string base_prefix() const { return config_.roberta ? "roberta" : "bert"; }

  LmOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                   bool all_hidden_states = false) override;
  nlohmann::json config_json() const override { return config_.to_hf_json(); }

 protected:
  std::map<std::string, std::string> checkpoint_aliases() const override;
  std::vector<std::string> embedding_parameter_names() const override;

 private:
  struct Impl;
  BertConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biaslab::runtime::train
