#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "biaslab/runtime/row_groups.hpp"

#include <stdexcept>

#include "architectures/architectures.hpp"

namespace biaslab::runtime {

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return torch::kFloat32;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return torch::kFloat16;
  throw std::invalid_argument("unknown dtype '" + name + "' (expected float32, bfloat16 or float16)");
}

std::string dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kInt32: return "int32";
    case torch::kInt64: return "int64";
    default: return c10::toString(dtype);
  }
}

LanguageModel::~LanguageModel() = default;

bool LanguageModel::needs_whole_sequences() const {
  for (const auto* slot : linear_layers(true))
    if (slot->kernel()->needs_whole_sequences()) return true;
  return false;
}

bool LanguageModel::needs_bitwise_invariance() const {
  for (const auto* slot : linear_layers(true))
    if (slot->kernel()->needs_bitwise_invariance()) return true;
  return false;
}

std::vector<torch::Tensor> LanguageModel::run(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                              const std::optional<torch::Tensor>& position_ids,
                                              bool all_layers) const {
  c10::InferenceMode guard;
  if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(0) == 0 || input_ids.size(1) == 0) {
    throw std::invalid_argument(architecture() + ": input_ids must be a non-empty [batch, length] tensor");
  }
  if (!c10::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
    throw std::invalid_argument(architecture() + ": input_ids must be an integer tensor");
  }
  auto ids = input_ids.to(device(), torch::kLong);
  const auto lo = ids.min().item<std::int64_t>(), hi = ids.max().item<std::int64_t>();
  if (lo < 0 || hi >= config().vocab_size) {
    throw std::invalid_argument(architecture() + ": token id " + std::to_string(lo < 0 ? lo : hi) +
                                " is outside the vocabulary [0, " + std::to_string(config().vocab_size) + ")");
  }
  torch::Tensor mask;
  if (attention_mask.defined()) {
    if (attention_mask.sizes() != input_ids.sizes()) {
      throw std::invalid_argument(architecture() + ": attention_mask must have the shape of input_ids");
    }
    mask = attention_mask.to(device()).ne(0).to(torch::kLong);
  } else {
    mask = torch::ones_like(ids);
  }
  torch::Tensor positions;
  if (position_ids && position_ids->defined()) {
    if (position_ids->sizes() != input_ids.sizes()) {
      throw std::invalid_argument(architecture() + ": position_ids must have the shape of input_ids");
    }
    positions = position_ids->to(device(), torch::kLong);
  }
  // Kernels with per-sequence activation ranges, and attention in front of dynamically quantized
  // layers, see which rows are which sequence's real tokens.
  std::optional<ScopedRowGroups> groups;
  if (needs_bitwise_invariance()) groups.emplace(RowGroups::from_attention_mask(mask));
  return encode(ids, mask, positions, all_layers);
}

torch::Tensor LanguageModel::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                     const std::optional<torch::Tensor>& position_ids) const {
  c10::InferenceMode guard;
  auto hidden = run(input_ids, attention_mask, position_ids, false).back();
  std::optional<ScopedRowGroups> groups;
  if (needs_whole_sequences())
    groups.emplace(RowGroups::from_attention_mask(attention_mask.defined() ? attention_mask
                                                                           : torch::ones(input_ids.sizes(), torch::kLong)));
  return logits_from_hidden(hidden);
}

torch::Tensor LanguageModel::hidden_states(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                           const std::optional<torch::Tensor>& position_ids) const {
  c10::InferenceMode guard;
  return run(input_ids, attention_mask, position_ids, false).back().to(torch::kFloat32);
}

std::vector<torch::Tensor> LanguageModel::all_hidden_states(const torch::Tensor& input_ids,
                                                            const torch::Tensor& attention_mask,
                                                            const std::optional<torch::Tensor>& position_ids) const {
  c10::InferenceMode guard;
  auto states = run(input_ids, attention_mask, position_ids, true);
  for (auto& s : states) s = s.to(torch::kFloat32);
  return states;
}

Linear& LanguageModel::linear(const std::string& name) const {
  for (auto* l : linear_layers(true)) {
    if (l->name() == name) return *l;
  }
  throw std::out_of_range(architecture() + " has no linear layer '" + name + "'");
}

std::unique_ptr<LanguageModel> load_model(const std::filesystem::path& model_dir, const LoadOptions& options) {
  // Compressed layers (dynamic int8, weight-only) reload through the kernel format registry.
  ops::register_compressed_formats();
  auto config = ModelConfig::from_file(model_dir / "config.json");
  std::unique_ptr<detail::TransformerModel> model;
  switch (config.architecture) {
    case Architecture::gpt_neox: model = detail::make_gpt_neox(std::move(config)); break;
    case Architecture::gpt2: model = detail::make_gpt2(std::move(config)); break;
    case Architecture::bert:
    case Architecture::roberta: model = detail::make_bert(std::move(config)); break;
    case Architecture::distilbert: model = detail::make_distilbert(std::move(config)); break;
    case Architecture::llama:
    case Architecture::qwen2:
    case Architecture::mistral: model = detail::make_llama(std::move(config)); break;
  }
  CheckpointReader reader(model_dir, options.format);
  model->load(reader, model_dir, options);
  return model;
}

std::unique_ptr<LanguageModel> load_model(const biaslab::Artifact& artifact, const LoadOptions& options) {
  if (!artifact.type.empty() && artifact.type != artifact_type::model && artifact.type != artifact_type::any) {
    throw std::invalid_argument("artifact '" + artifact.key + "' from " + artifact.producer + " has type '" +
                                artifact.type + "', not a model");
  }
  return load_model(artifact.path, options);
}

}  // namespace biaslab::runtime
