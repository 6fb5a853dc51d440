#include "transformer_model.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>

#include "biaslab/runtime/safetensors.hpp"

namespace biaslab::runtime::detail {

namespace fs = std::filesystem;

namespace {

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr const char* kQuantizationKey = "biaslab_quantization";

// Files that travel with a model directory besides config.json and the weights.
const char* const kCompanionFiles[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
    "sentencepiece.bpe.model", "generation_config.json"};

void write_text_atomically(const fs::path& path, const std::string& text) {
  std::random_device rd;
  std::string tmp_name = ".";
  tmp_name += path.filename().string();
  tmp_name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  const auto tmp = path.parent_path() / tmp_name;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot create " + tmp.string());
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + tmp.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot rename into " + path.string() + ": " + ec.message());
  }
}

}  // namespace

TransformerModel::TransformerModel(ModelConfig config) : config_(std::move(config)) {}
TransformerModel::~TransformerModel() = default;

void TransformerModel::load(const CheckpointReader& reader, const fs::path& model_dir, const LoadOptions& options) {
  source_ = model_dir;
  device_ = options.device;
  if (options.dtype) {
    dtype_ = *options.dtype;
  } else {
    dtype_ = config_.torch_dtype.empty() ? torch::kFloat32 : parse_dtype(config_.torch_dtype);
  }
  if (dtype_ != torch::kFloat32 && dtype_ != torch::kBFloat16 && dtype_ != torch::kFloat16) {
    throw std::invalid_argument("model dtype must be float32, bfloat16 or float16, not " + dtype_name(dtype_));
  }
  if (options.threads > 0) torch::set_num_threads(options.threads);
  spec_ = build_spec();
  const std::string where = reader.description_path().string();

  // Which layers hold compressed kernels (written by save_pretrained).
  std::map<std::string, std::pair<std::string, nlohmann::json>> quantized;
  if (config_.raw.contains(kQuantizationKey) && !config_.raw[kQuantizationKey].is_null()) {
    const auto& q = config_.raw[kQuantizationKey];
    const std::string qwhere = (model_dir / "config.json").string() + ": " + kQuantizationKey;
    if (!q.is_object() || !q.contains("layers") || !q["layers"].is_object()) {
      throw std::runtime_error(qwhere + " must be an object with an object 'layers'");
    }
    for (auto it = q["layers"].begin(); it != q["layers"].end(); ++it) {
      const auto& entry = it.value();
      if (!entry.is_object() || !entry.contains("format") || !entry["format"].is_string()) {
        throw std::runtime_error(qwhere + ": layer '" + it.key() + "' needs a string 'format'");
      }
      quantized[it.key()] = {entry["format"].get<std::string>(),
                             entry.contains("meta") ? entry["meta"] : nlohmann::json::object()};
    }
  }

  // Every name the architecture can consume, to map checkpoint names onto.
  std::set<std::string> known;
  for (const auto& p : spec_.params) known.insert(p.name);
  for (const auto& l : spec_.linears) {
    known.insert(l.name + ".weight");
    known.insert(l.name + ".bias");
  }
  for (const auto& [layer, _] : quantized) {
    if (std::none_of(spec_.linears.begin(), spec_.linears.end(), [&](const auto& l) { return l.name == layer; })) {
      throw std::runtime_error((model_dir / "config.json").string() + ": " + kQuantizationKey + " names layer '" +
                               layer + "', which " + architecture() + " does not have");
    }
  }
  const auto stored_names = reader.names();
  const std::string prefix = spec_.base_prefix.empty() ? "" : spec_.base_prefix + ".";
  const bool has_prefix =
      prefix.empty() || std::any_of(stored_names.begin(), stored_names.end(),
                                    [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
  std::map<std::string, std::string> stored_of;  // canonical name -> name in the checkpoint
  for (const auto& stored : stored_names) {
    std::string name = stored;
    // A checkpoint of the bare model (GPT2Model, BertModel) lacks the base prefix (HF adds it).
    if (!has_prefix && !known.count(name)) {
      name = prefix + name;
    }
    // Old TF-converted checkpoints name LayerNorm parameters gamma/beta (HF renames them too).
    if (ends_with(name, ".gamma") && known.count(name.substr(0, name.size() - 6) + ".weight")) {
      name = name.substr(0, name.size() - 6) + ".weight";
    } else if (ends_with(name, ".beta") && known.count(name.substr(0, name.size() - 5) + ".bias")) {
      name = name.substr(0, name.size() - 5) + ".bias";
    }
    if (!stored_of.emplace(name, stored).second) {
      throw std::runtime_error("checkpoint " + where + ": tensors '" + stored_of[name] + "' and '" + stored +
                               "' both map to '" + name + "'");
    }
  }
  std::set<std::string> consumed;

  auto fetch = [&](const std::string& name, const std::vector<std::int64_t>& shape) -> torch::Tensor {
    auto it = stored_of.find(name);
    if (it == stored_of.end()) {
      throw std::runtime_error("checkpoint " + where + " is missing tensor '" + name + "' required by " +
                               architecture());
    }
    const auto actual = reader.shape(it->second);
    if (actual != shape) {
      throw std::runtime_error("tensor '" + it->second + "' in " + reader.source(it->second).string() + " has shape " +
                               shape_string(actual) + ", " + architecture() + " expects " + shape_string(shape));
    }
    const auto stored_dtype = reader.dtype(it->second);
    if (!c10::isFloatingType(stored_dtype)) {
      throw std::runtime_error("tensor '" + it->second + "' in " + reader.source(it->second).string() +
                               " has dtype " + c10::toString(stored_dtype) + ", expected a floating-point type");
    }
    consumed.insert(name);
    return reader.load(it->second).to(dtype_).to(device_);
  };

  params_.clear();
  for (const auto& p : spec_.params) params_[p.name] = fetch(p.name, p.shape);

  linears_.clear();
  linear_by_name_.clear();
  for (const auto& l : spec_.linears) {
    std::shared_ptr<LinearKernel> kernel;
    if (auto q = quantized.find(l.name); q != quantized.end()) {
      std::map<std::string, torch::Tensor> tensors;
      const std::string layer_prefix = l.name + ".";
      for (const auto& [name, stored] : stored_of) {
        if (name.rfind(layer_prefix, 0) == 0 && name.find('.', layer_prefix.size()) == std::string::npos) {
          tensors[name.substr(layer_prefix.size())] = reader.load(stored);
          consumed.insert(name);
        }
      }
      if (tensors.empty()) {
        throw std::runtime_error("checkpoint " + where + " has no tensors '" + layer_prefix + "*' for the " +
                                 q->second.first + " layer '" + l.name + "'");
      }
      try {
        kernel = load_linear_kernel(q->second.first, tensors, q->second.second);
      } catch (const std::exception& e) {
        throw std::runtime_error("layer '" + l.name + "' in " + where + ": " + e.what());
      }
      if (kernel->in_features() != l.in_features || kernel->out_features() != l.out_features) {
        throw std::runtime_error("layer '" + l.name + "' in " + where + " is " + std::to_string(kernel->out_features()) +
                                 "x" + std::to_string(kernel->in_features()) + ", " + architecture() + " expects " +
                                 std::to_string(l.out_features) + "x" + std::to_string(l.in_features));
      }
      kernel->to(device_);
    } else {
      torch::Tensor weight;
      if (!l.tied_weight.empty() && config_.tie_word_embeddings) {
        weight = params_.at(l.tied_weight);
        // A stored copy of a tied alias is ignored, as HF does.
        if (stored_of.count(l.name + ".weight")) consumed.insert(l.name + ".weight");
      } else if (l.conv1d) {
        weight = fetch(l.name + ".weight", {l.in_features, l.out_features}).t().contiguous();
      } else {
        weight = fetch(l.name + ".weight", {l.out_features, l.in_features});
      }
      std::optional<torch::Tensor> bias;
      if (l.bias) {
        if (!l.tied_bias.empty()) {
          bias = params_.at(l.tied_bias);
          if (stored_of.count(l.name + ".bias")) consumed.insert(l.name + ".bias");
        } else {
          bias = fetch(l.name + ".bias", {l.out_features});
        }
      }
      kernel = std::make_shared<FloatLinear>(weight, bias);
    }
    linears_.push_back(std::make_unique<Linear>(l.name, std::move(kernel)));
    linear_by_name_[l.name] = linears_.back().get();
  }

  std::vector<std::string> unexpected;
  for (const auto& [name, stored] : stored_of) {
    if (consumed.count(name)) continue;
    const bool ignored = std::any_of(spec_.ignored.begin(), spec_.ignored.end(),
                                     [&](const std::regex& re) { return std::regex_match(name, re); });
    if (!ignored) unexpected.push_back(stored);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (std::size_t i = 0; i < unexpected.size() && i < 8; ++i) {
      list += (i ? ", '" : "'") + unexpected[i] + "' (" + reader.source(unexpected[i]).filename().string() + ")";
    }
    if (unexpected.size() > 8) list += ", ... (" + std::to_string(unexpected.size()) + " in all)";
    throw std::runtime_error("checkpoint " + where + " has tensors " + architecture() + " does not use: " + list);
  }
  bind();
}

const torch::Tensor& TransformerModel::param(const std::string& name) const {
  auto it = params_.find(name);
  if (it == params_.end()) throw std::logic_error("internal: no parameter '" + name + "'");
  return it->second;
}

Linear& TransformerModel::slot(const std::string& name) const {
  auto it = linear_by_name_.find(name);
  if (it == linear_by_name_.end()) throw std::logic_error("internal: no linear slot '" + name + "'");
  return *it->second;
}

void TransformerModel::check_runnable() const {
  if (dtype_ == torch::kFloat16 && device_.is_cpu()) {
    throw std::runtime_error("float16 compute is not available on CPU in libtorch 1.13; load the model with "
                             "dtype float32 or bfloat16, or on a CUDA device");
  }
}

std::vector<Linear*> TransformerModel::linear_layers(bool include_output_head) const {
  std::vector<Linear*> out;
  for (std::size_t i = 0; i < spec_.linears.size(); ++i) {
    if (spec_.linears[i].output_head && !include_output_head) continue;
    out.push_back(linears_[i].get());
  }
  return out;
}

std::string TransformerModel::output_head_name() const {
  for (const auto& l : spec_.linears) {
    if (l.output_head) return l.name;
  }
  return "";
}

bool TransformerModel::head_is_tied(const LinearSpec& l) const {
  if (l.tied_weight.empty()) return false;
  auto* f = dynamic_cast<FloatLinear*>(linear_by_name_.at(l.name)->kernel().get());
  return f && f->raw_weight().is_same(params_.at(l.tied_weight));
}

bool TransformerModel::bias_is_tied(const LinearSpec& l) const {
  if (l.tied_bias.empty()) return false;
  auto* f = dynamic_cast<FloatLinear*>(linear_by_name_.at(l.name)->kernel().get());
  return f && f->raw_bias() && f->raw_bias()->is_same(params_.at(l.tied_bias));
}

std::int64_t TransformerModel::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& [_, t] : params_) count += t.numel();
  for (const auto& l : spec_.linears) {
    const auto& kernel = linear_by_name_.at(l.name)->kernel();
    if (!head_is_tied(l)) count += kernel->in_features() * kernel->out_features();
    if (kernel->bias() && !bias_is_tied(l)) count += kernel->out_features();
  }
  return count;
}

