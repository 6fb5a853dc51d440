#pragma once
// Helpers shared by the engine tests: the test plugins, temp dirs, pipeline text.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "biaslab/executor.hpp"
#include "biaslab/plan.hpp"
#include "biaslab/plugin_registry.hpp"

namespace biaslab {
// Printable in Boost.Test messages.
inline std::ostream& operator<<(std::ostream& os, PluginKind k) { return os << to_string(k); }
inline std::ostream& operator<<(std::ostream& os, TaskState s) { return os << to_string(s); }
}  // namespace biaslab

namespace biaslab::testing {

inline std::filesystem::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (!v) throw std::runtime_error(std::string("test environment variable ") + name + " is not set (run via ctest)");
  return v;
}

inline const PluginRegistry& test_plugins() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    r.load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_source.so");
    r.load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_scale.so");
    r.load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_metric.so");
    r.load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_corpus.so");
    return r;
  }();
  return reg;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("biaslab-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline Plan plan_text(const std::string& text, const Cache& cache, const PlanOptions& opts = {},
                      const std::vector<std::string>& overrides = {}) {
  return make_plan(parse_pipeline_text(text, "test.toml", overrides), test_plugins(), cache, opts);
}

// The diagnostics of planning `text`, one per line, or "" when it is valid.
inline std::string errors_of(const std::string& text, const std::string& name = "test.toml",
                             const std::vector<std::string>& overrides = {}) {
  TempDir tmp;
  Cache cache(tmp.path);
  try {
    make_plan(parse_pipeline_text(text, name, overrides), test_plugins(), cache);
  } catch (const DiagnosticError& e) {
    return e.what();
  }
  return "";
}

}  // namespace biaslab::testing
