// headline_table: the few numbers `biaslab run` prints when a study finishes -- every bias metric
// and the LM score in the "overall" category, per facet (size, other grid values) and model, at
// the last pretraining step.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "report/document.hpp"
#include "report/study.hpp"

namespace biaslab::report {

std::string headline_table(const std::filesystem::path& run_dir, std::size_t max_rows) {
  using namespace detail;
  const results::ResultsDatabase db(results::database_path(run_dir), results::ResultsDatabase::Mode::read_only);
  ReportOptions options;
  options.run_dir = run_dir;
  const Study study = load_study(db, options);

  std::vector<MetricKey> columns = study.bias_metrics;
  if (study.lm_metric && std::find(columns.begin(), columns.end(), *study.lm_metric) == columns.end())
    columns.push_back(*study.lm_metric);
  if (columns.empty()) return {};
  const std::string last_step = study.step_labels.empty() ? std::string() : study.step_labels.back();

  // (facet, model) rows in facet order, models base first; cells: value [low, high].
  std::map<std::pair<std::size_t, std::size_t>, std::map<std::size_t, std::string>> table;
  auto facet_index = [&](const std::string& f) {
    return static_cast<std::size_t>(std::find(study.facets.begin(), study.facets.end(), f) - study.facets.begin());
  };
  for (const auto& p : study.points) {
    if (p.category != "overall" || p.step_label != last_step) continue;
    const auto column = std::find(columns.begin(), columns.end(), p.key);
    if (column == columns.end()) continue;
    std::string text = format_number(p.value);
    if (p.ci_low && p.ci_high) text += " [" + format_number(*p.ci_low) + ", " + format_number(*p.ci_high) + "]";
    table[{facet_index(p.facet), study.model_index(p.model)}][static_cast<std::size_t>(column - columns.begin())] = text;
  }
  if (table.empty()) return {};

  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"facet", "model"};
  for (const auto& c : columns) header.push_back(study.metric_title(c));
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
