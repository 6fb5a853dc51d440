#pragma once
// Trainable language models (libtorch autograd modules) whose parameters carry Hugging Face names,
// so a trained model saves as an HF model directory that HF transformers and
// biaslab::runtime::load_model() read, and an HF checkpoint loads back for further training
// (distillation students initialised from a teacher, resumed runs).
//
// Two families: GPT-NeoX causal LMs (GptNeoxLM) and BERT/RoBERTa masked LMs (BertMaskedLM). Both
// compute exactly what HF's eager float32 code computes (checked against the HF goldens in
// shared/fixtures); they have no dropout (Pythia trains without it; for the tiny models biaslab
// trains, dropout only slows learning), so train and eval modes are the same function.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime::train {

struct LmOutput {
  torch::Tensor logits;               // [B,T,V] float32
  // HF output_hidden_states: L+1 tensors [B,T,H] (0 = embeddings; last = after the final norm for
  // causal models, the last layer's output for BERT-style ones) when asked for, else {last}.
  std::vector<torch::Tensor> hidden;
};

class BIASLAB_API TrainableLM : public torch::nn::Module {
 public:
  ~TrainableLM() override;

  virtual bool is_causal() const = 0;
  // HF class name ("GPTNeoXForCausalLM", "BertForMaskedLM", "RobertaForMaskedLM").
  virtual std::string architecture() const = 0;
  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t hidden_size() const = 0;
  virtual std::int64_t num_layers() const = 0;

  // input_ids [B,T] int64; attention_mask [B,T] (1 = token; undefined: all tokens).
  virtual LmOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                           bool all_hidden_states = false) = 0;

  // config.json as HF's save_pretrained would write it for this model.
  virtual nlohmann::json config_json() const = 0;

  // Tensors under their HF names, tied aliases omitted (as save_pretrained writes them); the
  // tensors are the live parameters (no copy).
  std::map<std::string, torch::Tensor> hf_state_dict() const;
  // Copies every tensor of `tensors` into the parameter of that name. Tied aliases HF may have
  // stored (the MLM decoder) and buffers of old checkpoints are accepted if consistent; any other
  // unknown, missing or mis-shaped tensor throws naming it and `source`.
  void load_hf_state_dict(const std::map<std::string, torch::Tensor>& tensors, const std::string& source);
  // Distinct trainable parameters, tied tensors once (HF num_parameters()).
  std::int64_t parameter_count() const;
  // Parameters without the token embeddings and output head (the "non-embedding" count of the
  // scaling-law literature).
  std::int64_t non_embedding_parameter_count() const;

  // Writes config.json and model.safetensors (float32) into dir, creating it.
  void save_pretrained(const std::filesystem::path& dir) const;

 protected:
  // HF names of tensors that may appear in a checkpoint but are aliases or buffers of this model:
  // name -> the parameter it must equal ("" for ignorable buffers).
  virtual std::map<std::string, std::string> checkpoint_aliases() const { return {}; }
  virtual std::vector<std::string> embedding_parameter_names() const = 0;
};

// A model built from an HF config.json (model_type gpt_neox, bert or roberta), randomly
// initialised as HF's _init_weights does (normal(0, initializer_range) weights and embeddings,
// zero biases, unit LayerNorm gains), drawing from torch's global generator.
BIASLAB_API std::shared_ptr<TrainableLM> make_trainable_lm(const nlohmann::json& hf_config);
// Loads an HF model directory (config.json + weights) into a trainable model (float32).
BIASLAB_API std::shared_ptr<TrainableLM> load_trainable_lm(const std::filesystem::path& model_dir);

}  // namespace biaslab::runtime::train