std::int64_t TransformerModel::storage_bytes() const {
  std::int64_t bytes = 0;
  for (const auto& [_, t] : params_) bytes += t.numel() * static_cast<std::int64_t>(t.element_size());
  for (const auto& l : spec_.linears) {
    const auto& kernel = linear_by_name_.at(l.name)->kernel();
    bytes += kernel->storage_bytes();
    auto* f = dynamic_cast<FloatLinear*>(kernel.get());
    if (f && head_is_tied(l)) bytes -= f->raw_weight().numel() * static_cast<std::int64_t>(f->raw_weight().element_size());
    if (f && bias_is_tied(l)) bytes -= f->raw_bias()->numel() * static_cast<std::int64_t>(f->raw_bias()->element_size());
  }
  return bytes;
}

namespace {

// Tensors + quantization entries of a model, shared by state_dict(), config_json() and save.
struct Collected {
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json layers = nlohmann::json::object();
  bool head_untied = false;
};

}  // namespace

static Collected collect(const ModelSpec& spec, const std::map<std::string, torch::Tensor>& params,
                         const std::map<std::string, Linear*>& slots, const ModelConfig& config,
                         const std::function<bool(const LinearSpec&)>& head_tied,
                         const std::function<bool(const LinearSpec&)>& bias_tied) {
  Collected c;
  for (const auto& [name, t] : params) c.tensors[name] = t;
  for (const auto& l : spec.linears) {
    const auto& kernel = slots.at(l.name)->kernel();
    auto* f = dynamic_cast<FloatLinear*>(kernel.get());
    const bool tied_head = head_tied(l);
    if (!l.tied_weight.empty() && config.tie_word_embeddings && !tied_head) c.head_untied = true;
    const bool has_bias = f && f->raw_bias().has_value();
    // A plain float layer whose bias matches the architecture is stored in HF layout.
    if (f && !(has_bias && !l.bias)) {
      if (!tied_head) c.tensors[l.name + ".weight"] = l.conv1d ? f->raw_weight().t().contiguous() : f->raw_weight();
      if (l.bias && !bias_tied(l)) {
        // No bias in the kernel behaves as a zero bias.
        c.tensors[l.name + ".bias"] =
            has_bias ? *f->raw_bias() : torch::zeros({l.out_features}, f->raw_weight().options());
      }
      continue;
    }
    std::map<std::string, torch::Tensor> tensors;
    nlohmann::json meta = nlohmann::json::object();
    kernel->serialize(tensors, meta);
    for (auto& [name, t] : tensors) c.tensors[l.name + "." + name] = t;
    c.layers[l.name] = {{"format", kernel->format()}, {"meta", meta}};
  }
  return c;
}

