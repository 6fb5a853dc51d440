#pragma once
// Shared helpers for the results tests: a scratch directory and a small, fully known database.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "biaslab/results_db.hpp"

namespace biaslab::results {
// For Boost.Test messages.
inline std::ostream& operator<<(std::ostream& os, RunStatus s) { return os << to_string(s); }
inline std::ostream& operator<<(std::ostream& os, NodeStatus s) { return os << to_string(s); }
}  // namespace biaslab::results

namespace biaslab::results::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "biaslab-results-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline ResultRow row(std::string model, std::string metric, std::string category, double value,
                     std::optional<double> lo = {}, std::optional<double> hi = {},
                     std::optional<std::int64_t> n = {},
                     nlohmann::json extra = nlohmann::json::object()) {
  ResultRow r;
  r.model = std::move(model);
  r.metric = std::move(metric);
  r.category = std::move(category);
  r.value = value;
  r.ci_low = lo;
  r.ci_high = hi;
  r.n = n;
  r.extra = std::move(extra);
  return r;
}

inline NodeRecord node(std::string name, std::string plugin, std::string version,
                       NodeStatus status = NodeStatus::ok, double seconds = 1.5) {
  NodeRecord n;
  n.node = std::move(name);
  n.plugin = std::move(plugin);
  n.plugin_version = std::move(version);
  n.cache_key = "key-" + n.node;
  n.status = status;
  n.seconds = seconds;
  return n;
}

// Two cells (size 70m/160m at step 1000), a metric node "crows" and a compressor node "quant".
// The expected exports of exactly this database are spelled out in test_exports.cpp and
// test_cmd_results.cpp.
inline void fill_small_db(ResultsDatabase& db) {
  RunRecord run;
  run.run_id = "run-1";
  run.pipeline_name = "demo";
  run.pipeline_hash = "abc123";
  run.grid_variables = {"size", "step"};
  run.started_at = "2024-05-01T12:00:00Z";
  db.begin_run(run);
  db.upsert_cell(0, {{"size", "70m"}, {"step", 1000}});
  db.upsert_cell(1, {{"size", "160m"}, {"step", 1000}});

  const auto crows = node("crows", "metric.crows_pairs", "1.0.0");
  const auto quant = node("quant", "compress.rtn", "0.2.0");
  std::vector<ResultRow> crows0 = {
      row("pythia", "crows_pairs.metric_score", "overall", 0.5625, 0.5, 0.625, 16),
      row("pythia", "crows_pairs.metric_score", "race-color", 0.6, {}, {}, 5)};
  ExampleRow e0{"pythia", "crows_pairs.metric_score", "0", {{"sent_more", -1.5}, {"sent_less", -2.25}}};
  ExampleRow e1{"pythia", "crows_pairs.metric_score", "1", {{"sent_more", -3.0}, {"sent_less", -2.5}}};
  std::vector<ExampleRow> examples0 = {e0, e1};
  db.record_node(0, crows, crows0, examples0);
  std::vector<ResultRow> quant0 = {row("quant", "bytes", "overall", 123456789)};
  db.record_node(0, quant, quant0);
  std::vector<ResultRow> crows1 = {row("pythia", "crows_pairs.metric_score", "overall", 0.4375,
                                       0.375, 0.5, 16, {{"note", "a, \"b\""}})};
  db.record_node(1, crows, crows1);
  std::vector<ResultRow> quant1 = {
      row("quant", "ppl", "overall", std::numeric_limits<double>::quiet_NaN())};
  db.record_node(1, quant, quant1);
  db.finish_run("run-1", RunStatus::ok, "2024-05-01T12:30:00Z");
}

}  // namespace biaslab::results::test
