// write_report: loads the study, builds the document (tables + gnuplot figures), and writes
// report.html, report.md and tables.tex.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
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

class Builder {
 public:
  Builder(const Study& study, Gnuplot& gnuplot, ReportSummary& summary)
      : s_(study), gp_(gnuplot), summary_(summary) {}

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
                 {"generated", results::iso8601_utc_now()}};
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
                  (ideal_of(key) ? " An unbiased model scores " + format_number(*ideal_of(key)) + "." : ""));
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
      t.headers = {"category", "model", "value", "95% CI", "n", "vs base", "difference", "95% CI (diff)", "p"};
      t.right_aligned = {false, false, true, false, true, false, true, false, true};
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
          t.rows.push_back({cat, model, format_number(p->value), format_interval(p->ci_low, p->ci_high),
                            p->n ? std::to_string(*p->n) : "", base_model, d ? format_number(d->value) : "",
                            d ? format_interval(d->ci_low, d->ci_high) : "", p_value_text(d)});
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
    t.headers = {"facet", "step", "model", "value", "95% CI", "n", "difference vs base", "95% CI (diff)", "p"};
    t.right_aligned = {false, false, false, true, false, true, true, false, true};
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
      t.rows.push_back({p->facet, p->step_label, p->model, format_number(p->value),
                        format_interval(p->ci_low, p->ci_high), p->n ? std::to_string(*p->n) : "",
                        d ? format_number(d->value) : "", d ? format_interval(d->ci_low, d->ci_high) : "",
                        p_value_text(d)});
    }
    if (!t.rows.empty()) sec.table(std::move(t));
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