std::map<std::string, torch::Tensor> TransformerModel::state_dict() const {
  return collect(spec_, params_, linear_by_name_, config_, [this](const LinearSpec& l) { return head_is_tied(l); },
                 [this](const LinearSpec& l) { return bias_is_tied(l); })
      .tensors;
}

nlohmann::json TransformerModel::config_json() const {
  auto c = collect(spec_, params_, linear_by_name_, config_, [this](const LinearSpec& l) { return head_is_tied(l); },
                   [this](const LinearSpec& l) { return bias_is_tied(l); });
  nlohmann::json j = config_.raw;
  j["model_type"] = config_.model_type;
  j["architectures"] = nlohmann::json::array({architecture()});
  j["torch_dtype"] = dtype_name(dtype_);
  if (c.head_untied) j["tie_word_embeddings"] = false;
  if (c.layers.empty()) {
    j.erase(kQuantizationKey);
  } else {
    j[kQuantizationKey] = {{"version", 1}, {"layers", c.layers}};
  }
  return j;
}

void TransformerModel::save_pretrained(const fs::path& dir, bool copy_tokenizer) const {
  fs::create_directories(dir);
  auto c = collect(spec_, params_, linear_by_name_, config_, [this](const LinearSpec& l) { return head_is_tied(l); },
                   [this](const LinearSpec& l) { return bias_is_tied(l); });
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  const auto config = config_json();
  if (config.contains(kQuantizationKey)) metadata[kQuantizationKey] = config[kQuantizationKey].dump();
  write_safetensors(dir / "model.safetensors", c.tensors, metadata);
  write_text_atomically(dir / "config.json", config.dump(2) + "\n");
  if (copy_tokenizer && !source_.empty()) {
    std::error_code ec;
    if (fs::equivalent(source_, dir, ec)) return;
    for (const char* name : kCompanionFiles) {
      const auto from = source_ / name;
      if (fs::exists(from)) fs::copy_file(from, dir / name, fs::copy_options::overwrite_existing);
    }
  }
}

}  // namespace biaslab::runtime::detail
