#pragma once
// safetensors files (https://github.com/huggingface/safetensors): 8-byte little-endian header
// length N, N bytes of JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
// then the raw tensor bytes. The reader memory-maps the file and validates the header completely
// before any tensor is touched, so hostile files give an exception naming the file and tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_tag;             // as in the file: "F32", "BF16", "I8", ...
  torch::Dtype dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;           // byte range inside the data section (after the header)
  std::uint64_t end = 0;
};

class BIASLAB_API SafetensorsFile {
 public:
  // Headers larger than this are rejected (same bound as the reference implementation).
  static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Tensor names in file (offset) order.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // Throws std::out_of_range naming the tensor and the file.
  const SafetensorsEntry& entry(const std::string& name) const;
  // An owned, contiguous CPU copy in the stored dtype (independent of the mapping).
  torch::Tensor load(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// "F32" <-> torch::kFloat32 etc. Throws for unsupported dtypes.
BIASLAB_API torch::Dtype safetensors_dtype(const std::string& tag);
BIASLAB_API std::string safetensors_dtype_tag(torch::Dtype dtype);

// Writes atomically (temporary file in the same directory, fsync, rename). Tensors are copied to
// contiguous CPU memory; they are laid out largest element size first, then by name.
BIASLAB_API void write_safetensors(const std::filesystem::path& path,
                                   const std::map<std::string, torch::Tensor>& tensors,
                                   const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace biaslab::runtime
