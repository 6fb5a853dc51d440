#include "biaslab/runtime/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace biaslab::runtime {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; big-endian hosts are not supported");

namespace {

std::runtime_error file_error(const std::filesystem::path& path, const std::string& what) {
  return std::runtime_error("safetensors file " + path.string() + ": " + what);
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

torch::Dtype safetensors_dtype(const std::string& tag) {
  static const std::map<std::string, torch::Dtype> table{
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16}, {"I8", torch::kInt8}, {"U8", torch::kUInt8}, {"BOOL", torch::kBool}};
  auto it = table.find(tag);
  if (it == table.end()) throw std::runtime_error("unsupported safetensors dtype '" + tag + "'");
  return it->second;
}

std::string safetensors_dtype_tag(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat64: return "F64";
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kInt16: return "I16";
    case torch::kInt8: return "I8";
    case torch::kUInt8: return "U8";
    case torch::kBool: return "BOOL";
    default: throw std::runtime_error(std::string("dtype ") + c10::toString(dtype) + " cannot be stored in safetensors");
  }
}

// --- reader --------------------------------------------------------------------------------------

struct SafetensorsFile::Mapping {
  void* data = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (data && data != MAP_FAILED) ::munmap(data, size);
  }
  const std::uint8_t* bytes() const { return static_cast<const std::uint8_t*>(data); }
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw file_error(path, std::string("cannot stat: ") + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw file_error(path, "not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw file_error(path, "truncated: " + std::to_string(file_size) + " bytes, the 8-byte header length is missing");
  }
  mapping_ = std::make_shared<Mapping>();
  mapping_->size = static_cast<std::size_t>(file_size);
  mapping_->data = ::mmap(nullptr, mapping_->size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);
  if (mapping_->data == MAP_FAILED) {
    mapping_->data = nullptr;
    throw file_error(path, std::string("cannot mmap: ") + std::strerror(map_errno));
  }

  std::uint64_t header_len = 0;
  std::memcpy(&header_len, mapping_->bytes(), 8);
  if (header_len < 2) throw file_error(path, "header length " + std::to_string(header_len) + " is too small");
  if (header_len > kMaxHeaderBytes) {
    throw file_error(path, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                               std::to_string(kMaxHeaderBytes) + " bytes");
  }
  if (header_len > file_size - 8) {
    throw file_error(path, "truncated: header length " + std::to_string(header_len) + " but only " +
                               std::to_string(file_size - 8) + " bytes follow");
  }
  data_start_ = 8 + header_len;
  const std::uint64_t data_size = file_size - data_start_;
  const char* header_begin = reinterpret_cast<const char*>(mapping_->bytes() + 8);
  const char* header_end = header_begin + header_len;

  // Duplicate top-level keys would silently shadow each other in the parsed object.
  std::set<std::string> seen_keys;
  std::string duplicate;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(
        header_begin, header_end,
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
            if (!seen_keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
              duplicate = parsed.get<std::string>();
            }
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path, std::string("malformed JSON header: ") + e.what());
  }
  if (!duplicate.empty()) throw file_error(path, "header lists tensor '" + duplicate + "' twice");
  if (!header.is_object()) throw file_error(path, "header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& value = it.value();
    if (name == "__metadata__") {
      if (!value.is_object()) throw file_error(path, "__metadata__ must be an object of strings");
      for (auto m = value.begin(); m != value.end(); ++m) {
        if (!m.value().is_string()) throw file_error(path, "__metadata__ value '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto tensor_error = [&](const std::string& what) {
      return file_error(path, "tensor '" + name + "': " + what);
    };
    if (!value.is_object()) throw tensor_error("entry is not an object");
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
      if (!value.contains(key)) throw tensor_error(std::string("missing '") + key + "'");
    }
    SafetensorsEntry entry;
    entry.name = name;
    if (!value["dtype"].is_string()) throw tensor_error("'dtype' is not a string");
    entry.dtype_tag = value["dtype"].get<std::string>();
    try {
      entry.dtype = safetensors_dtype(entry.dtype_tag);
    } catch (const std::exception& e) {
      throw tensor_error(e.what());
    }
    const auto& shape = value["shape"];
    if (!shape.is_array()) throw tensor_error("'shape' is not an array");
    std::uint64_t numel = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw tensor_error("shape entries must be non-negative integers");
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel)) {
        throw tensor_error("shape " + shape.dump() + " overflows");
      }
      entry.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      throw tensor_error("'data_offsets' must be two non-negative integers");
    }
    entry.begin = offsets[0].get<std::uint64_t>();
    entry.end = offsets[1].get<std::uint64_t>();
    if (entry.begin > entry.end) throw tensor_error("data_offsets begin > end");
    if (entry.end > data_size) {
      throw tensor_error("data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                         "] lie outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    }
    const auto element_size = static_cast<std::uint64_t>(c10::elementSize(entry.dtype));
    std::uint64_t expected_bytes = 0;
    if (__builtin_mul_overflow(numel, element_size, &expected_bytes) || expected_bytes != entry.end - entry.begin) {
      throw tensor_error("byte size " + std::to_string(entry.end - entry.begin) + " does not match shape " +
                         shape_string(entry.shape) + " of " + entry.dtype_tag);
    }
    entries_.emplace(name, std::move(entry));
  }

  std::vector<const SafetensorsEntry*> by_offset;
  by_offset.reserve(entries_.size());
  for (const auto& [_, e] : entries_) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      throw file_error(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                                 "' overlap in the data section");
    }
  }
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<const SafetensorsEntry*> ordered;
  for (const auto& [_, e] : entries_) ordered.push_back(&e);
  std::sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->name < b->name;
  });
  std::vector<std::string> out;
  out.reserve(ordered.size());
  for (const auto* e : ordered) out.push_back(e->name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    throw std::out_of_range("safetensors file " + path_.string() + " has no tensor '" + name + "'");
  }
  return it->second;
}

