#pragma once
// Helpers shared by the training tests: environment paths, temporary directories, a NodeContext
// that runs one plugin operator outside the engine, tiny corpora, tensor comparisons.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "biaslab/node_context.hpp"
#include "biaslab/plugin_registry.hpp"
#include "support/node_context_stub.hpp"

namespace biaslab::train_test {

namespace fs = std::filesystem;

inline fs::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set (run via ctest)");
  return v;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("biaslab-train-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A corpus artifact with the given documents (train and validation splits).
inline void write_corpus(const fs::path& dir, const std::vector<std::string>& train,
                         const std::vector<std::string>& validation = {}) {
  fs::create_directories(dir);
  std::ofstream t(dir / "train.jsonl"), v(dir / "validation.jsonl");
  for (const auto& d : train) t << nlohmann::json{{"text", d}}.dump() << "\n";
  for (const auto& d : validation) v << nlohmann::json{{"text", d}}.dump() << "\n";
}

// max |a - b| (float64) over entries where `where` (broadcastable bool) holds.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& where = {}) {
  auto d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs();
  if (where.defined()) d = d.masked_select(where.expand_as(d));
  return d.numel() ? d.max().item<double>() : 0.0;
}
inline double max_abs(const torch::Tensor& a, const torch::Tensor& where = {}) {
  auto d = a.to(torch::kFloat64).abs();
  if (where.defined()) d = d.masked_select(where.expand_as(d));
  return d.numel() ? d.max().item<double>() : 0.0;
}

// The in-tree plugins of the build tree (found by name, whatever their file names).
inline const PluginRegistry& training_plugins() {
  static PluginRegistry registry = [] {
    PluginRegistry r;
    r.discover({env_path("BIASLAB_PLUGIN_DIR")});
    for (const char* name : {"corpus.text", "corpus.mix", "corpus.synthetic", "source.pretrain", "compress.distill"}) {
      if (!r.find(name)) {
        std::string errors;
        for (const auto& e : r.load_errors()) errors += "\n  " + e.path.string() + ": " + e.message;
        throw std::runtime_error(std::string("plugin ") + name + " not found in " +
                                 env_path("BIASLAB_PLUGIN_DIR").string() + errors);
      }
    }
    return r;
  }();
  return registry;
}

// Runs one plugin operator as the engine would: parameters validated defaults filled in, an
// empty output directory, a scratch directory, collected result rows, a silent logger.
class TestContext final : public testing::NodeContextStub {
 public:
  TestContext(const std::string& node, nlohmann::json params, fs::path output, fs::path scratch, std::uint64_t seed = 0,
              int threads = 1)
      : NodeContextStub({.node = node,
                         .params = std::move(params),
                         .output_dir = std::move(output),
                         .scratch_dir = std::move(scratch),
                         .seed = seed,
                         .threads = threads,
                         .logger = std::make_shared<spdlog::logger>(node, std::make_shared<spdlog::sinks::null_sink_mt>())}) {}

  void add_input(const std::string& port, const fs::path& dir, const std::string& type, const std::string& producer) {
    Artifact a;
    a.type = type;
    a.path = dir;
    a.key = producer;
    a.producer = producer;
    if (fs::is_regular_file(dir / "artifact.json")) a.meta = nlohmann::json::parse(read_file(dir / "artifact.json"));
    NodeContextStub::add_input(port, std::move(a));
  }

  // The first emitted row with this metric and category.
  const ResultRow& row(const std::string& metric, const std::string& category = "overall") const {
    for (const auto& r : rows) {
      if (r.metric == metric && r.category == category) return r;
    }
    throw std::runtime_error("no result row " + metric + " / " + category);
  }
};

// Runs plugin `name` with `params` (defaults filled from its schema) in a TestContext.
inline void run_plugin(const std::string& name, TestContext& ctx) {
  const auto* plugin = training_plugins().find(name);
  if (!plugin) throw std::runtime_error("plugin " + name + " is not loaded");
  plugin->create()->run(ctx);
}
inline nlohmann::json with_defaults(const std::string& name, nlohmann::json params) {
  const auto* plugin = training_plugins().find(name);
  if (!plugin) throw std::runtime_error("plugin " + name + " is not loaded");
  apply_schema_defaults(plugin->params_schema, params);
  return params;
}

}  // namespace biaslab::train_test

namespace biaslab::train_test {

// A small English-like corpus from a seeded grammar (no files needed): n training documents of
// one or two sentences, and n / 10 validation documents.
inline void write_tiny_corpus(const fs::path& dir, int n, std::uint64_t seed = 1) {
  static const std::vector<std::string> subjects = {"the cat", "a dog", "the old man", "my sister", "the teacher",
                                                    "a small bird", "the farmer", "our neighbour"};
  static const std::vector<std::string> verbs = {"saw", "liked", "found", "painted", "carried", "watched"};
  static const std::vector<std::string> objects = {"the red ball", "a green box", "the river", "an apple",
                                                   "the little house", "a long road"};
  std::mt19937_64 rng(seed);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto sentence = [&] {
    auto s = pick(subjects) + " " + pick(verbs) + " " + pick(objects) + ".";
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
  };
  std::vector<std::string> train, validation;
  for (int i = 0; i < n; ++i) train.push_back(rng() % 2 ? sentence() : sentence() + " " + sentence());
  for (int i = 0; i < n / 10; ++i) validation.push_back(sentence());
  write_corpus(dir, train, validation);
}

}  // namespace biaslab::train_test
