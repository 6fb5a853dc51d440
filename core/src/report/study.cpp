#include "report/study.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "report/grid_access.hpp"

namespace biaslab::report::detail {
namespace {

constexpr std::string_view kDiffSuffix = ".diff";
constexpr std::string_view kNoiseFloorPart = ".noise_floor";

// The raw p-value of a comparison row (its paired permutation test); NaN when it has none.
double permutation_p(const nlohmann::json& extra) {
  auto it = extra.find("permutation_p");
  return it != extra.end() && it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// Adjusts every comparison's p-value across the whole run (all metrics, categories, cells).
void adjust_comparisons(Study& s) {
  std::vector<double> raw;
  for (const auto& d : s.diffs) {
    double p = permutation_p(d.extra);
    if (p < 0.0 || p > 1.0) {
      s.notes.push_back("Comparison " + d.model + " " + d.key.metric + " (" + d.category + ") has permutation_p = " +
                        std::to_string(p) + ", not a probability: left out of the significance marks.");
      p = std::numeric_limits<double>::quiet_NaN();
    }
    raw.push_back(p);
  }
  const auto adjusted = adjust_p_values(raw, s.correction);
  for (std::size_t i = 0; i < s.diffs.size(); ++i) {
    if (std::isnan(adjusted[i])) continue;
    s.diffs[i].p_adjusted = adjusted[i];
    ++s.comparisons;
  }
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// A size value's label: the "name" (or "label") field of a table, else the value itself.
std::string size_label_of(const nlohmann::json& v) {
  if (v.is_object()) {
    for (const char* field : {"name", "label", "id"})
      if (auto it = v.find(field); it != v.end() && it->is_string()) return it->get<std::string>();
    std::string out;
    for (const auto& [k, x] : v.items()) out += (out.empty() ? "" : " ") + k + "=" + scalar_text(x);
    return out;
  }
  return scalar_text(v);
}

std::optional<double> size_params_of(const nlohmann::json& v) {
  if (v.is_object()) {
    for (const char* field : {"params", "parameters", "n_params", "num_parameters", "param_count"})
      if (auto it = v.find(field); it != v.end()) {
        if (it->is_number()) return it->get<double>();
        if (it->is_string()) return parse_parameter_count(it->get<std::string>());
      }
  }
  if (v.is_number()) return v.get<double>();
  return parse_parameter_count(size_label_of(v));
}

// The top-level grid key an axis variable ("size" or "size.name") lives under.
std::string top_level(const nlohmann::json& grid, const std::string& var) {
  if (var.empty() || (grid.is_object() && grid.contains(var))) return var;
  return var.substr(0, var.find('.'));
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return ::fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

template <class T>
void push_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

}  // namespace

double ideal_value(const std::string& metric) {
  if (metric == "crows_pairs.metric_score" || metric == "crows_pairs.stereotype_score" ||
      metric == "crows_pairs.antistereotype_score" || metric == "crows_pairs.pct_stereotype" ||
      metric == "crows_pairs.probes.metric_score" || metric == "crows_pairs.probes_control.metric_score" ||
      metric == "stereoset.ss")
    return 50.0;
  if (metric == "seat.effect_size" || metric == "seat.mean_abs_effect_size" ||
      metric == "bbq.amb_bias_score" || metric == "bbq.disamb_bias_score")
    return 0.0;
  return std::numeric_limits<double>::quiet_NaN();
}

bool is_default_bias_metric(const std::string& metric) {
  // crows_pairs.probes.*: CrowS-Pairs scoring of corpus.synthetic's planted probes (quickstart).
  return metric == "crows_pairs.metric_score" || metric == "crows_pairs.probes.metric_score" ||
         metric == "crows_pairs.probes_control.metric_score" || metric == "stereoset.ss" ||
         metric == "seat.effect_size" || metric == "bbq.amb_bias_score" ||
         metric == "bbq.disamb_bias_score";
}

std::string Study::metric_title(const MetricKey& k) const {
  std::set<std::string> nodes;
  for (const auto& b : bias_metrics)
    if (b.metric == k.metric) nodes.insert(b.node);
  if (lm_metric && lm_metric->metric == k.metric) nodes.insert(lm_metric->node);
  return nodes.size() > 1 ? k.metric + " [" + k.node + "]" : k.metric;
}

std::size_t Study::model_index(const std::string& model) const {
  return static_cast<std::size_t>(std::find(models.begin(), models.end(), model) - models.begin());
}

Study load_study(const results::ResultsDatabase& db, const ReportOptions& options) {
  Study s;
  const auto runs = db.runs();
  std::vector<std::string> declared;
  if (!runs.empty()) {
    s.pipeline_name = runs.back().pipeline_name;
    s.run_status = std::string(results::to_string(runs.back().status));
    declared = runs.back().grid_variables;
  }
  const auto cells = db.cells();
  std::vector<nlohmann::json> grids;
  for (const auto& c : cells) grids.push_back(c.grid);
  s.axes = detect_axes(grids, declared, options.step_var, options.size_var);

  // ---- per-cell axis positions ----
  struct CellAxes {
    std::string step_label, size_label, facet, others;
    std::optional<double> step_value;
  };
  std::map<std::size_t, CellAxes> by_cell;
  bool all_step = true, all_params = true;
  std::size_t step_prefixed = 0, frac_prefixed = 0;
  std::map<std::string, double> params;
  for (const auto& c : cells) {
    CellAxes a;
    std::vector<std::string> facet_parts;
    if (!s.axes.size_var.empty()) {
      if (const auto* v = grid_value(c.grid, s.axes.size_var)) {
        a.size_label = size_label_of(*v);
        push_unique(s.size_labels, a.size_label);
        if (auto p = size_params_of(*v)) params[a.size_label] = *p;
        else all_params = false;
        facet_parts.push_back(top_level(c.grid, s.axes.size_var) + "=" + a.size_label);
      }
    }
    if (!s.axes.step_var.empty()) {
      if (const auto* v = grid_value(c.grid, s.axes.step_var)) {
        a.step_label = scalar_text(*v);
        a.step_value = parse_step_value(*v);
        if (!a.step_value) all_step = false;
        if (v->is_string() && a.step_label.rfind("step", 0) == 0) ++step_prefixed;
        if (v->is_string() && a.step_label.rfind("frac", 0) == 0) ++frac_prefixed;
      }
    }
    const std::string step_top = top_level(c.grid, s.axes.step_var);
    const std::string size_top = top_level(c.grid, s.axes.size_var);
    if (c.grid.is_object())
      for (const auto& [k, v] : c.grid.items())
        if (k != step_top && k != size_top) {
          const std::string part = k + "=" + (v.is_object() ? size_label_of(v) : scalar_text(v));
          facet_parts.push_back(part);
          a.others += (a.others.empty() ? "" : ", ") + part;
        }
    for (const auto& p : facet_parts) a.facet += (a.facet.empty() ? "" : ", ") + p;
    push_unique(s.facets, a.facet);
    by_cell[c.index] = a;
  }
  if (all_params && !params.empty()) {
    s.size_params = params;
    std::stable_sort(s.size_labels.begin(), s.size_labels.end(),
                     [&](const std::string& a, const std::string& b) { return params[a] < params[b]; });
  }

  // Step axis: numbers when every value parses, else positions in order of appearance.
  std::map<std::string, double> step_pos;
  s.step_numeric = all_step;
  for (const auto& [idx, a] : by_cell) {
    (void)idx;
    if (a.step_label.empty() && !a.step_value) continue;
    if (!step_pos.count(a.step_label)) {
      step_pos[a.step_label] = all_step ? *a.step_value : static_cast<double>(s.step_labels.size());
      s.step_labels.push_back(a.step_label);
    }
  }
  if (all_step)
    std::stable_sort(s.step_labels.begin(), s.step_labels.end(),
                     [&](const auto& a, const auto& b) { return step_pos[a] < step_pos[b]; });
  const std::size_t n_cells_with_step = s.step_labels.empty() ? 0 : by_cell.size();
  s.step_title = s.axes.step_var;
  if (n_cells_with_step && step_prefixed == by_cell.size()) s.step_title = "pretraining step";
  if (n_cells_with_step && frac_prefixed == by_cell.size()) s.step_title = "fraction of pretraining";
  if (!s.axes.step_var.empty() && !all_step)
    s.notes.push_back("Step variable '" + s.axes.step_var +
                      "' has values that are not numbers, step<N> or frac<x>: plotted in order of "
                      "appearance.");

  // ---- rows ----
  for (const auto& r : db.results()) {
    Point p;
    p.cell = r.cell_index;
    p.key = {r.node, r.row.metric};
    p.model = r.row.model;
    p.category = r.row.category;
    p.value = r.row.value;
    p.ci_low = r.row.ci_low;
    p.ci_high = r.row.ci_high;
    p.n = r.row.n;
    p.extra = r.row.extra;
    if (auto it = by_cell.find(r.cell_index); it != by_cell.end()) {
      p.step_label = it->second.step_label;
      p.size_label = it->second.size_label;
      p.facet = it->second.facet;
      p.others = it->second.others;
      if (auto sp = step_pos.find(p.step_label); sp != step_pos.end()) p.step = sp->second;
    }
    // A checkpoint member named after the cell's step ("pretrain:frac0.2" in the cell with
    // checkpoint = frac0.2) is the same model line at every step: label it "pretrain".
    if (const auto colon = p.model.rfind(':');
        colon != std::string::npos && !p.step_label.empty() && p.model.substr(colon + 1) == p.step_label)
      p.model.resize(colon);
    const std::string& m = r.row.metric;
    if (const auto floor = m.find(kNoiseFloorPart); floor != std::string::npos && floor > 0) {
      // The base model against itself, computed differently: a yardstick, not a score.
      p.key.metric = m.substr(0, floor);
      s.noise_floors.push_back(std::move(p));
    } else if (m.size() > kDiffSuffix.size() && m.ends_with(kDiffSuffix)) {
      p.key.metric = m.substr(0, m.size() - kDiffSuffix.size());
      s.diffs.push_back(std::move(p));
    } else {
      push_unique(s.models, p.model);
      s.points.push_back(std::move(p));
    }
  }

  s.correction = options.correction;
  s.alpha = options.alpha;
  adjust_comparisons(s);

  // ---- which metrics ----
  for (const char* lm : {"stereoset.lms", "perplexity.ppl", "perplexity.pseudo_ppl"}) {
    for (const auto& p : s.points)
      if (p.key.metric == lm && p.category == "overall") {
        s.lm_metric = p.key;
        s.lm_higher_better = p.key.metric == "stereoset.lms";
        break;
      }
    if (s.lm_metric) break;
  }
  for (const auto& p : s.points) {
    if (s.lm_metric && p.key == *s.lm_metric) continue;
    const bool shown = options.metric_glob.empty() ? is_default_bias_metric(p.key.metric)
                                                   : glob_match(options.metric_glob, p.key.metric);
    if (shown) push_unique(s.bias_metrics, p.key);
  }
  if (s.bias_metrics.empty())
    s.notes.push_back(options.metric_glob.empty()
                          ? "No bias metric (crows_pairs.metric_score, stereoset.ss, seat.effect_size, "
                            "bbq.*_bias_score) in this run: bias plots and tables are omitted."
                          : "No metric matches --metric '" + options.metric_glob + "'.");
  if (!s.lm_metric)
    s.notes.push_back("No LM score (stereoset.lms, perplexity.ppl) in this run: the trade-off point "
                      "and the LM-vs-bias scatter are omitted.");

  // ---- trade-off: best LM score along each (facet, model) line ----
  if (s.lm_metric && s.step_labels.size() >= 2) {
    for (const auto& p : s.points) {
      if (p.key != *s.lm_metric || p.category != "overall" || std::isnan(p.value) ||
          p.step_label.empty())
        continue;
      const auto key = std::make_pair(p.facet, p.model);
      auto it = s.tradeoffs.find(key);
      // Ties go to the earlier checkpoint (cheaper to train).
      const bool better =
          it == s.tradeoffs.end() ||
          (s.lm_higher_better ? p.value > it->second.lm_value : p.value < it->second.lm_value) ||
          (p.value == it->second.lm_value && p.step < it->second.step);
      if (better) s.tradeoffs[key] = {p.step, p.step_label, p.value};
    }
  } else if (s.lm_metric) {
    s.notes.push_back(s.axes.step_var.empty() ? "No pretraining-step axis: no trade-off point."
                                              : "Fewer than two pretraining steps: no trade-off point.");
  }
  return s;
}

}  // namespace biaslab::report::detail
