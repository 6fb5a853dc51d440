#include "biaslab/runtime/compress/layer_selector.hpp"

#include <fnmatch.h>

#include <stdexcept>

namespace biaslab::runtime::compress {
namespace {

std::vector<std::string> string_list(const nlohmann::json& json, const char* key) {
  std::vector<std::string> out;
  if (!json.contains(key)) return out;
  const auto& list = json[key];
  if (list.is_string()) return {list.get<std::string>()};
  if (!list.is_array()) throw std::invalid_argument(std::string("layer selector: '") + key + "' must be a list of globs");
  for (const auto& item : list) {
    if (!item.is_string()) throw std::invalid_argument(std::string("layer selector: '") + key + "' entries must be strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

LayerSelector::LayerSelector(std::vector<std::string> include, std::vector<std::string> exclude,
                             std::vector<LayerOverride> overrides)
    : include_(std::move(include)), exclude_(std::move(exclude)), overrides_(std::move(overrides)) {
  for (const auto& o : overrides_)
    if (!o.settings.is_object())
      throw std::invalid_argument("layer selector: settings of override '" + o.pattern + "' must be an object");
}

LayerSelector LayerSelector::from_json(const nlohmann::json& json) {
  if (json.is_null()) return LayerSelector();
  if (!json.is_object()) throw std::invalid_argument("layer selector: must be a JSON object");
  for (const auto& [key, value] : json.items())
    if (key != "include" && key != "exclude" && key != "overrides")
      throw std::invalid_argument("layer selector: unknown key '" + key + "' (known: include, exclude, overrides)");
  auto include = json.contains("include") ? string_list(json, "include") : std::vector<std::string>{"*"};
  auto exclude = string_list(json, "exclude");
  std::vector<LayerOverride> overrides;
  if (json.contains("overrides")) {
    if (!json["overrides"].is_array()) throw std::invalid_argument("layer selector: 'overrides' must be a list");
    for (const auto& item : json["overrides"]) {
      if (!item.is_object() || !item.contains("pattern") || !item["pattern"].is_string() || !item.contains("settings") ||
          !item["settings"].is_object())
        throw std::invalid_argument(
            "layer selector: each override needs a string 'pattern' and an object 'settings'");
      for (const auto& [key, value] : item.items())
        if (key != "pattern" && key != "settings")
          throw std::invalid_argument("layer selector: unknown override key '" + key + "'");
      overrides.push_back({item["pattern"].get<std::string>(), item["settings"]});
    }
  }
  return LayerSelector(std::move(include), std::move(exclude), std::move(overrides));
}

bool LayerSelector::glob_match(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool LayerSelector::selected(const std::string& layer) const {
  bool included = false;
  for (const auto& p : include_) included = included || glob_match(p, layer);
  if (!included) return false;
  for (const auto& p : exclude_)
    if (glob_match(p, layer)) return false;
  return true;
}

nlohmann::json LayerSelector::settings_for(const std::string& layer, const nlohmann::json& defaults) const {
  auto settings = defaults.is_null() ? nlohmann::json::object() : defaults;
  for (const auto& o : overrides_)
    if (glob_match(o.pattern, layer)) settings.merge_patch(o.settings);
  return settings;
}

std::vector<std::string> LayerSelector::filter(const std::vector<std::string>& layers) const {
  std::vector<std::string> out;
  for (const auto& name : layers)
    if (selected(name)) out.push_back(name);
  return out;
}

}  // namespace biaslab::runtime::compress
