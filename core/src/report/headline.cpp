// headline_table: the few numbers `biaslab run` prints when a study finishes -- every bias metric
// and the LM score in the "overall" category, per facet (size, other grid values) and model, at
// the last pretraining step; two decimals (the report and `biaslab results` have the full values).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "report/study.hpp"

namespace biaslab::report {

std::string headline_table(const std::filesystem::path& run_dir, std::size_t max_rows) {
  using namespace detail;
  const results::ResultsDatabase db(results::database_path(run_dir), results::ResultsDatabase::Mode::read_only);
  ReportOptions options;
  options.run_dir = run_dir;
  const Study study = load_study(db, options);

  // One column per metric name: the same metric from two nodes (e.g. CrowS-Pairs of the checkpoints
  // and of a distilled student) shares a column, first node first.
  std::vector<std::string> columns;
  auto add_column = [&](const std::string& metric) {
    if (std::find(columns.begin(), columns.end(), metric) == columns.end()) columns.push_back(metric);
  };
  for (const auto& k : study.bias_metrics) add_column(k.metric);
  if (study.lm_metric) add_column(study.lm_metric->metric);
  if (columns.empty()) return {};
  const std::string last_step = study.step_labels.empty() ? std::string() : study.step_labels.back();
  auto two_decimals = [](double v) {
    if (std::isnan(v)) return std::string("NaN");
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f", v);
    return std::string(buffer);
  };

  // (facet, model) rows in facet order, models in order of first appearance; cells: value [low, high].
  std::map<std::pair<std::size_t, std::size_t>, std::map<std::size_t, std::string>> table;
  auto facet_index = [&](const std::string& f) {
    return static_cast<std::size_t>(std::find(study.facets.begin(), study.facets.end(), f) - study.facets.begin());
  };
  for (const auto& p : study.points) {
    if (p.category != "overall" || p.step_label != last_step) continue;
    const auto column = std::find(columns.begin(), columns.end(), p.key.metric);
    if (column == columns.end()) continue;
    std::string text = two_decimals(p.value);
    if (p.ci_low && p.ci_high) text += " [" + two_decimals(*p.ci_low) + ", " + two_decimals(*p.ci_high) + "]";
    table[{facet_index(p.facet), study.model_index(p.model)}].emplace(
        static_cast<std::size_t>(column - columns.begin()), text);  // first node wins
  }
  if (table.empty()) return {};

  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"facet", "model"};
  for (const auto& c : columns) header.push_back(c);
  rows.push_back(header);
  for (const auto& [key, cells] : table) {
    if (rows.size() > max_rows) break;
    std::vector<std::string> row = {key.first < study.facets.size() ? study.facets[key.first] : std::string(),
                                    key.second < study.models.size() ? study.models[key.second] : std::string()};
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto it = cells.find(c);
      row.push_back(it == cells.end() ? "-" : it->second);
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  std::ostringstream out;
  if (!last_step.empty()) out << "at " << study.axes.step_var << " = " << last_step << " (overall; 95% CI)\n";
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out << (c ? "  " : "") << row[c] << std::string(c + 1 < row.size() ? widths[c] - row[c].size() : 0, ' ');
    out << "\n";
  }
  if (table.size() + 1 > rows.size()) out << "... (" << table.size() + 1 - rows.size() << " more rows in the report)\n";
  return out.str();
}

}  // namespace biaslab::report
