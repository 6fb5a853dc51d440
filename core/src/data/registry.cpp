#include "biaslab/data/registry.hpp"

#include <nlohmann/json.hpp>

#include <set>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/fs_util.hpp"

namespace biaslab::data {

namespace detail {
extern const std::string_view kBuiltinRegistryJson;  // generated from registry.json by CMake
}

const DataFile* DataSet::find(std::string_view relative_path) const noexcept {
  for (const auto& file : files)
    if (file.path == relative_path) return &file;
  return nullptr;
}

bool DataSet::mirror_only() const noexcept {
  for (const auto& file : files)
    if (file.required && file.mirror_only()) return true;
  return false;
}

std::uint64_t DataSet::total_size() const noexcept {
  std::uint64_t total = 0;
  for (const auto& file : files) total += file.size;
  return total;
}

namespace {

using nlohmann::json;

const json& member(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw DataError(where + ": missing key '" + key + "'");
  return *it;
}

std::string string_member(const json& object, const char* key, const std::string& where, bool allow_null = false) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (allow_null) return {};
    throw DataError(where + ": missing key '" + key + "'");
  }
  if (allow_null && it->is_null()) return {};
  if (!it->is_string()) throw DataError(where + ": '" + key + "' must be a string");
  return it->get<std::string>();
}

DataFile parse_file(const json& node, const std::string& where) {
  if (!node.is_object()) throw DataError(where + ": must be an object");
  DataFile file;
  file.path = string_member(node, "path", where);
  if (!detail::is_safe_relative_path(file.path))
    throw DataError(where + ": path '" + file.path + "' must be relative, '/'-separated and without '..'");
  file.sha256 = string_member(node, "sha256", where);
  if (!is_sha256_hex(file.sha256))
    throw DataError(where + " (" + file.path + "): sha256 '" + file.sha256 + "' is not 64 lower-case hex digits");
  const json& size = member(node, "size", where);
  if (!size.is_number_unsigned()) throw DataError(where + " (" + file.path + "): 'size' must be a non-negative integer");
  file.size = size.get<std::uint64_t>();
  file.url = string_member(node, "url", where, /*allow_null=*/true);
  if (!file.url.empty() && file.url.rfind("https://", 0) != 0 && file.url.rfind("http://", 0) != 0)
    throw DataError(where + " (" + file.path + "): url '" + file.url + "' must start with http:// or https://");
  file.note = string_member(node, "note", where, /*allow_null=*/true);
  if (auto it = node.find("required"); it != node.end()) {
    if (!it->is_boolean()) throw DataError(where + " (" + file.path + "): 'required' must be true or false");
    file.required = it->get<bool>();
  }
  return file;
}

DataSet parse_dataset(const json& node, const std::string& where) {
  if (!node.is_object()) throw DataError(where + ": must be an object");
  DataSet set;
  set.name = string_member(node, "name", where);
  const std::string here = where + " '" + set.name + "'";
  if (set.name.empty()) throw DataError(where + ": empty name");
  set.folder = string_member(node, "folder", here);
  if (!detail::is_safe_relative_path(set.folder))
    throw DataError(here + ": folder '" + set.folder + "' must be relative, '/'-separated and without '..'");
  set.description = string_member(node, "description", here, true);
  set.license = string_member(node, "license", here, true);
  set.source = string_member(node, "source", here, true);
  const json& files = member(node, "files", here);
  if (!files.is_array() || files.empty()) throw DataError(here + ": 'files' must be a non-empty array");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < files.size(); ++i) {
    DataFile file = parse_file(files[i], here + ".files[" + std::to_string(i) + "]");
    if (!seen.insert(file.path).second) throw DataError(here + ": file '" + file.path + "' is listed twice");
    set.files.push_back(std::move(file));
  }
  return set;
}

}  // namespace

Registry Registry::from_json(std::string_view json_text, std::string_view origin) {
  const std::string where = "data registry " + std::string(origin);
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw DataError(where + ": invalid JSON: " + error.what());
  }
  if (!document.is_object()) throw DataError(where + ": top level must be an object");
  const json& datasets = member(document, "datasets", where);
  if (!datasets.is_array()) throw DataError(where + ": 'datasets' must be an array");
  Registry registry;
  std::set<std::string> names;
  for (std::size_t i = 0; i < datasets.size(); ++i) {
    DataSet set = parse_dataset(datasets[i], where + ": datasets[" + std::to_string(i) + "]");
    if (!names.insert(set.name).second) throw DataError(where + ": data set '" + set.name + "' is defined twice");
    registry.datasets_.push_back(std::move(set));
  }
  return registry;
}

Registry Registry::from_file(const std::filesystem::path& file) {
  auto text = detail::read_small_file(file, 64u << 20);
  if (!text) throw DataError("cannot read data registry " + file.string());
  return from_json(*text, file.string());
}

const Registry& Registry::builtin() {
  static const Registry registry = from_json(detail::kBuiltinRegistryJson, "(built-in registry.json)");
  return registry;
}

const DataSet* Registry::find(std::string_view name) const noexcept {
  for (const auto& set : datasets_)
    if (set.name == name) return &set;
  return nullptr;
}

const DataSet& Registry::get(std::string_view name) const {
  if (const DataSet* set = find(name)) return *set;
  std::string known;
  for (const auto& set : datasets_) known += (known.empty() ? "" : ", ") + set.name;
  throw DataError("unknown data set '" + std::string(name) + "'; known data sets: " + known);
}

}  // namespace biaslab::data
