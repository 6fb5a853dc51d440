#pragma once
// Machinery every architecture shares: tensors declared by name and shape, loaded from an HF
// checkpoint with strict checks, tied as HF ties them, saved back in HF layout.
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "biaslab/runtime/model.hpp"

namespace biaslab::runtime::detail {

struct ParamSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

struct LinearSpec {
  std::string name;  // HF module prefix; tensors "<name>.weight" / "<name>.bias"
  std::int64_t in_features = 0;
  std::int64_t out_features = 0;
  bool bias = false;
  bool conv1d = false;      // GPT-2 Conv1D: stored [in, out], held [out, in]
  std::string tied_weight;  // param whose tensor this weight shares (HF tied embeddings), or ""
  std::string tied_bias;    // param whose tensor this bias shares (BERT/RoBERTa decoder), or ""
  bool output_head = false;
};

struct ModelSpec {
  std::vector<ParamSpec> params;
  std::vector<LinearSpec> linears;  // HF module order
  // Checkpoint tensors HF drops without complaint (non-persistent buffers of old checkpoints,
  // pooler / next-sentence heads a *ForMaskedLM does not have).
  std::vector<std::regex> ignored;
  // HF base_model_prefix: checkpoints of the bare model lack it ("h.0..." for GPT-2).
  std::string base_prefix;
};

class TransformerModel : public LanguageModel {
 public:
  explicit TransformerModel(ModelConfig config);
  ~TransformerModel() override;

  // Builds the spec, then loads and checks every tensor.
  void load(const CheckpointReader& reader, const std::filesystem::path& model_dir, const LoadOptions& options);

  const ModelConfig& config() const override { return config_; }
  std::string architecture() const override { return hf_class_name(config_.architecture); }
  bool is_causal() const override { return runtime::is_causal(config_.architecture); }
  torch::Dtype dtype() const override { return dtype_; }
  torch::Device device() const override { return device_; }
  const std::filesystem::path& source_path() const override { return source_; }

  std::vector<Linear*> linear_layers(bool include_output_head) const override;
  std::string output_head_name() const override;
  std::int64_t parameter_count() const override;
  std::int64_t storage_bytes() const override;
  std::map<std::string, torch::Tensor> state_dict() const override;
  nlohmann::json config_json() const override;
  void save_pretrained(const std::filesystem::path& dir, bool copy_tokenizer) const override;

 protected:
  virtual ModelSpec build_spec() const = 0;
  // Called once the tensors are loaded: cache references for the forward pass.
  virtual void bind() = 0;

  const torch::Tensor& param(const std::string& name) const;
  Linear& slot(const std::string& name) const;
  // Rejects float16 on CPU (libtorch 1.13 has no CPU half matmul) with a clear message.
  void check_runnable() const;

  ModelConfig config_;
  torch::Dtype dtype_ = torch::kFloat32;
  torch::Device device_{torch::kCPU};
  std::filesystem::path source_;

 private:
  bool head_is_tied(const LinearSpec& spec) const;
  bool bias_is_tied(const LinearSpec& spec) const;

  ModelSpec spec_;
  std::map<std::string, torch::Tensor> params_;
  std::vector<std::unique_ptr<Linear>> linears_;
  std::map<std::string, Linear*> linear_by_name_;
};

}  // namespace biaslab::runtime::detail
