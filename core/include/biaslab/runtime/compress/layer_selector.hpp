#pragma once
// Which linear layers a compression method touches, and per-layer setting overrides.
// Patterns are shell globs (fnmatch without FNM_PATHNAME: '*' also matches '.'), matched against
// the whole slot name, e.g. "gpt_neox.layers.*.mlp.*", "*lm_head", "embed_out".
// A layer is selected when it matches some include pattern and no exclude pattern. Overrides are
// JSON objects merged (RFC 7386 merge patch) onto the method's defaults in declaration order, so
// later matching rules win.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab::runtime::compress {

struct LayerOverride {
  std::string pattern;
  nlohmann::json settings;  // object
};

class BIASLAB_API LayerSelector {
 public:
  LayerSelector(std::vector<std::string> include = {"*"}, std::vector<std::string> exclude = {},
                std::vector<LayerOverride> overrides = {});
  // {"include": [...], "exclude": [...], "overrides": [{"pattern": "...", "settings": {...}}]}
  // (all keys optional; include defaults to ["*"]). Unknown keys are rejected.
  static LayerSelector from_json(const nlohmann::json& json);

  bool selected(const std::string& layer) const;
  // defaults with every matching override merged in order.
  nlohmann::json settings_for(const std::string& layer, const nlohmann::json& defaults) const;
  // The selected names out of `layers`, order kept.
  std::vector<std::string> filter(const std::vector<std::string>& layers) const;

  static bool glob_match(const std::string& pattern, const std::string& name);

 private:
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
  std::vector<LayerOverride> overrides_;
};

}  // namespace biaslab::runtime::compress
