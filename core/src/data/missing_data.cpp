#include "biaslab/data/missing_data.hpp"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/registry.hpp"
#include "data/fs_util.hpp"

namespace biaslab::data {

namespace fs = std::filesystem;

namespace {
constexpr const char* kRecordFile = "missing_data.json";
}

std::optional<std::pair<std::string, std::string>> split_data_file_spec(const Registry& registry,
                                                                       std::string_view spec) {
  std::optional<std::pair<std::string, std::string>> best;
  for (const auto& set : registry.datasets()) {
    const std::string prefix = set.name + "/";
    if (spec.size() > prefix.size() && spec.substr(0, prefix.size()) == prefix &&
        (!best || set.name.size() > best->first.size()))
      best = std::make_pair(set.name, std::string(spec.substr(prefix.size())));
  }
  return best;
}

std::vector<std::string> recorded_missing_data(const fs::path& artifact_dir) {
  const fs::path file = artifact_dir / kRecordFile;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return {};
  std::ifstream in(file, std::ios::binary);
  const auto doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> specs;
  if (!doc.is_object() || !doc.contains("missing") || !doc["missing"].is_array()) return specs;
  for (const auto& s : doc["missing"])
    if (s.is_string()) specs.push_back(s.get<std::string>());
  return specs;
}

void record_missing_data(const fs::path& artifact_dir, std::string_view spec) {
  auto specs = recorded_missing_data(artifact_dir);
  if (std::find(specs.begin(), specs.end(), spec) != specs.end()) return;
  specs.emplace_back(spec);
  detail::write_file_atomically(artifact_dir / kRecordFile, nlohmann::json{{"missing", specs}}.dump(2) + "\n");
}

bool data_available_locally(std::string_view spec, const DataManager& manager) {
  if (spec.empty()) return false;
  const fs::path as_path{std::string(spec)};
  std::error_code ec;
  if (as_path.is_absolute()) return fs::exists(as_path, ec);
  const auto& registry = manager.registry();
  for (const std::string candidate : {std::string(spec), "corpora/" + std::string(spec)}) {
    if (registry.find(candidate)) return manager.status(candidate).location != Location::Missing;
    const auto split = split_data_file_spec(registry, candidate);
    if (!split) continue;
    for (const auto& file : manager.status(split->first).files)
      if (file.file->path == split->second) return file.location != Location::Missing;
  }
  return false;
}

std::vector<std::string> missing_data_now_available(const fs::path& artifact_dir, const DataManager& manager) {
  std::vector<std::string> available;
  for (const auto& spec : recorded_missing_data(artifact_dir)) {
    try {
      if (data_available_locally(spec, manager)) available.push_back(spec);
    } catch (const std::exception&) {
      // A copy that fails its checksum is still missing; the plugin reports it when it runs.
    }
  }
  return available;
}

}  // namespace biaslab::data
