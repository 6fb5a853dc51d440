#include "report/latex.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace biaslab::report::detail {
namespace {

// Two decimals, as the paper prints scores; "--" for a missing value.
std::string fixed2(double v) {
  if (std::isnan(v)) return "--";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

const Point* find(const Study& s, const MetricKey& key, const std::string& category, const std::string& facet,
                  const std::string& step_label, const std::string& model) {
  for (const auto& p : s.points)
    if (p.key == key && p.category == category && p.facet == facet && p.step_label == step_label && p.model == model)
      return &p;
  return nullptr;
}

const Point* diff_of(const Study& s, const Point& p) {
  for (const auto& d : s.diffs)
    if (d.cell == p.cell && d.key == p.key && d.category == p.category && d.model == p.model) return &d;
  return nullptr;
}

// False also when the row has no noise floor (older runs).
bool within_noise_floor(const Point& d) {
  auto it = d.extra.find("exceeds_noise_floor");
  return it != d.extra.end() && it->is_boolean() && !it->get<bool>();
}

// $^{*}$: significant after the run's multiple-comparison correction; $^{\dagger}$: the
// difference does not exceed the base model's noise floor.
std::string score_cell(const Study& s, const Point* p) {
  if (!p) return "--";
  std::string out = fixed2(p->value);
  const Point* d = diff_of(s, *p);
  if (!d) return out;
  std::string marks;
  if (s.significant(*d)) marks += "*";
  if (within_noise_floor(*d)) marks += (marks.empty() ? "" : ",") + std::string("\\dagger");
  if (!marks.empty()) out += "$^{" + marks + "}$";
  return out;
}

// Facet/step pairs in table order (facets as in the run, steps along the axis).
std::vector<std::pair<std::string, std::string>> rows_of(const Study& s, const MetricKey& key) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& facet : s.facets) {
    const auto steps = s.step_labels.empty() ? std::vector<std::string>{""} : s.step_labels;
    for (const auto& step : steps) {
      bool any = false;
      for (const auto& p : s.points) any = any || (p.key == key && p.facet == facet && p.step_label == step);
      if (any) rows.emplace_back(facet, step);
    }
  }
  return rows;
}

void begin_table(std::ostringstream& o, std::size_t label_columns, std::size_t value_columns) {
  o << "\\begin{table}[t]\n\\centering\n\\small\n\\begin{tabular}{" << std::string(label_columns, 'l')
    << std::string(value_columns, 'r') << "}\n\\toprule\n";
}

}  // namespace

std::string latex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}': out += '\\'; out += c; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_latex(const Study& s) {
  std::ostringstream o;
  o << "% biaslab report: LaTeX tables for pipeline '" << s.pipeline_name << "'.\n"
    << "% Layout after Goncalves & Strubell (2023), Tables 1-4. Needs \\usepackage{booktabs}.\n"
    << "% Scores rounded to 2 decimals; $^{*}$: the compressed model differs from the base model\n"
    << "% (paired permutation test, p adjusted by " << describe(s.correction) << " across the run's "
    << s.comparisons << " comparisons, adjusted p < " << s.alpha << ");\n"
    << "% $^{\\dagger}$: the difference does not exceed the base model's noise floor (computation alone).\n"
    << "% Exact values: results.csv / `biaslab results`.\n\n";
  const bool has_step = !s.step_labels.empty();
  int table_no = 0;
  for (const auto& key : s.bias_metrics) {
    // Table A: overall score per size / checkpoint, base next to each compressed model.
    const auto rows = rows_of(s, key);
    if (rows.empty()) continue;
    const std::string title = latex_escape(s.metric_title(key));
    begin_table(o, has_step ? 2 : 1, s.models.size());
    o << "Model & " << (has_step ? latex_escape(s.step_title.empty() ? "Step" : s.step_title) + " & " : "");
    for (std::size_t i = 0; i < s.models.size(); ++i) o << latex_escape(s.models[i]) << (i + 1 < s.models.size() ? " & " : " \\\\\n");
    o << "\\midrule\n";
    std::string previous_facet = "\x01";
    for (const auto& [facet, step] : rows) {
      if (facet != previous_facet && previous_facet != "\x01") o << "\\midrule\n";
      o << (facet != previous_facet ? latex_escape(facet.empty() ? "all" : facet) : "") << " & ";
      previous_facet = facet;
      if (has_step) o << latex_escape(step) << " & ";
      for (std::size_t i = 0; i < s.models.size(); ++i) {
        o << score_cell(s, find(s, key, "overall", facet, step, s.models[i]));
        o << (i + 1 < s.models.size() ? " & " : " \\\\\n");
      }
    }
    o << "\\bottomrule\n\\end{tabular}\n\\caption{" << title << " (overall) of each model"
      << (has_step ? " at each checkpoint" : "") << ".}\n\\label{tab:biaslab-" << ++table_no << "}\n\\end{table}\n\n";

    // Table B: per bias category at each facet's final checkpoint.
    std::vector<std::string> cats;
    for (const auto& p : s.points)
      if (p.key == key && std::find(cats.begin(), cats.end(), p.category) == cats.end()) cats.push_back(p.category);
    if (cats.size() < 2) continue;
    begin_table(o, 2, s.models.size());
    o << "Model & Category & ";
    for (std::size_t i = 0; i < s.models.size(); ++i) o << latex_escape(s.models[i]) << (i + 1 < s.models.size() ? " & " : " \\\\\n");
    o << "\\midrule\n";
    bool first_facet = true;
    for (const auto& facet : s.facets) {
      std::string last_step;
      for (const auto& [f, step] : rows)
        if (f == facet) last_step = step;
      bool any = false;
      for (const auto& [f, step] : rows) any = any || f == facet;
      if (!any) continue;
      if (!first_facet) o << "\\midrule\n";
      first_facet = false;
      bool first = true;
      for (const auto& cat : cats) {
        o << (first ? latex_escape((facet.empty() ? std::string("all") : facet) + (has_step ? " (" + last_step + ")" : "")) : "")
          << " & " << latex_escape(cat) << " & ";
        first = false;
        for (std::size_t i = 0; i < s.models.size(); ++i) {
          o << score_cell(s, find(s, key, cat, facet, last_step, s.models[i]));
          o << (i + 1 < s.models.size() ? " & " : " \\\\\n");
        }
      }
    }
    o << "\\bottomrule\n\\end{tabular}\n\\caption{" << title << " per bias category"
      << (has_step ? " at the final checkpoint" : "") << ".}\n\\label{tab:biaslab-" << ++table_no
      << "}\n\\end{table}\n\n";
  }
  if (table_no == 0) o << "% No bias metric in this run: no tables.\n";
  return o.str();
}

}  // namespace biaslab::report::detail
