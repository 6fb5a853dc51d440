// write_report: loads the study, builds the document (tables + gnuplot figures), and writes
// report.html, report.md and tables.tex.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "biaslab/atomic_file.hpp"
#include "biaslab/provenance.hpp"
#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "report/document.hpp"
#include "report/gnuplot.hpp"
#include "report/latex.hpp"
#include "report/study.hpp"

namespace biaslab::report {
namespace {

namespace fs = std::filesystem;
using namespace detail;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string anchor_of(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  return out;
}

std::optional<double> ideal_of(const MetricKey& k) {
  const double v = ideal_value(k.metric);
  return std::isnan(v) ? std::nullopt : std::optional<double>(v);
}

// 7e7 -> "70M", 1.4e9 -> "1.4B": tic labels of the parameter axis.
std::string parameter_text(double v) {
  const char* suffix[] = {"", "K", "M", "B", "T"};
  int i = 0;
  while (std::fabs(v) >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", v, suffix[i]);
  return buf;
}

double opt_or_nan(const std::optional<double>& v) { return v ? *v : kNaN; }

// The .diff row paired with a point (same cell, node, metric, category, compressed model).
const Point* diff_of(const Study& s, const Point& p) {
  for (const auto& d : s.diffs)
    if (d.cell == p.cell && d.key == p.key && d.category == p.category && d.model == p.model) return &d;
  return nullptr;
}

std::string p_value_text(const Point* d) {
  if (!d) return "";
  auto it = d->extra.find("permutation_p");
  if (it == d->extra.end() || !it->is_number()) return "";
  return format_number(it->get<double>());
}

std::string adjusted_p_text(const Point* d) { return d && d->p_adjusted ? format_number(*d->p_adjusted) : ""; }

std::string significance_mark(const Study& s, const Point* d) { return d && s.significant(*d) ? "*" : ""; }

// ---- noise floor (the base model against itself, computed differently; docs/reports.md) ----

const nlohmann::json* noise_floor_of(const Point* d) {
  if (!d) return nullptr;
  auto it = d->extra.find("noise_floor");
  return it != d->extra.end() && it->is_object() ? &*it : nullptr;
}

// Flips are written as a count or as {"base_only", "compressed_only", "total", ...}.
std::optional<double> flip_total(const nlohmann::json& extra) {
  auto it = extra.find("flips");
  if (it == extra.end()) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  if (it->is_object())
    if (auto t = it->find("total"); t != it->end() && t->is_number()) return t->get<double>();
  return std::nullopt;
}

std::optional<bool> exceeds_noise_floor(const Point* d) {
  if (!d) return std::nullopt;
  auto it = d->extra.find("exceeds_noise_floor");
  return it != d->extra.end() && it->is_boolean() ? std::optional<bool>(it->get<bool>()) : std::nullopt;
}

std::string optional_number(const std::optional<double>& v) { return v ? format_number(*v) : ""; }

// Flip counts are whole numbers: "5", not "5.0000".
std::string optional_count(const std::optional<double>& v) {
  if (!v) return "";
  if (*v != std::trunc(*v)) return format_number(*v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", *v);
  return buf;
}

// Cells of the noise-floor columns: flips, floor flips, floor difference, exceeds floor.
std::vector<std::string> noise_floor_cells(const Point* d) {
  const nlohmann::json* floor = noise_floor_of(d);
  std::optional<double> floor_difference;
  if (floor)
    if (auto it = floor->find("difference"); it != floor->end() && it->is_number()) floor_difference = it->get<double>();
  const auto exceeds = exceeds_noise_floor(d);
  return {d ? optional_count(flip_total(d->extra)) : "", floor ? optional_count(flip_total(*floor)) : "",
          optional_number(floor_difference), exceeds ? (*exceeds ? "yes" : "NO") : ""};
}

bool has_noise_floor(const Study& s) {
  if (!s.noise_floors.empty()) return true;
  for (const auto& d : s.diffs)
    if (noise_floor_of(&d)) return true;
  return false;
}

// What the run recorded it ran without (provenance.json "extra.missing_data": node -> specs,
// written by `biaslab run`); nullopt when the run has no such record (no provenance.json, or a run
// from before biaslab recorded it).
std::optional<std::map<std::string, std::vector<std::string>>> missing_data_of(const fs::path& run_dir) {
  std::ifstream in(run_dir / results::kProvenanceFileName);
  if (!in) return std::nullopt;
  const auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  const auto extra = doc.find("extra");
  if (extra == doc.end() || !extra->is_object()) return std::nullopt;
  const auto missing = extra->find("missing_data");
  if (missing == extra->end() || !missing->is_object()) return std::nullopt;
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [node, specs] : missing->items())
    if (specs.is_array())
      for (const auto& spec : specs)
        if (spec.is_string()) out[node].push_back(spec.get<std::string>());
  return out;
}

class Builder {
 public:
  Builder(const Study& study, Gnuplot& gnuplot, ReportSummary& summary)
      : s_(study), gp_(gnuplot), summary_(summary), has_floor_(has_noise_floor(study)) {}

  Document build(const ReportOptions& options) {
    Document doc;
    doc.title = "biaslab report" + (s_.pipeline_name.empty() ? std::string() : ": " + s_.pipeline_name);
    doc.facts = {{"run directory", options.run_dir.string()},
                 {"pipeline", s_.pipeline_name.empty() ? "(unknown)" : s_.pipeline_name},
                 {"run status", s_.run_status.empty() ? "(no run recorded)" : s_.run_status},
                 {"step axis", s_.axes.step_var.empty() ? "(none)" : s_.axes.step_var + " (" + s_.step_title + ")"},
                 {"size axis", s_.axes.size_var.empty() ? "(none)" : s_.axes.size_var},
                 {"LM score", s_.lm_metric ? s_.metric_title(*s_.lm_metric) + (s_.lm_higher_better ? " (higher is better)" : " (lower is better)") : "(none)"},
                 {"bias metrics", s_.bias_metrics.empty() ? "(none)" : [&] {
                    std::vector<std::string> t;
                    for (const auto& k : s_.bias_metrics) t.push_back(s_.metric_title(k));
                    return trim_list(t);
                  }()},
                 {"models", trim_list(s_.models)},
                 {"significance", significance_fact()},
                 {"generated", results::iso8601_utc_now()}};
    missing_data_header(doc, options.run_dir);
    if (has_floor_) noise_floor_header(doc);
    if (options.formats.html && !gp_.available())
      doc.warnings.push_back("gnuplot was not found at '" + options.gnuplot.string() +
                             "': plots are unavailable in this report (install gnuplot and run "
                             "`biaslab report` again). All tables are complete.");
    tradeoff_section(doc);
    for (const auto& key : s_.bias_metrics) metric_section(doc, key);
    scatter_section(doc);
    doc.notes = s_.notes;
    doc.notes.insert(doc.notes.end(), notes_.begin(), notes_.end());
    return doc;
  }

 private:
  Figure draw(const std::string& title, const std::string& caption, auto&& spec) {
    Figure f{title, caption, {}, {}};
    if (!gp_.available()) {
      f.note = "gnuplot unavailable";
      return f;
    }
    try {
      f.svg = inline_svg(gp_.render(spec), "p" + std::to_string(++figure_id_) + "-", title);
      ++summary_.plots;
    } catch (const std::exception& e) {
      f.note = e.what();
      notes_.push_back("Plot '" + title + "' failed: " + e.what());
    }
    return f;
  }

  // The header line on significance; also counts the marked comparisons into the summary.
  std::string significance_fact() {
    const std::string alpha = format_number(s_.alpha);
    summary_.comparisons = s_.comparisons;
    for (const auto& d : s_.diffs) summary_.significant += s_.significant(d) ? 1 : 0;
    if (s_.comparisons == 0) return "no comparison with a p-value in this run";
    if (s_.correction == Correction::none)
      return "paired permutation p-values without multiple-comparison correction (" + std::to_string(s_.comparisons) +
             " comparisons in this run); * marks p < " + alpha + " (" + std::to_string(summary_.significant) + " of " +
             std::to_string(s_.comparisons) + ")";
    return "paired permutation p-values adjusted by " + std::string(describe(s_.correction)) + " across all " +
           std::to_string(s_.comparisons) + " comparisons of this run (every metric, category and cell); * marks " +
           "adjusted p < " + alpha + " (" + std::to_string(summary_.significant) + " of " +
           std::to_string(s_.comparisons) + "); raw p-values in the 'p' columns and in results.csv";
  }

  void missing_data_header(Document& doc, const fs::path& run_dir) const {
    const auto record = missing_data_of(run_dir);
    if (!record || record->empty()) {
      doc.facts.emplace(doc.facts.end() - 1, "missing data",
                        record ? "none: every node had its data"
                               : "not recorded (no provenance.json with a missing-data record)");
      return;
    }
    const auto& missing = *record;
    std::string list;
    for (const auto& [node, specs] : missing) list += (list.empty() ? "" : ", ") + node + " (" + trim_list(specs) + ")";
    const std::string text = std::to_string(missing.size()) + (missing.size() == 1 ? " node" : " nodes") +
                             " ran without data: " + list;
    doc.facts.emplace(doc.facts.end() - 1, "missing data", text);
    doc.warnings.push_back(text + ". Their benchmarks were skipped (if_missing = \"skip\" or crows data = \"auto\"), "
                           "so this report lacks those results. Put the data in the mirror (BIASLAB_DATA_MIRROR) "
                           "and run again; `biaslab run --strict` makes a skip an error.");
  }

  // The run-level sentence on noise floors, and a warning naming comparisons that do not exceed theirs.
  void noise_floor_header(Document& doc) {
    std::size_t with_floor = 0;
    std::vector<std::string> within;
    for (const auto& d : s_.diffs) {
      const auto exceeds = exceeds_noise_floor(&d);
      if (!exceeds) continue;
      ++with_floor;
      if (*exceeds) continue;
      within.push_back(d.model + " vs " + d.extra.value("base_model", std::string("base")) + ", " +
                       s_.metric_title(d.key) + " " + d.category + (d.facet.empty() ? "" : ", " + d.facet) +
                       (d.step_label.empty() ? "" : " " + d.step_label));
    }
    summary_.below_noise_floor = within.size();
    doc.facts.emplace(doc.facts.end() - 1, "noise floor",
                      std::to_string(with_floor - within.size()) + " of " + std::to_string(with_floor) +
                          " comparisons exceed the noise floor of their base model (the base model against "
                          "itself under a different batch size, padding and thread count); " +
                          std::to_string(within.size()) + " do not ('NO' in the 'exceeds floor' columns)");
    if (within.empty()) return;
    std::string list;
    for (std::size_t i = 0; i < within.size() && i < 10; ++i) list += (list.empty() ? "" : "; ") + within[i];
    if (within.size() > 10) list += "; ... (" + std::to_string(within.size() - 10) + " more)";
    doc.warnings.push_back(std::to_string(within.size()) + (within.size() == 1 ? " comparison does" : " comparisons do") +
                           " not exceed the noise floor (what computation alone changes): " + list +
                           ". Their differences may be numerical, not an effect of compression.");
  }

  // Headers and alignment of the p-value columns (and the noise-floor columns when the run has them).
  void comparison_columns(Table& t) const {
    for (const std::string& h : std::vector<std::string>{"p", "p adj. (" + std::string(to_string(s_.correction)) + ")", "sig."}) {
      t.headers.push_back(h);
      t.right_aligned.push_back(h != "sig.");
    }
    if (!has_floor_) return;
    for (const char* h : {"flips", "floor flips", "floor diff", "exceeds floor"}) {
      t.headers.push_back(h);
      t.right_aligned.push_back(std::string_view(h) != "exceeds floor");
    }
  }

  void comparison_cells(std::vector<std::string>& row, const Point* d) const {
    row.push_back(p_value_text(d));
    row.push_back(adjusted_p_text(d));
    row.push_back(significance_mark(s_, d));
    if (!has_floor_) return;
    for (auto& c : noise_floor_cells(d)) row.push_back(std::move(c));
  }

  Figure missing(const std::string& title, const std::string& why) {
    notes_.push_back(title + ": omitted (" + why + ").");
    return Figure{title, {}, {}, why};
  }

  std::vector<std::string> categories_of(const MetricKey& key) const {
    std::vector<std::string> cats;
    for (const auto& p : s_.points)
      if (p.key == key && std::find(cats.begin(), cats.end(), p.category) == cats.end()) cats.push_back(p.category);
    // "overall" first, the rest as emitted.
    std::stable_partition(cats.begin(), cats.end(), [](const std::string& c) { return c == "overall"; });
    return cats;
  }

  std::vector<std::pair<double, std::string>> step_tics() const {
    std::vector<std::pair<double, std::string>> t;
    if (s_.step_numeric) return t;
    for (std::size_t i = 0; i < s_.step_labels.size(); ++i) t.emplace_back(static_cast<double>(i), s_.step_labels[i]);
    return t;
  }

  // Largest step present for a facet (the final checkpoint).
  std::optional<double> final_step(const MetricKey& key, const std::string& facet) const {
    std::optional<double> best;
    for (const auto& p : s_.points)
      if (p.key == key && p.facet == facet && !p.step_label.empty() && (!best || p.step > *best)) best = p.step;
    return best;
  }

  const Point* find(const MetricKey& key, const std::string& category, const std::string& facet,
                    const std::string& model, std::optional<double> step) const {
    for (const auto& p : s_.points)
      if (p.key == key && p.category == category && p.facet == facet && p.model == model &&
          (!step || (!p.step_label.empty() && p.step == *step)))
        return &p;
    return nullptr;
  }

  // ---- trade-off -------------------------------------------------------------------------------
  void tradeoff_section(Document& doc) {
    Section sec{"Trade-off points", "tradeoff", {}};
    if (s_.tradeoffs.empty()) {
      sec.paragraph("No trade-off point: it needs an LM score and at least two pretraining steps.");
      doc.sections.push_back(std::move(sec));
      return;
    }
    sec.paragraph("For every model line (compression x size), the checkpoint with the best LM score (" +
                  s_.metric_title(*s_.lm_metric) + (s_.lm_higher_better ? ", highest" : ", lowest") +
                  "). It is marked with a red circle on the step and scatter plots.");
    Table t;
    t.headers = {"facet", "model", "best step", "LM score"};
    t.right_aligned = {false, false, false, true};
    for (const auto& key : s_.bias_metrics) {
      t.headers.push_back(s_.metric_title(key) + " (overall)");
      t.right_aligned.push_back(true);
    }
    for (const auto& facet : s_.facets)
      for (const auto& model : s_.models) {
        auto it = s_.tradeoffs.find({facet, model});
        if (it == s_.tradeoffs.end()) continue;
        std::vector<std::string> row = {facet, model, it->second.step_label, format_number(it->second.lm_value)};
        for (const auto& key : s_.bias_metrics) {
          const Point* p = find(key, "overall", facet, model, it->second.step);
          row.push_back(p ? format_number(p->value) : "");
        }
        t.rows.push_back(std::move(row));
      }
    sec.table(std::move(t));
    doc.sections.push_back(std::move(sec));
  }

  // ---- one bias metric ---------------------------------------------------------------------------
  void metric_section(Document& doc, const MetricKey& key) {
    const std::string title = s_.metric_title(key);
    Section sec{title, anchor_of("m-" + key.node + "-" + key.metric), {}};
    sec.paragraph("Metric " + key.metric + " reported by node '" + key.node + "'." +
                  (ideal_of(key) ? " An unbiased model scores " + format_number(*ideal_of(key)) + "." : "") +
                  noise_floor_sentence(key));
    const auto cats = categories_of(key);
    step_figures(sec, key, cats);
    size_figures(sec, key, cats);
    bar_figures(sec, key, cats);
    score_tables(sec, key);
    doc.sections.push_back(std::move(sec));
  }

  void step_figures(Section& sec, const MetricKey& key, const std::vector<std::string>& cats) {
    const std::string base = s_.metric_title(key) + " vs " + (s_.step_title.empty() ? "step" : s_.step_title);
    if (s_.axes.step_var.empty() || s_.step_labels.size() < 2) {
      sec.figure(missing(base, s_.axes.step_var.empty() ? "no pretraining-step grid variable"
                                                         : "fewer than two pretraining steps"));
      return;
    }
    for (const auto& facet : s_.facets)
      for (const auto& cat : cats) {
        LinePlot plot;
        plot.title = s_.metric_title(key) + " - " + cat + (facet.empty() ? "" : " - " + facet);
        plot.xlabel = s_.step_title;
        plot.ylabel = key.metric + " (95% CI band)";
        plot.xtics = step_tics();
        plot.reference_y = ideal_of(key);
        plot.marker_title = "trade-off (best LM score)";
        for (const auto& model : s_.models) {
          Series series{model, s_.model_index(model), {}, {}, {}, {}, false};
          std::vector<const Point*> pts;
          for (const auto& p : s_.points)
            if (p.key == key && p.category == cat && p.facet == facet && p.model == model && !p.step_label.empty())
              pts.push_back(&p);
          if (pts.empty()) continue;
          std::stable_sort(pts.begin(), pts.end(), [](auto* a, auto* b) { return a->step < b->step; });
          for (const Point* p : pts) {
            series.x.push_back(p->step);
            series.y.push_back(p->value);
            series.lo.push_back(opt_or_nan(p->ci_low));
            series.hi.push_back(opt_or_nan(p->ci_high));
          }
          if (auto t = s_.tradeoffs.find({facet, model}); t != s_.tradeoffs.end())
            if (const Point* p = find(key, cat, facet, model, t->second.step))
              plot.markers.push_back({p->step, p->value, s_.model_index(model)});
          plot.series.push_back(std::move(series));
        }
        if (plot.series.empty()) continue;
        sec.figure(draw(plot.title,
                        "Bias score vs " + s_.step_title + ", one line per model (compression); shaded: 95% CI; "
                        "red circles: trade-off points.",
                        plot));
      }
  }

  void size_figures(Section& sec, const MetricKey& key, const std::vector<std::string>& cats) {
    const std::string base = s_.metric_title(key) + " vs model size";
    if (s_.axes.size_var.empty() || s_.size_labels.size() < 2) {
      sec.figure(missing(base, s_.axes.size_var.empty() ? "no model-size grid variable" : "only one model size"));
      return;
    }
    const bool numeric = !s_.size_params.empty();
    std::vector<std::string> others;
    for (const auto& p : s_.points)
      if (p.key == key && std::find(others.begin(), others.end(), p.others) == others.end()) others.push_back(p.others);
    for (const auto& cat : cats) {
      LinePlot plot;
      plot.title = s_.metric_title(key) + " - " + cat + " vs model size" +
                   (s_.axes.step_var.empty() ? "" : " (final checkpoint)");
      plot.xlabel = numeric ? "parameters" : s_.axes.size_var;
      plot.ylabel = key.metric + " (95% CI)";
      plot.logx = numeric;
      plot.reference_y = ideal_of(key);
      for (std::size_t i = 0; i < s_.size_labels.size(); ++i)
        if (numeric) plot.xtics.emplace_back(s_.size_params.at(s_.size_labels[i]), parameter_text(s_.size_params.at(s_.size_labels[i])));
        else plot.xtics.emplace_back(static_cast<double>(i), s_.size_labels[i]);
      for (const auto& other : others)
        for (const auto& model : s_.models) {
          Series series{model + (other.empty() ? "" : " (" + other + ")"), s_.model_index(model), {}, {}, {}, {}, false};
          for (std::size_t i = 0; i < s_.size_labels.size(); ++i) {
            // The facet's final checkpoint for this size.
            const Point* chosen = nullptr;
            for (const auto& p : s_.points)
              if (p.key == key && p.category == cat && p.model == model && p.others == other &&
                  p.size_label == s_.size_labels[i] && (!chosen || p.step > chosen->step))
                chosen = &p;
            if (!chosen) continue;
            series.x.push_back(numeric ? s_.size_params.at(s_.size_labels[i]) : static_cast<double>(i));
            series.y.push_back(chosen->value);
            series.lo.push_back(opt_or_nan(chosen->ci_low));
            series.hi.push_back(opt_or_nan(chosen->ci_high));
          }
          if (!series.x.empty()) plot.series.push_back(std::move(series));
        }
      if (plot.series.empty()) continue;
      sec.figure(draw(plot.title, "Bias score vs model size at each size's final checkpoint; shaded: 95% CI.", plot));
    }
  }

  void bar_figures(Section& sec, const MetricKey& key, const std::vector<std::string>& cats) {
    for (const auto& facet : s_.facets) {
      const auto step = final_step(key, facet);
      BarPlot plot;
      plot.title = s_.metric_title(key) + " by category" + (facet.empty() ? "" : " - " + facet) +
                   (step ? " - " + step_label_of(*step) : "");
      plot.ylabel = key.metric + " (95% CI)";
      plot.reference_y = ideal_of(key);
      plot.categories = cats;
      Table t;
      t.caption = plot.title + ": compressed vs base (paired test)";
      t.headers = {"category", "model", "value", "95% CI", "n", "vs base", "difference", "95% CI (diff)"};
      t.right_aligned = {false, false, true, false, true, false, true, false};
      comparison_columns(t);
      bool any = false;
      for (const auto& model : s_.models) {
        std::vector<double> v(cats.size(), kNaN), lo(cats.size(), kNaN), hi(cats.size(), kNaN);
        bool has = false;
        for (std::size_t c = 0; c < cats.size(); ++c) {
          const Point* p = find(key, cats[c], facet, model, step);
          if (!p) continue;
          has = true;
          v[c] = p->value;
          lo[c] = opt_or_nan(p->ci_low);
          hi[c] = opt_or_nan(p->ci_high);
        }
        if (!has) continue;
        any = true;
        plot.groups.push_back(model);
        plot.colors.push_back(s_.model_index(model));
        plot.value.push_back(v);
        plot.lo.push_back(lo);
        plot.hi.push_back(hi);
      }
      if (!any) continue;
      for (const auto& cat : cats)
        for (const auto& model : plot.groups) {
          const Point* p = find(key, cat, facet, model, step);
          if (!p) continue;
          const Point* d = diff_of(s_, *p);
          std::string base_model;
          if (d && d->extra.contains("base_model") && d->extra["base_model"].is_string())
            base_model = d->extra["base_model"].get<std::string>();
          std::vector<std::string> row = {cat, model, format_number(p->value), format_interval(p->ci_low, p->ci_high),
                                          p->n ? std::to_string(*p->n) : "", base_model, d ? format_number(d->value) : "",
                                          d ? format_interval(d->ci_low, d->ci_high) : ""};
          comparison_cells(row, d);
          t.rows.push_back(std::move(row));
        }
      if (cats.size() < 2 && plot.groups.size() < 2) {
        sec.figure(missing(plot.title, "a single category and a single model"));
      } else {
        sec.figure(draw(plot.title,
                        "Per-category scores with 95% CIs, base model first (the y axis need not start at 0); "
                        "the table below gives each compressed model's paired difference and "
                        "permutation-test p-value.",
                        plot));
      }
      sec.table(std::move(t));
    }
  }

  std::string step_label_of(double step) const {
    for (const auto& p : s_.points)
      if (!p.step_label.empty() && p.step == step) return p.step_label;
    return format_number(step);
  }

  void score_tables(Section& sec, const MetricKey& key) {
    Table t;
    t.caption = s_.metric_title(key) + " (overall) at every cell";
    t.headers = {"facet", "step", "model", "value", "95% CI", "n", "difference vs base", "95% CI (diff)"};
    t.right_aligned = {false, false, false, true, false, true, true, false};
    comparison_columns(t);
    std::vector<const Point*> pts;
    for (const auto& p : s_.points)
      if (p.key == key && p.category == "overall") pts.push_back(&p);
    std::stable_sort(pts.begin(), pts.end(), [&](const Point* a, const Point* b) {
      const auto fa = std::find(s_.facets.begin(), s_.facets.end(), a->facet) - s_.facets.begin();
      const auto fb = std::find(s_.facets.begin(), s_.facets.end(), b->facet) - s_.facets.begin();
      if (fa != fb) return fa < fb;
      if (a->step != b->step) return a->step < b->step;
      return s_.model_index(a->model) < s_.model_index(b->model);
    });
    for (const Point* p : pts) {
      const Point* d = diff_of(s_, *p);
      std::vector<std::string> row = {p->facet, p->step_label, p->model, format_number(p->value),
                                      format_interval(p->ci_low, p->ci_high), p->n ? std::to_string(*p->n) : "",
                                      d ? format_number(d->value) : "", d ? format_interval(d->ci_low, d->ci_high) : ""};
      comparison_cells(row, d);
      t.rows.push_back(std::move(row));
    }
    if (!t.rows.empty()) sec.table(std::move(t));
    noise_floor_table(sec, key);
  }

  // The base models against themselves: the yardstick of every comparison's flips and difference.
  void noise_floor_table(Section& sec, const MetricKey& key) const {
    Table t;
    t.caption = s_.metric_title(key) + ": noise floor (each base model against itself, computed differently)";
    t.headers = {"facet", "step", "base model", "category", "floor diff", "flips", "max |item change|", "p", "n",
                 "computation"};
    t.right_aligned = {false, false, false, false, true, true, true, true, true, false};
    for (const auto& f : s_.noise_floors) {
      if (f.key != key) continue;
      std::optional<double> max_change;
      if (auto it = f.extra.find("max_abs_item_change"); it != f.extra.end() && it->is_number())
        max_change = it->get<double>();
      std::string computation;
      if (auto it = f.extra.find("computation"); it != f.extra.end() && it->is_object())
        for (const auto& [k, v] : it->items()) computation += (computation.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
      t.rows.push_back({f.facet, f.step_label, f.model, f.category, format_number(f.value),
                        optional_count(flip_total(f.extra)), optional_number(max_change), p_value_text(&f),
                        f.n ? std::to_string(*f.n) : "", computation});
    }
    if (!t.rows.empty()) sec.table(std::move(t));
  }

  // "2 of 16 comparisons of this metric do not exceed their noise floor."
  std::string noise_floor_sentence(const MetricKey& key) const {
    std::size_t with_floor = 0, within = 0;
    for (const auto& d : s_.diffs)
      if (d.key == key)
        if (const auto exceeds = exceeds_noise_floor(&d)) {
          ++with_floor;
          within += *exceeds ? 0 : 1;
        }
    if (with_floor == 0) return "";
    return " " + std::to_string(within) + " of " + std::to_string(with_floor) +
           " comparisons of this metric do not exceed their noise floor ('NO' under 'exceeds floor'); 'flips' "
           "counts items whose decision the compression changed, 'floor flips' those the base model's "
           "recomputation alone changed.";
  }

  // ---- LM score vs bias score ----------------------------------------------------------------
  void scatter_section(Document& doc) {
    Section sec{"LM score vs bias score", "scatter", {}};
    if (!s_.lm_metric || s_.bias_metrics.empty()) {
      sec.figure(missing("LM score vs bias score", !s_.lm_metric ? "no LM score in this run" : "no bias metric"));
      doc.sections.push_back(std::move(sec));
      return;
    }
    sec.paragraph("Each point is one (cell, model): its " + s_.metric_title(*s_.lm_metric) +
                  " against its bias score (overall). Kendall's tau-b as scipy.stats.kendalltau computes it "
                  "(exact p-value without ties for n <= 33, else the tie-corrected normal approximation).");
    Table kt;
    kt.caption = "Kendall tau-b between LM score and bias score";
    kt.headers = {"bias metric", "models", "n", "tau-b", "p", "p method"};
    kt.right_aligned = {false, false, true, true, true, false};
    for (const auto& key : s_.bias_metrics) {
      LinePlot plot;
      plot.title = s_.metric_title(*s_.lm_metric) + " vs " + s_.metric_title(key);
      plot.xlabel = s_.metric_title(*s_.lm_metric);
      plot.ylabel = key.metric + " (overall)";
      plot.marker_title = "trade-off (best LM score)";
      plot.reference_y = ideal_of(key);
      std::vector<double> all_x, all_y;
      for (const auto& model : s_.models) {
        Series series{model, s_.model_index(model), {}, {}, {}, {}, true};
        std::vector<double> mx, my;
        for (const auto& b : s_.points) {
          if (b.key != key || b.category != "overall" || b.model != model) continue;
          const Point* lm = nullptr;
          for (const auto& l : s_.points)
            if (l.key == *s_.lm_metric && l.cell == b.cell && l.model == model && l.category == "overall") lm = &l;
          if (!lm) continue;
          series.x.push_back(lm->value);
          series.y.push_back(b.value);
          series.lo.push_back(opt_or_nan(b.ci_low));
          series.hi.push_back(opt_or_nan(b.ci_high));
          mx.push_back(lm->value);
          my.push_back(b.value);
          if (auto t = s_.tradeoffs.find({b.facet, model}); t != s_.tradeoffs.end() && t->second.step_label == b.step_label)
            plot.markers.push_back({lm->value, b.value, s_.model_index(model)});
        }
        if (series.x.empty()) continue;
        const KendallTau k = kendall_tau_b(mx, my);
        kt.rows.push_back({s_.metric_title(key), model, std::to_string(k.n), format_number(k.tau_b),
                           format_number(k.p_value), k.exact ? "exact" : "asymptotic"});
        all_x.insert(all_x.end(), mx.begin(), mx.end());
        all_y.insert(all_y.end(), my.begin(), my.end());
        plot.series.push_back(std::move(series));
      }
      if (plot.series.empty()) {
        sec.figure(missing(plot.title, "no cell has both scores"));
        continue;
      }
      const KendallTau k = kendall_tau_b(all_x, all_y);
      kt.rows.push_back({s_.metric_title(key), "all", std::to_string(k.n), format_number(k.tau_b),
                         format_number(k.p_value), k.exact ? "exact" : "asymptotic"});
      plot.title += " (Kendall tau-b = " + format_number(k.tau_b) + ", n = " + std::to_string(k.n) + ")";
      sec.figure(draw(plot.title, "Vertical bars: 95% CI of the bias score; red circles: trade-off points.", plot));
    }
    sec.table(std::move(kt));
    doc.sections.push_back(std::move(sec));
  }

  const Study& s_;
  Gnuplot& gp_;
  ReportSummary& summary_;
  std::size_t figure_id_ = 0;
  std::vector<std::string> notes_;
  bool has_floor_ = false;
};

}  // namespace

ReportFormats parse_formats(std::string_view text) {
  ReportFormats f{false, false, false};
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = text.find(',', begin);
    const std::string_view name = text.substr(begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
    if (name == "html") f.html = true;
    else if (name == "md" || name == "markdown") f.markdown = true;
    else if (name == "latex" || name == "tex") f.latex = true;
    else if (name == "all") f = {true, true, true};
    else throw std::invalid_argument("unknown report format '" + std::string(name) + "' (html, md, latex or all)");
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return f;
}

ReportSummary write_report(const ReportOptions& options) {
  const results::ResultsDatabase db(results::database_path(options.run_dir), results::ResultsDatabase::Mode::read_only);
  const Study study = load_study(db, options);
  ReportSummary summary;
  summary.step_var = study.axes.step_var;
  summary.size_var = study.axes.size_var;
  summary.lm_metric = study.lm_metric ? study.lm_metric->metric : "";
  const fs::path out = options.out_dir.empty() ? options.run_dir : options.out_dir;
  fs::create_directories(out);

  Gnuplot gnuplot(options.formats.html ? options.gnuplot : fs::path());
  summary.plots_available = gnuplot.available();
  Builder builder(study, gnuplot, summary);
  const Document doc = builder.build(options);
  summary.notes = doc.notes;
  summary.comparisons = study.comparisons;
  if (options.formats.html) {
    write_file_atomic(out / kHtmlFileName, render_html(doc));
    summary.written.push_back(out / kHtmlFileName);
  }
  if (options.formats.markdown) {
    write_file_atomic(out / kMarkdownFileName, render_markdown(doc));
    summary.written.push_back(out / kMarkdownFileName);
  }
  if (options.formats.latex) {
    write_file_atomic(out / kLatexFileName, render_latex(study));
    summary.written.push_back(out / kLatexFileName);
  }
  return summary;
}

}  // namespace biaslab::report
