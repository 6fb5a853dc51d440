#include "biaslab/runtime/checkpoint.hpp"

#include <fstream>
#include <set>
#include <stdexcept>

#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/import_read.h>

#include "biaslab/runtime/safetensors.hpp"

namespace biaslab::runtime {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path.string() + ": malformed JSON: " + e.what());
  }
}

// Shard file names come from the index file; they must stay inside the model directory.
fs::path shard_path(const fs::path& dir, const fs::path& index, const std::string& file) {
  const fs::path rel(file);
  if (file.empty() || rel.is_absolute() || rel.has_parent_path() || file == "." || file == "..") {
    throw std::runtime_error(index.string() + ": shard name '" + file + "' must be a plain file name");
  }
  return dir / rel;
}

// weight_map of an HF index file: tensor name -> shard file name.
std::map<std::string, std::string> read_weight_map(const fs::path& index) {
  const auto j = read_json_file(index);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    throw std::runtime_error(index.string() + ": missing object 'weight_map'");
  }
  std::map<std::string, std::string> map;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) {
      throw std::runtime_error(index.string() + ": weight_map['" + it.key() + "'] is not a string");
    }
    map[it.key()] = it.value().get<std::string>();
  }
  return map;
}

std::map<std::string, torch::Tensor> load_torch_zip(const fs::path& file) {
  torch::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(file.string());
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                              /*type_resolver=*/{}, /*obj_loader=*/{},
                                              /*device=*/at::Device(at::kCPU), reader);
  } catch (const c10::Error& e) {
    throw std::runtime_error(file.string() + ": cannot read as a torch.save zip archive (legacy non-zip "
                             "torch.save files are not supported): " + e.what_without_backtrace());
  }
  if (!value.isGenericDict()) {
    throw std::runtime_error(file.string() + ": expected a dict of tensors (a state_dict), found " +
                             value.tagKind());
  }
  std::map<std::string, torch::Tensor> out;
  for (const auto& kv : value.toGenericDict()) {
    if (!kv.key().isString()) throw std::runtime_error(file.string() + ": state_dict key is not a string");
    const auto& name = kv.key().toStringRef();
    if (!kv.value().isTensor()) {
      throw std::runtime_error(file.string() + ": state_dict entry '" + name + "' is not a tensor");
    }
    // Detach from the shared pickled storage so each tensor owns exactly its bytes.
    out[name] = kv.value().toTensor().contiguous().clone();
  }
  return out;
}

}  // namespace

struct CheckpointReader::Impl {
  CheckpointFormat format = CheckpointFormat::safetensors;
  fs::path description;
  // safetensors: shards and which shard holds each tensor
  std::vector<SafetensorsFile> shards;
  std::map<std::string, std::size_t> shard_of;
  // pytorch: everything is unpickled eagerly
  std::map<std::string, torch::Tensor> eager;
  std::map<std::string, fs::path> eager_source;
  std::map<std::string, std::string> metadata;

  std::runtime_error missing(const std::string& name) const {
    return std::runtime_error("checkpoint " + description.string() + " has no tensor '" + name + "'");
  }

  void add_safetensors(const fs::path& file, const std::set<std::string>* expected) {
    shards.emplace_back(file);
    const std::size_t index = shards.size() - 1;
    for (const auto& name : shards.back().names()) {
      if (expected && !expected->count(name)) {
        throw std::runtime_error(file.string() + ": tensor '" + name + "' is not listed for this shard in " +
                                 description.string());
      }
      if (!shard_of.emplace(name, index).second) {
        throw std::runtime_error(file.string() + ": tensor '" + name + "' also appears in " +
                                 shards[shard_of[name]].path().string());
      }
    }
    for (const auto& [k, v] : shards.back().metadata()) metadata.emplace(k, v);
  }

  void add_torch(const fs::path& file, const std::set<std::string>* expected) {
    for (auto& [name, t] : load_torch_zip(file)) {
      if (expected && !expected->count(name)) {
        throw std::runtime_error(file.string() + ": tensor '" + name + "' is not listed for this shard in " +
                                 description.string());
      }
      if (eager.count(name)) {
        throw std::runtime_error(file.string() + ": tensor '" + name + "' also appears in " +
                                 eager_source[name].string());
      }
      eager.emplace(name, std::move(t));
      eager_source.emplace(name, file);
    }
  }