torch::Tensor SafetensorsFile::load(const std::string& name) const {
  const auto& e = entry(name);
  auto tensor = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
  const auto bytes = e.end - e.begin;
  if (bytes) std::memcpy(tensor.data_ptr(), mapping_->bytes() + data_start_ + e.begin, bytes);
  return tensor;
}

// --- writer --------------------------------------------------------------------------------------

void write_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  struct Item {
    const std::string* name;
    torch::Tensor data;  // contiguous CPU
    std::string tag;
  };
  std::vector<Item> items;
  items.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::runtime_error("write_safetensors: '__metadata__' is reserved");
    if (!t.defined()) throw std::runtime_error("write_safetensors: tensor '" + name + "' is undefined");
    items.push_back({&name, t.detach().to(torch::kCPU).contiguous(), safetensors_dtype_tag(t.scalar_type())});
  }
  // Larger elements first keeps every tensor aligned to its element size.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.data.element_size() > b.data.element_size();
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::uint64_t offset = 0;
  for (const auto& item : items) {
    const auto bytes = static_cast<std::uint64_t>(item.data.numel()) * item.data.element_size();
    header[*item.name] = {{"dtype", item.tag},
                          {"shape", item.data.sizes().vec()},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const std::uint64_t header_len = header_text.size();

  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::random_device rd;
  std::string tmp_name = ".";
  tmp_name += path.filename().string();
  tmp_name += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  const auto tmp = dir / tmp_name;
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw file_error(tmp, std::string("cannot create: ") + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    std::fclose(f);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return file_error(path, what);
  };
  bool ok = std::fwrite(&header_len, 8, 1, f) == 1 &&
            std::fwrite(header_text.data(), 1, header_text.size(), f) == header_text.size();
  for (const auto& item : items) {
    if (!ok) break;
    const auto bytes = static_cast<std::size_t>(item.data.numel()) * item.data.element_size();
    if (bytes) ok = std::fwrite(item.data.data_ptr(), 1, bytes, f) == bytes;
  }
  if (!ok || std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) {
    throw fail(std::string("write failed: ") + std::strerror(errno));
  }
  if (std::fclose(f) != 0) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw file_error(path, std::string("close failed: ") + std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw file_error(path, "cannot rename temporary file into place: " + ec.message());
  }
}

}  // namespace biaslab::runtime
