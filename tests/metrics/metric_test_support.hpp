#pragma once
// Runs a metric plugin the way the engine does -- loaded through biaslab::PluginRegistry from the build's
// plugin directory, parameters completed from its JSON Schema, called with a NodeContext -- and collects
// the rows it emits. Also locates the fixtures and goldens (environment of the test harness).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/artifact.hpp"
#include "biaslab/results.hpp"

namespace metric_test {

std::string env(const char* name);  // throws when unset
std::filesystem::path fixture(const std::string& name);  // $BIASLAB_FIXTURES/<name>
nlohmann::json golden(const std::string& relative);    // $BIASLAB_METRIC_GOLDENS/<relative>
nlohmann::json read_json(const std::filesystem::path& path);
// Points BIASLAB_DATA_DIR at a fresh temporary directory (the data mirror stays BIASLAB_DATA_MIRROR).
void isolate_data_cache();
std::filesystem::path temp_dir(const std::string& name);
// Removes every directory temp_dir() made (end of the test run).
void remove_temp_dirs();

// A "model" artifact of a fixture directory, labelled `label` (the producer).
biaslab::Artifact model_artifact(const std::string& fixture_name, const std::string& label);

struct RunOutput {
  std::vector<biaslab::ResultRow> rows;
  std::vector<biaslab::ExampleRow> examples;
  double seconds = 0.0;
  std::filesystem::path output_dir;  // the node's artifact directory

  // The row (model, metric, category); throws naming it when absent.
  const biaslab::ResultRow& row(const std::string& model, const std::string& metric,
                                const std::string& category = "overall") const;
  bool has_row(const std::string& model, const std::string& metric, const std::string& category = "overall") const;
  // example_id -> values of (model, metric).
  std::map<std::string, nlohmann::json> examples_of(const std::string& model, const std::string& metric) const;
};

// Runs plugin `name` (e.g. "metric.crows_pairs") with `params` (defaults filled from its schema; unknown
// keys throw) on `inputs` (port -> artifacts). Checks that no (model, metric, category) is emitted twice.
RunOutput run_plugin(const std::string& name, nlohmann::json params,
                     const std::map<std::string, std::vector<biaslab::Artifact>>& inputs, std::uint64_t seed = 0);

// The plugin's parameter schema as loaded by the registry.
const nlohmann::json& plugin_schema(const std::string& name);

}  // namespace metric_test