  void open_sharded(const fs::path& dir, const fs::path& index, bool safetensors) {
    description = index;
    const auto weight_map = read_weight_map(index);
    std::map<std::string, std::set<std::string>> per_shard;
    for (const auto& [tensor, file] : weight_map) per_shard[file].insert(tensor);
    for (const auto& [file, tensors] : per_shard) {
      const auto path = shard_path(dir, index, file);
      if (safetensors) {
        add_safetensors(path, &tensors);
      } else {
        add_torch(path, &tensors);
      }
    }
    for (const auto& [tensor, file] : weight_map) {
      const bool present = safetensors ? shard_of.count(tensor) != 0 : eager.count(tensor) != 0;
      if (!present) {
        throw std::runtime_error(index.string() + " lists tensor '" + tensor + "' in " + file +
                                 ", but that shard does not contain it");
      }
    }
  }
};

CheckpointReader::CheckpointReader(const fs::path& dir, CheckpointFormat format) : impl_(std::make_unique<Impl>()) {
  if (!fs::is_directory(dir)) throw std::runtime_error("model directory " + dir.string() + " does not exist");
  const auto st_single = dir / "model.safetensors";
  const auto st_index = dir / "model.safetensors.index.json";
  const auto pt_single = dir / "pytorch_model.bin";
  const auto pt_index = dir / "pytorch_model.bin.index.json";
  const bool want_st = format != CheckpointFormat::pytorch;
  const bool want_pt = format != CheckpointFormat::safetensors;
  if (want_st && fs::exists(st_single)) {
    impl_->format = CheckpointFormat::safetensors;
    impl_->description = st_single;
    impl_->add_safetensors(st_single, nullptr);
  } else if (want_st && fs::exists(st_index)) {
    impl_->format = CheckpointFormat::safetensors;
    impl_->open_sharded(dir, st_index, true);
  } else if (want_pt && fs::exists(pt_single)) {
    impl_->format = CheckpointFormat::pytorch;
    impl_->description = pt_single;
    impl_->add_torch(pt_single, nullptr);
  } else if (want_pt && fs::exists(pt_index)) {
    impl_->format = CheckpointFormat::pytorch;
    impl_->open_sharded(dir, pt_index, false);
  } else {
    std::string wanted = want_st ? "model.safetensors[.index.json]" : "";
    if (want_pt) wanted += std::string(wanted.empty() ? "" : " or ") + "pytorch_model.bin[.index.json]";
    throw std::runtime_error("model directory " + dir.string() + " has no weights (looked for " + wanted + ")");
  }
}

CheckpointReader::~CheckpointReader() = default;
CheckpointReader::CheckpointReader(CheckpointReader&&) noexcept = default;
CheckpointReader& CheckpointReader::operator=(CheckpointReader&&) noexcept = default;

std::vector<std::string> CheckpointReader::names() const {
  std::vector<std::string> out;
  if (impl_->format == CheckpointFormat::safetensors) {
    for (const auto& [name, _] : impl_->shard_of) out.push_back(name);
  } else {
    for (const auto& [name, _] : impl_->eager) out.push_back(name);
  }
  return out;
}

bool CheckpointReader::contains(const std::string& name) const {
  return impl_->shard_of.count(name) != 0 || impl_->eager.count(name) != 0;
}

std::vector<std::int64_t> CheckpointReader::shape(const std::string& name) const {
  if (auto it = impl_->shard_of.find(name); it != impl_->shard_of.end()) {
    return impl_->shards[it->second].entry(name).shape;
  }
  if (auto it = impl_->eager.find(name); it != impl_->eager.end()) return it->second.sizes().vec();
  throw impl_->missing(name);
}

torch::Dtype CheckpointReader::dtype(const std::string& name) const {
  if (auto it = impl_->shard_of.find(name); it != impl_->shard_of.end()) {
    return impl_->shards[it->second].entry(name).dtype;
  }
  if (auto it = impl_->eager.find(name); it != impl_->eager.end()) return it->second.scalar_type();
  throw impl_->missing(name);
}

torch::Tensor CheckpointReader::load(const std::string& name) const {
  if (auto it = impl_->shard_of.find(name); it != impl_->shard_of.end()) {
    return impl_->shards[it->second].load(name);
  }
  if (auto it = impl_->eager.find(name); it != impl_->eager.end()) return it->second;
  throw impl_->missing(name);
}

fs::path CheckpointReader::source(const std::string& name) const {
  if (auto it = impl_->shard_of.find(name); it != impl_->shard_of.end()) return impl_->shards[it->second].path();
  if (auto it = impl_->eager_source.find(name); it != impl_->eager_source.end()) return it->second;
  throw impl_->missing(name);
}

const std::map<std::string, std::string>& CheckpointReader::metadata() const { return impl_->metadata; }
CheckpointFormat CheckpointReader::format() const { return impl_->format; }
const fs::path& CheckpointReader::description_path() const { return impl_->description; }

}  // namespace biaslab::runtime
