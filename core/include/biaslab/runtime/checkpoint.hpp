#pragma once
// The tensors of a Hugging Face model directory, whatever the weight format:
//   model.safetensors | model.safetensors.index.json (+ shards) |
//   pytorch_model.bin (torch.save zip) | pytorch_model.bin.index.json (+ shards).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

enum class CheckpointFormat { automatic, safetensors, pytorch };

class BIASLAB_API CheckpointReader {
 public:
  // automatic prefers safetensors (as HF does) and falls back to pytorch_model.bin.
  explicit CheckpointReader(const std::filesystem::path& model_dir,
                            CheckpointFormat format = CheckpointFormat::automatic);
  ~CheckpointReader();
  CheckpointReader(CheckpointReader&&) noexcept;
  CheckpointReader& operator=(CheckpointReader&&) noexcept;

  // All tensor names, sorted.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  std::vector<std::int64_t> shape(const std::string& name) const;
  torch::Dtype dtype(const std::string& name) const;
  // CPU tensor in its stored dtype. Throws naming the tensor and the directory when absent.
  torch::Tensor load(const std::string& name) const;
  // File that holds the tensor.
  std::filesystem::path source(const std::string& name) const;
  // Merged safetensors __metadata__ of all shards (empty for pytorch_model.bin).
  const std::map<std::string, std::string>& metadata() const;
  CheckpointFormat format() const;
  // Weight file(s), for messages: "dir/model.safetensors" or "dir/model.safetensors.index.json".
  const std::filesystem::path& description_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biaslab::runtime
