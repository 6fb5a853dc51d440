#pragma once
// Rows a node reports: metric scores, compressor statistics, training curves. They are stored
// with the node's artifact (so a cached node reports them again) and land in the run's results
// database, one row per cell x node x model x metric x category.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace biaslab {

struct ResultRow {
  std::string model;                  // label of the scored model (input producer), or the node itself
  std::string metric;                 // e.g. "crows_pairs.metric_score", "bytes", "ppl"
  std::string category = "overall";   // bias category, domain, layer name, ...
  double value = 0.0;
  std::optional<double> ci_low;       // 95% bootstrap interval where the metric provides one
  std::optional<double> ci_high;
  std::optional<std::int64_t> n;      // number of items behind the value
  nlohmann::json extra = nlohmann::json::object();
};

// Per-item scores, so every analysis can be redone without re-running models.
struct ExampleRow {
  std::string model;
  std::string metric;
  std::string example_id;
  nlohmann::json values = nlohmann::json::object();
};

void to_json(nlohmann::json& j, const ResultRow& r);
void from_json(const nlohmann::json& j, ResultRow& r);
void to_json(nlohmann::json& j, const ExampleRow& r);
void from_json(const nlohmann::json& j, ExampleRow& r);

}  // namespace biaslab
