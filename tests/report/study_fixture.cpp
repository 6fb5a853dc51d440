#include "report/study_fixture.hpp"

#include <cstdlib>
#include <vector>

#include "biaslab/results_db.hpp"

namespace biaslab::test {

std::filesystem::path fresh_dir(const std::string& name) {
  const char* bin = std::getenv("BIASLAB_BINARY_DIR");
  const std::filesystem::path root = bin ? std::filesystem::path(bin) / "tests" / "report-work"
                                         : std::filesystem::temp_directory_path() / "biaslab-report-tests";
  const auto dir = root / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void write_mini_study(const std::filesystem::path& run_dir) {
  std::filesystem::remove_all(run_dir);
  std::filesystem::create_directories(run_dir);
  results::ResultsDatabase db(results::database_path(run_dir));
  results::RunRecord run;
  run.run_id = "run-1";
  run.pipeline_name = "mini";
  run.pipeline_hash = "0";
  run.grid_variables = {"size", "checkpoint"};
  run.started_at = "2026-01-01T00:00:00Z";
  db.begin_run(run);
  const char* sizes[] = {"small", "base"};
  const char* steps[] = {"frac0.2", "frac0.4", "frac0.7", "frac1.0"};
  const char* models[] = {"pretrain", "int8"};
  std::size_t cell = 0;
  for (int s = 0; s < 2; ++s)
    for (int k = 0; k < 4; ++k, ++cell) {
      db.upsert_cell(cell, {{"size", {{"name", sizes[s]}, {"hidden_size", 32 * (s + 1)}}}, {"checkpoint", steps[k]}});
      std::vector<ResultRow> crows, stereo;
      for (int m = 0; m < 2; ++m) {
        const double overall = 50 + 2 * k + 3 * s + 1.5 * m;
        for (auto [cat, v] : {std::pair<const char*, double>{"overall", overall}, {"gender", overall + 5}, {"race", overall - 5}}) {
          ResultRow r{.model = models[m], .metric = "crows_pairs.metric_score", .category = cat, .value = v};
          r.ci_low = v - 2;
          r.ci_high = v + 2;
          r.n = 100;
          crows.push_back(r);
        }
        stereo.push_back({.model = models[m], .metric = "stereoset.ss", .category = "overall", .value = 55.0 + k - s + 0.5 * m});
        stereo.push_back({.model = models[m], .metric = "stereoset.lms", .category = "overall", .value = kLms[s][m][k]});
      }
      for (auto [cat, p] : {std::pair<const char*, double>{"overall", 0.0312}, {"gender", 0.5}, {"race", 0.001}}) {
        ResultRow d{.model = "int8", .metric = "crows_pairs.metric_score.diff", .category = cat, .value = 1.5};
        d.ci_low = 0.5;
        d.ci_high = 2.5;
        d.n = 100;
        d.extra = {{"base_model", "pretrain"}, {"permutation_p", p}};
        crows.push_back(d);
      }
      db.record_node(cell, {.node = "crows", .plugin = "metric.crows_pairs", .plugin_version = "1"}, crows);
      db.record_node(cell, {.node = "stereoset", .plugin = "metric.stereoset", .plugin_version = "1"}, stereo);
    }
  db.finish_run("run-1", results::RunStatus::ok, "2026-01-01T00:10:00Z");
}

void write_noise_floor_study(const std::filesystem::path& run_dir, bool noise_floor) {
  std::filesystem::remove_all(run_dir);
  std::filesystem::create_directories(run_dir);
  results::ResultsDatabase db(results::database_path(run_dir));
  db.begin_run({.run_id = "r", .pipeline_name = "floors", .pipeline_hash = "h", .started_at = "2026-01-01T00:00:00Z"});
  db.upsert_cell(0, nlohmann::json::object());
  const char* categories[] = {"overall", "gender", "race", "religion"};
  const char* compressed[] = {"int8", "nf4"};
  const double shift[] = {0.5, 3.0};
  const nlohmann::json flips[] = {{{"base_only", 3}, {"compressed_only", 2}, {"total", 5}},
                                  {{"base_only", 4}, {"compressed_only", 16}, {"total", 20}}};
  const nlohmann::json floor = {{"difference", 0.8}, {"flips", 6}, {"max_abs_item_change", 0.012}, {"n", 200}};
  std::vector<ResultRow> rows;
  for (int c = 0; c < 4; ++c) {
    rows.push_back({.model = "fp32", .metric = "crows_pairs.metric_score", .category = categories[c],
                    .value = kFloorBase[c], .n = 200});
    for (int m = 0; m < 2; ++m) {
      rows.push_back({.model = compressed[m], .metric = "crows_pairs.metric_score", .category = categories[c],
                      .value = kFloorBase[c] + shift[m], .n = 200});
      ResultRow d{.model = compressed[m], .metric = "crows_pairs.metric_score.diff", .category = categories[c],
                  .value = shift[m], .n = 200};
      d.extra = {{"base_model", "fp32"}, {"base_score", kFloorBase[c]}, {"compressed_score", kFloorBase[c] + shift[m]},
                 {"permutation_p", kFloorP[m][c]}, {"flips", flips[m]}};
      if (noise_floor) {
        d.extra["noise_floor"] = floor;
        d.extra["exceeds_noise_floor"] = m == 1;
      }
      rows.push_back(d);
    }
    if (noise_floor) {
      ResultRow f{.model = "fp32", .metric = "crows_pairs.metric_score.noise_floor", .category = categories[c],
                  .value = 0.8, .n = 200};
      f.extra = {{"base_model", "fp32"}, {"base_score", kFloorBase[c]}, {"compressed_score", kFloorBase[c] + 0.8},
                 {"flips", {{"base_only", 3}, {"compressed_only", 3}, {"total", 6}}}, {"permutation_p", 0.7},
                 {"max_abs_item_change", 0.012}, {"computation", {{"batch_size", 7}, {"threads", 2}}}};
      rows.push_back(f);
    }
  }
  db.record_node(0, {.node = "crows", .plugin = "metric.crows_pairs", .plugin_version = "1"}, rows);
  db.finish_run("r", results::RunStatus::ok, "2026-01-01T00:10:00Z");
}

}  // namespace biaslab::test
