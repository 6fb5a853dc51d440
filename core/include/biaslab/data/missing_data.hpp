#pragma once
// Results that depend on data being absent. A node that ran without some benchmark or corpus file
// (if_missing = "skip", or crows `data = "auto"`) records what it missed in its artifact; when a
// later run finds that data in the mirror or the data cache, the engine re-runs the node (and what
// depends on it) instead of replaying the cached result computed without it. The record is
// <artifact dir>/missing_data.json: {"missing": ["<spec>", ...]}.
//
// A spec is what the plugin was asked for: "<data set>/<file>" (e.g. "stereoset/dev.json";
// "corpora/" may be left out), a data set name ("corpora/tinystories-valid-subset"), or an
// absolute path.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::data {

class DataManager;
class Registry;

// Adds `spec` to the artifact's record (creates it; keeps earlier entries; no duplicates).
BIASLAB_API void record_missing_data(const std::filesystem::path& artifact_dir, std::string_view spec);

// The specs recorded in the artifact (empty when it has no record).
BIASLAB_API std::vector<std::string> recorded_missing_data(const std::filesystem::path& artifact_dir);

// The recorded specs that the mirror or the data cache now has (checked like DataManager::status:
// verified copies only, nothing downloaded). Unknown or malformed specs count as still missing.
BIASLAB_API std::vector<std::string> missing_data_now_available(const std::filesystem::path& artifact_dir,
                                                                 const DataManager& manager);

// True when `spec` is found locally (mirror or cache, verified), never downloading.
BIASLAB_API bool data_available_locally(std::string_view spec, const DataManager& manager);

// "<data set>/<file>" -> {data set, file}, choosing the longest registered data-set prefix (data
// set names contain '/'); nullopt when no data set is a prefix.
BIASLAB_API std::optional<std::pair<std::string, std::string>> split_data_file_spec(const Registry& registry,
                                                                                   std::string_view spec);

}  // namespace biaslab::data
