#include "metric_test_support.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <tuple>

#include <spdlog/spdlog.h>

#include "biaslab/node_context.hpp"
#include "support/node_context_stub.hpp"
#include "biaslab/plugin_registry.hpp"

namespace metric_test {

namespace fs = std::filesystem;
using nlohmann::json;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set (run through ctest)");
  return v;
}

fs::path fixture(const std::string& name) { return fs::path(env("BIASLAB_FIXTURES")) / name; }

json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return json::parse(in);
}

json golden(const std::string& relative) { return read_json(fs::path(env("BIASLAB_METRIC_GOLDENS")) / relative); }

namespace {
const fs::path& temp_root() {
  static const fs::path root = [] {
    auto p = fs::temp_directory_path() / ("biaslab-metrics-test-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return root;
}
}  // namespace

void remove_temp_dirs() {
  std::error_code ec;
  fs::remove_all(temp_root(), ec);
}

fs::path temp_dir(const std::string& name) {
  auto dir = temp_root() / name;
  fs::create_directories(dir);
  return dir;
}

void isolate_data_cache() { ::setenv("BIASLAB_DATA_DIR", temp_dir("data-cache").c_str(), 1); }

biaslab::Artifact model_artifact(const std::string& fixture_name, const std::string& label) {
  biaslab::Artifact a;
  a.type = "model";
  a.path = fixture(fixture_name);
  a.key = "fixture-" + fixture_name;
  a.producer = label;
  return a;
}

const biaslab::ResultRow& RunOutput::row(const std::string& model, const std::string& metric,
                                         const std::string& category) const {
  for (const auto& r : rows)
    if (r.model == model && r.metric == metric && r.category == category) return r;
  throw std::runtime_error("no result row (" + model + ", " + metric + ", " + category + ")");
}

bool RunOutput::has_row(const std::string& model, const std::string& metric, const std::string& category) const {
  for (const auto& r : rows)
    if (r.model == model && r.metric == metric && r.category == category) return true;
  return false;
}

std::map<std::string, json> RunOutput::examples_of(const std::string& model, const std::string& metric) const {
  std::map<std::string, json> out;
  for (const auto& e : examples)
    if (e.model == model && e.metric == metric) {
      if (!out.emplace(e.example_id, e.values).second)
        throw std::runtime_error("example " + e.example_id + " of " + model + "/" + metric + " emitted twice");
    }
  return out;
}

namespace {

biaslab::PluginRegistry& registry() {
  static biaslab::PluginRegistry r;
  return r;
}

const biaslab::LoadedPlugin& plugin(const std::string& name) {
  if (const auto* p = registry().find(name)) return *p;
  std::string stem = name;  // metric.crows_pairs -> plugin_metric_crows_pairs.so, compress.cast -> compress_cast.so
  for (auto& c : stem)
    if (c == '.') c = '_';
  const fs::path dir(env("BIASLAB_PLUGIN_DIR"));
  const auto prefixed = dir / ("plugin_" + stem + ".so");
  return registry().load(fs::exists(prefixed) ? prefixed : dir / (stem + ".so"));
}

}  // namespace

const json& plugin_schema(const std::string& name) { return plugin(name).params_schema; }

RunOutput run_plugin(const std::string& name, json params,
                     const std::map<std::string, std::vector<biaslab::Artifact>>& inputs, std::uint64_t seed) {
  const auto& p = plugin(name);
  if (params.is_null()) params = json::object();  // `{}` in a call site builds a null json
  const auto& properties = p.params_schema.at("properties");
  for (const auto& [key, _] : params.items())
    if (!properties.contains(key)) throw std::invalid_argument(name + ": unknown parameter '" + key + "'");
  biaslab::apply_schema_defaults(p.params_schema, params);
  static int counter = 0;
  const std::string node_dir = "node-" + std::to_string(++counter);
  // Intra-op threads: BIASLAB_METRICS_TEST_THREADS, default 1 (the test machine is shared; OpenMP teams
  // spin at barriers when a core is taken by another process).
  const char* threads = std::getenv("BIASLAB_METRICS_TEST_THREADS");
  biaslab::testing::NodeContextStub ctx({.node = "metric-under-test",
                                         .params = params,
                                         .inputs = inputs,
                                         .output_dir = temp_dir(node_dir + "/out"),
                                         .scratch_dir = temp_dir(node_dir + "/scratch"),
                                         .seed = seed,
                                         .threads = threads && *threads ? std::max(1, std::atoi(threads)) : 1});
  const auto start = std::chrono::steady_clock::now();
  p.create()->run(ctx);
  RunOutput out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.output_dir = ctx.output_dir();
  out.rows = std::move(ctx.rows);
  out.examples = std::move(ctx.examples);
  std::set<std::tuple<std::string, std::string, std::string>> keys;
  for (const auto& r : out.rows)
    if (!keys.emplace(r.model, r.metric, r.category).second)
      throw std::runtime_error(name + " emitted (" + r.model + ", " + r.metric + ", " + r.category + ") twice");
  return out;
}

}  // namespace metric_test
