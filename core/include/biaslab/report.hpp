#pragma once
// `biaslab report RUN_DIR`: turns a run's results database into a study report -- report.html
// (self-contained, plots as inline SVG drawn by gnuplot), report.md (tables) and tables.tex
// (LaTeX tables in the layout of Goncalves & Strubell 2023, Tables 1-4). docs/reports.md
// describes every plot and table.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab::report {

inline constexpr std::string_view kHtmlFileName = "report.html";
inline constexpr std::string_view kMarkdownFileName = "report.md";
inline constexpr std::string_view kLatexFileName = "tables.tex";

struct ReportFormats {
  bool html = true;
  bool markdown = true;
  bool latex = false;
};

// "html", "md"/"markdown", "latex"/"tex", "all", or a comma-separated list of them
// ("html,latex"). Throws std::invalid_argument naming the unknown format.
BIASLAB_API ReportFormats parse_formats(std::string_view text);

// How the significance marks of a run's comparisons control for multiple testing (docs/reports.md).
enum class Correction { bh, holm, bonferroni, none };

// "bh" (also "fdr", "BH"), "holm", "bonferroni", "none". Throws std::invalid_argument naming the
// unknown value.
BIASLAB_API Correction parse_correction(std::string_view text);
BIASLAB_API std::string_view to_string(Correction c);   // "bh", "holm", "bonferroni", "none"
BIASLAB_API std::string_view describe(Correction c);    // "Benjamini-Hochberg (false discovery rate)", ...

// Adjusted p-values as R's p.adjust(p, method) computes them: Benjamini-Hochberg step-up
// (cummin of n/i * p(i) from the largest down), Holm step-down (cummax of (n-i+1) * p(i)),
// Bonferroni (n * p), each capped at 1; "none" returns p. NaN entries stay NaN and are not counted
// in n (R's na.rm). Values outside [0, 1] throw std::invalid_argument.
BIASLAB_API std::vector<double> adjust_p_values(std::span<const double> p, Correction method);

struct ReportOptions {
  std::filesystem::path run_dir;        // holds results.sqlite (and provenance.json, optional)
  std::filesystem::path out_dir;        // empty: run_dir
  ReportFormats formats;
  std::string step_var;                 // grid variable of the pretraining axis; empty: detect
  std::string size_var;                 // grid variable of the model-size axis; empty: detect
  std::string metric_glob;              // bias metrics to show (SQLite GLOB); empty: the
                                        // headline bias metrics (docs/reports.md)
  std::filesystem::path gnuplot = "/usr/bin/gnuplot";  // missing: no plots, a warning instead
  Correction correction = Correction::bh;  // across every comparison (.diff row) of the run
  double alpha = 0.05;                     // significance mark: adjusted p < alpha
};

struct ReportSummary {
  std::vector<std::filesystem::path> written;  // files written, in order
  std::string step_var;                        // the axes used ("" = none)
  std::string size_var;
  std::string lm_metric;                       // LM score used for the trade-off ("" = none)
  std::size_t plots = 0;                       // SVG figures drawn
  bool plots_available = true;                 // false when gnuplot is missing
  std::vector<std::string> notes;              // what was omitted and why
  std::size_t comparisons = 0;                 // comparisons with a p-value (the correction's n)
  std::size_t significant = 0;                 // of those, adjusted p < alpha
  std::size_t below_noise_floor = 0;           // comparisons that do not exceed their noise floor
};

// Reads <run_dir>/results.sqlite (read-only) and writes the requested files into out_dir
// (created when missing), each atomically. Throws results::ResultsDbError when the database is
// missing or unreadable, std::invalid_argument when a named axis variable does not exist.
// Missing data never throws: the plot or table is left out with a note.
BIASLAB_API ReportSummary write_report(const ReportOptions& options);

// The headline numbers of a finished run as an aligned text table (what `biaslab run` prints at
// the end): every headline bias metric and the LM score, "overall" category, per facet and model,
// at the last pretraining step, with 95% CIs. Empty when the run has no such results; at most
// max_rows rows. Throws like write_report when the database cannot be read.
BIASLAB_API std::string headline_table(const std::filesystem::path& run_dir, std::size_t max_rows = 40);

// ---- pieces, exported for tests ----------------------------------------------------------------

// Position of a grid value on the pretraining axis: "step143000" -> 143000, "frac0.2" -> 0.2,
// 1000 or "1000" -> 1000. nullopt for anything else.
BIASLAB_API std::optional<double> parse_step_value(const nlohmann::json& value);

// A parameter count written in a model name: "70m" -> 7e7, "EleutherAI/pythia-1.4b-deduped" ->
// 1.4e9, "125M" -> 1.25e8, "6.9B" -> 6.9e9, a plain number -> itself. nullopt when none.
BIASLAB_API std::optional<double> parse_parameter_count(std::string_view text);

struct KendallTau {
  double tau_b = 0.0;     // NaN when undefined (fewer than 2 points, or a constant variable)
  double p_value = 0.0;   // two-sided, as scipy.stats.kendalltau(method="auto")
  bool exact = false;     // exact permutation distribution (no ties, n <= 33) or asymptotic
  std::size_t n = 0;
};

// Kendall's tau-b with scipy.stats.kendalltau semantics (ties corrected; p-value exact without
// ties for n <= 33 or when min(discordant, concordant) <= 1, else the tie-corrected normal
// approximation). Pairs where either value is NaN are dropped first. x and y must have the same
// length (std::invalid_argument otherwise).
BIASLAB_API KendallTau kendall_tau_b(std::span<const double> x, std::span<const double> y);

// Detected (or checked) axis variables of a run, as flattened grid column names: for a
// table-valued size variable ({name = "small", ...}) the size axis is "size" and labels come
// from its "name" field. Empty when there is none.
struct Axes {
  std::string step_var;
  std::string size_var;
};
// Picks the axes among `cells` (grid JSON objects). Overrides must name a grid variable
// (top-level or flattened), else std::invalid_argument; "none" disables an axis.
BIASLAB_API Axes detect_axes(const std::vector<nlohmann::json>& cell_grids,
                             const std::vector<std::string>& declared_order,
                             const std::string& step_override = {},
                             const std::string& size_override = {});

}  // namespace biaslab::report
