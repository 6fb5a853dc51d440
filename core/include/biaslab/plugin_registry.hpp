#pragma once
// Finds and loads plugins. Search order: directories given explicitly, then BIASLAB_PLUGIN_PATH
// (colon-separated), then the plugin directory next to the running binary
// (<prefix>/lib/biaslab/plugins, both in the build tree and when installed). A plugin name
// found twice is taken from the first directory, with a warning.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/plugin.hpp"

namespace biaslab {

struct LoadedPlugin {
  const PluginDescriptor* descriptor = nullptr;
  std::filesystem::path path;
  nlohmann::json params_schema;     // parsed descriptor->params_schema
  std::string unsupported_reason;   // empty when usable here
  // SHA-256 of the code behind the plugin's results (its sources and the biaslab libraries it
  // links; cmake/BiaslabCodeHash.cmake), part of every cache key it produces. Empty for a plugin
  // not built with biaslab_add_plugin(): its cache then follows only its version.
  std::string code_hash;
  std::string code_manifest;        // "<sha256>  <file or library>" lines behind code_hash
  std::shared_ptr<void> library;    // keeps the shared library loaded

  const std::string name() const { return descriptor->name; }
  // Creates an operator whose deleter keeps the library alive as long as the object lives.
  std::shared_ptr<Operator> create() const;
  // The port a node's unnamed `input(s)` bind to ("" when the plugin takes no input).
  std::string primary_port() const;
  const InputPort* port(const std::string& name) const;
};

struct PluginLoadError {
  std::filesystem::path path;
  std::string message;
};

class BIASLAB_API PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  // Discovers and loads every plugin in the search path. Broken files are recorded as errors
  // (see load_errors()) rather than aborting, so one bad plugin does not hide the others.
  void discover(const std::vector<std::filesystem::path>& extra_dirs = {});
  // Loads one plugin file; throws std::runtime_error naming the file on failure (ABI mismatch,
  // missing entry point, bad schema).
  const LoadedPlugin& load(const std::filesystem::path& file);

  const LoadedPlugin* find(const std::string& name) const;
  std::vector<const LoadedPlugin*> all() const;  // sorted by name
  std::vector<std::string> names() const;
  const std::vector<PluginLoadError>& load_errors() const { return errors_; }
  static std::vector<std::filesystem::path> search_path(const std::vector<std::filesystem::path>& extra_dirs);

 private:
  std::map<std::string, LoadedPlugin> plugins_;
  std::vector<PluginLoadError> errors_;
};

// Fills defaults from a JSON Schema into params (top-level and nested object properties).
BIASLAB_API void apply_schema_defaults(const nlohmann::json& schema, nlohmann::json& params);

}  // namespace biaslab
