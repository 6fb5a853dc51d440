#pragma once
// Runs a compressor plugin the way the engine does (loaded through biaslab::PluginRegistry from
// BIASLAB_PLUGIN_DIR, defaults from its schema, a NodeContext of our own) and reads back what it
// wrote: the safetensors header of the output model, the rows, artifact.json.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/artifact.hpp"
#include "biaslab/results.hpp"
#include "biaslab/runtime/model.hpp"

namespace compressor_test {

std::string env(const char* name);
std::filesystem::path fixture(const std::string& name);
std::filesystem::path temp_dir(const std::string& name);
nlohmann::json read_json(const std::filesystem::path& path);
// Points BIASLAB_DATA_DIR at a fresh temporary directory (the mirror stays BIASLAB_DATA_MIRROR).
void isolate_data_cache();

biaslab::Artifact model_artifact(const std::filesystem::path& dir, const std::string& producer = "base");
biaslab::Artifact fixture_artifact(const std::string& name);

struct RunOutput {
  std::filesystem::path dir;  // the node's output directory
  std::vector<biaslab::ResultRow> rows;
  const biaslab::ResultRow& row(const std::string& metric, const std::string& category = "overall") const;
  bool has_row(const std::string& metric, const std::string& category = "overall") const;
  biaslab::Artifact artifact() const { return model_artifact(dir, kNode); }
  static inline const std::string kNode = "compressed";
};

// Unknown keys throw; params are validated against the plugin's schema (valijson) first.
RunOutput run_plugin(const std::string& name, nlohmann::json params,
                     const std::map<std::string, std::vector<biaslab::Artifact>>& inputs, std::uint64_t seed = 0);
// Schema validation problems of params (empty when valid).
std::string schema_errors(const std::string& name, const nlohmann::json& params);

struct StoredTensor {
  std::string dtype;  // "F32", "BF16", "I8", ...
  std::vector<std::int64_t> shape;
  std::int64_t bytes = 0;
};
// Header of <dir>/model.safetensors, read directly from the file.
std::map<std::string, StoredTensor> safetensors_header(const std::filesystem::path& file);
std::int64_t stored_bytes(const std::map<std::string, StoredTensor>& header);

// Mean next-token negative log-likelihood of windows under a causal model.
double causal_loss(const biaslab::runtime::LanguageModel& model, const std::vector<std::vector<std::int64_t>>& windows);
// Token windows like the plugins' "contiguous" sampling of a data-mirror text.
std::vector<std::vector<std::int64_t>> contiguous_windows(const std::filesystem::path& model_dir,
                                                          const std::filesystem::path& text_file, std::int64_t n,
                                                          std::int64_t seqlen);
std::filesystem::path wikitext_test_file();  // $BIASLAB_DATA_MIRROR/corpora/wikitext-2-raw-v1/wiki.test.raw
// The first ~40 kB (whole lines) of it, in a temporary file: calibration text for the tests.
std::filesystem::path calibration_text();

}  // namespace compressor_test
