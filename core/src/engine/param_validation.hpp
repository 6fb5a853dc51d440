#pragma once
// Validates node parameters against a plugin's JSON Schema (valijson), reporting problems at
// the TOML position of the offending key or value.
#include <string>

#include <nlohmann/json.hpp>

#include "biaslab/diagnostics.hpp"
#include "biaslab/pipeline.hpp"

namespace biaslab::engine {

class SchemaValidator {
 public:
  explicit SchemaValidator(const nlohmann::json& schema);
  ~SchemaValidator();
  // params: merged, interpolated values; `where(pointer)` maps "/key/..." to a source position.
  void validate(const std::string& node, const std::string& plugin, const nlohmann::json& params,
                const std::function<SourceLocation(const std::string& pointer, bool key)>& where,
                DiagnosticSink& sink) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  nlohmann::json schema_;
};

}  // namespace biaslab::engine
