#pragma once
// Shared helpers of the biaslab_eval tests: locating the shared data, running the reference Python
// (/usr/bin/python3 with numpy, via BIASLAB_REFERENCE_PYTHON) on JSON files, and a minimal safetensors
// reader for the SEAT encodings golden.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace eval_test {

// Value of an environment variable the test harness sets; throws when unset.
std::string env(const char* name);

std::filesystem::path data_dir();      // BIASLAB_DATA_MIRROR
std::filesystem::path goldens_dir();   // BIASLAB_METRIC_GOLDENS
std::filesystem::path fixtures_dir();  // BIASLAB_FIXTURES
std::filesystem::path python_dir();    // tests/eval/python in the source tree

nlohmann::json read_json(const std::filesystem::path& path);

// A fresh file path in a per-process temporary directory.
std::filesystem::path temp_path(const std::string& name);

// Writes `input` to a temp file, runs `python script.py <input> <output>` with the reference interpreter
// and returns the JSON the script wrote. Throws with the script's output when it fails.
nlohmann::json run_python(const std::string& script, const nlohmann::json& input);

struct Float32Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};
struct SafetensorsFile {
  std::map<std::string, Float32Tensor> tensors;
  std::map<std::string, std::string> metadata;
};
// 8-byte little-endian header length + JSON header + raw little-endian data; F32 tensors only.
SafetensorsFile read_safetensors_f32(const std::filesystem::path& path);

}  // namespace eval_test
