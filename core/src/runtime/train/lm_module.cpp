#include "biaslab/runtime/train/lm_module.hpp"

#include <fstream>
#include <set>
#include <stdexcept>

#include "biaslab/runtime/checkpoint.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "biaslab/runtime/train/bert_masked_lm.hpp"
#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "runtime/train/file_util.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;

namespace {

std::string shape_string(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Alias names ending in '*' match every checkpoint tensor with that prefix.
const std::string* find_alias(const std::map<std::string, std::string>& aliases, const std::string& name,
                              std::string& matched) {
  if (auto it = aliases.find(name); it != aliases.end()) {
    matched = it->first;
    return &it->second;
  }
  for (const auto& [pattern, target] : aliases) {
    if (!pattern.empty() && pattern.back() == '*' && name.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0) {
      matched = pattern;
      return &target;
    }
  }
  return nullptr;
}

}  // namespace

TrainableLM::~TrainableLM() = default;

std::map<std::string, torch::Tensor> TrainableLM::hf_state_dict() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : named_parameters(/*recurse=*/true)) out.emplace(item.key(), item.value());
  return out;
}

void TrainableLM::load_hf_state_dict(const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  auto params = hf_state_dict();
  const auto aliases = checkpoint_aliases();
  std::set<std::string> loaded;
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : tensors) {
    if (auto it = params.find(name); it != params.end()) {
      if (tensor.sizes() != it->second.sizes()) {
        throw std::runtime_error(source + ": tensor '" + name + "' has shape " + shape_string(tensor.sizes()) + ", " +
                                 architecture() + " expects " + shape_string(it->second.sizes()));
      }
      it->second.copy_(tensor.to(torch::kCPU, torch::kFloat32));
      loaded.insert(name);
      continue;
    }
    std::string matched;
    const std::string* target = find_alias(aliases, name, matched);
    if (!target) {
      throw std::runtime_error(source + ": unexpected tensor '" + name + "' for " + architecture());
    }
    if (target->empty()) continue;  // a buffer HF does not persist any more
    // A tied alias (e.g. the MLM decoder): HF ties it on load, so its value is the target's.
    const auto& tied = params.at(*target);
    if (tensor.sizes() != tied.sizes()) {
      throw std::runtime_error(source + ": tied tensor '" + name + "' has shape " + shape_string(tensor.sizes()) +
                               ", its target '" + *target + "' has " + shape_string(tied.sizes()));
    }
  }
  for (const auto& [name, _] : params) {
    if (!loaded.count(name)) {
      throw std::runtime_error(source + " is missing tensor '" + name + "' required by " + architecture());
    }
  }
}

std::int64_t TrainableLM::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : parameters(true)) n += p.numel();
  return n;
}

std::int64_t TrainableLM::non_embedding_parameter_count() const {
  const auto params = hf_state_dict();
  std::int64_t n = parameter_count();
  for (const auto& name : embedding_parameter_names()) n -= params.at(name).numel();
  return n;
}

void TrainableLM::save_pretrained(const fs::path& dir) const {
  fs::create_directories(dir);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, t] : hf_state_dict()) tensors.emplace(name, t.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  write_safetensors(dir / "model.safetensors", tensors);
  write_text_file(dir / "config.json", config_json().dump(2) + "\n");
}

std::shared_ptr<TrainableLM> make_trainable_lm(const nlohmann::json& hf_config) {
  const std::string type = hf_config.value("model_type", std::string());
  if (type == "gpt_neox") return std::make_shared<GptNeoxLM>(GptNeoxConfig::from_hf_json(hf_config));
  if (type == "bert" || type == "roberta") return std::make_shared<BertMaskedLM>(BertConfig::from_hf_json(hf_config));
  throw std::runtime_error("config.json: model_type '" + type +
                           "' cannot be trained by biaslab (supported: gpt_neox, bert, roberta)");
}

std::shared_ptr<TrainableLM> load_trainable_lm(const fs::path& model_dir) {
  const auto config = read_json_file(model_dir / "config.json");
  auto model = make_trainable_lm(config);
  CheckpointReader reader(model_dir);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& name : reader.names()) tensors.emplace(name, reader.load(name));
  model->load_hf_state_dict(tensors, reader.description_path().string());
  return model;
}

}  // namespace biaslab::runtime::train
