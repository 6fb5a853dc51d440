#pragma once
// Language models loaded from Hugging Face checkpoints, computing what HF transformers computes
// (eager attention, float32 by default). Every linear layer sits in a named biaslab::runtime::Linear
// slot (HF parameter prefix), so compressors can swap kernels and observe activations.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/artifact.hpp"
#include "biaslab/export.hpp"
#include "biaslab/runtime/checkpoint.hpp"
#include "biaslab/runtime/linear.hpp"
#include "biaslab/runtime/model_config.hpp"

namespace biaslab::runtime {

struct LoadOptions {
  // Parameter and compute dtype (float32, bfloat16, float16). nullopt keeps the checkpoint's
  // dtype (config.json torch_dtype, float32 when absent) -- useful to inspect or re-save a model.
  std::optional<torch::Dtype> dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  int threads = 0;  // > 0: torch::set_num_threads(threads) (process-wide)
  CheckpointFormat format = CheckpointFormat::automatic;
};

// "float32"/"fp32"/"float", "bfloat16"/"bf16", "float16"/"fp16"/"half"; throws otherwise.
BIASLAB_API torch::Dtype parse_dtype(const std::string& name);
// HF spelling: "float32", "bfloat16", "float16", ...
BIASLAB_API std::string dtype_name(torch::Dtype dtype);

class BIASLAB_API LanguageModel {
 public:
  virtual ~LanguageModel();

  virtual const ModelConfig& config() const = 0;
  // HF class name: "GPTNeoXForCausalLM", "BertForMaskedLM", ...
  virtual std::string architecture() const = 0;
  virtual bool is_causal() const = 0;
  bool is_masked() const { return !is_causal(); }
  virtual torch::Dtype dtype() const = 0;
  virtual torch::Device device() const = 0;
  // Directory the model was loaded from (empty if built in memory).
  virtual const std::filesystem::path& source_path() const = 0;

  // --- inference (torch::InferenceMode inside; inputs may live on any device) ----------------------
  // input_ids [B,T] integer; attention_mask [B,T] 1 = token, 0 = padding (undefined: all ones);
  // position_ids [B,T] (nullopt: the architecture's default, as HF: arange for causal models and
  // BERT/DistilBERT, padding-aware ids for RoBERTa). For padded causal batches pass
  // cumsum(attention_mask) - 1 clamped at 0, as HF generate() does.
  // Logits [B,T,V], float32, on the model device.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        const std::optional<torch::Tensor>& position_ids = std::nullopt) const;
  // Last hidden state [B,T,H] float32: after the final norm for causal models (HF's
  // last_hidden_state), the last layer's output for BERT-style models.
  torch::Tensor hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                              const std::optional<torch::Tensor>& position_ids = std::nullopt) const;
  // HF output_hidden_states: L+1 tensors [B,T,H] float32 (0 = embeddings, last = hidden_states()).
  std::vector<torch::Tensor> all_hidden_states(const torch::Tensor& input_ids,
                                               const torch::Tensor& attention_mask = {},
                                               const std::optional<torch::Tensor>& position_ids = std::nullopt) const;
  // The LM head applied to (any subset of rows of) the last hidden state: [..., H] -> [..., V]
  // float32. forward() == logits_from_hidden(hidden_states()).
  virtual torch::Tensor logits_from_hidden(const torch::Tensor& last_hidden) const = 0;

  // --- structure --------------------------------------------------------------------------------
  // Linear slots in HF module order. The output projection (lm_head / embed_out / MLM decoder,
  // often tied to the input embeddings) is included only on request. Swap kernels through
  // Linear::set_kernel; slots stay valid for the model's lifetime.
  virtual std::vector<Linear*> linear_layers(bool include_output_head = false) const = 0;
  // The slot with this HF name; throws std::out_of_range listing nothing but the name.
  Linear& linear(const std::string& name) const;
  virtual std::string output_head_name() const = 0;
  // Whether any linear kernel needs whole sequences (LinearKernel::needs_whole_sequences): scoring
  // then applies the LM head to every real position of each sequence, as a one-sentence forward
  // pass does, instead of only to the scored positions.
  bool needs_whole_sequences() const;
  // Whether any kernel needs bitwise batch invariance upstream (LinearKernel::
  // needs_bitwise_invariance): forward passes then compute attention per sequence.
  bool needs_bitwise_invariance() const;
  // Logical parameter count as HF's num_parameters(): tied tensors once, compressed layers counted
  // as their dense in*out (+bias).
  virtual std::int64_t parameter_count() const = 0;
  // Bytes of all stored tensors: dense parameters plus each kernel's storage_bytes() (tied once).
  virtual std::int64_t storage_bytes() const = 0;

  // --- persistence ------------------------------------------------------------------------------
  // Tensors exactly as save_pretrained writes them: HF names, GPT-2 Conv1D weights back in
  // [in, out], tied aliases omitted, compressed kernels as "<layer>.<name>" of serialize().
  virtual std::map<std::string, torch::Tensor> state_dict() const = 0;
  // config.json as save_pretrained writes it: the loaded config with torch_dtype, tie flag and
  // "biaslab_quantization" ({"version": 1, "layers": {name: {"format", "meta"}}}) updated.
  virtual nlohmann::json config_json() const = 0;
  // Writes config.json + model.safetensors (atomically) into dir, creating it. Dense models load
  // in HF transformers. copy_tokenizer: also copy tokenizer/generation files of source_path().
  virtual void save_pretrained(const std::filesystem::path& dir, bool copy_tokenizer = true) const = 0;

 protected:
  // Implementations: validated inputs (int64 on the model device, mask defined, position_ids
  // undefined = default). Return hidden states in the model dtype: {last} or all L+1.
  virtual std::vector<torch::Tensor> encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                            const torch::Tensor& position_ids, bool all_layers) const = 0;

 private:
  std::vector<torch::Tensor> run(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const std::optional<torch::Tensor>& position_ids, bool all_layers) const;
};

// Loads config.json + weights from an HF model directory.
BIASLAB_API std::unique_ptr<LanguageModel> load_model(const std::filesystem::path& model_dir,
                                                      const LoadOptions& options = {});
// A pipeline "model" artifact is an HF model directory.
BIASLAB_API std::unique_ptr<LanguageModel> load_model(const biaslab::Artifact& artifact,
                                                      const LoadOptions& options = {});

}  // namespace biaslab::runtime
