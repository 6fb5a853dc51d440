// The report of a synthetic mini-study with known numbers: tables in report.md, tables.tex,
// trade-off points, Kendall tau, SVG figures in report.html, graceful degradation.
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "cli/commands.hpp"
#include "report/study_fixture.hpp"

using namespace biaslab;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

struct MiniStudy {
  fs::path dir = test::fresh_dir("mini");
  report::ReportSummary summary;
  std::string md, html, tex;
  MiniStudy() {
    test::write_mini_study(dir);
    report::ReportOptions o;
    o.run_dir = dir;
    o.formats = report::parse_formats("all");
    summary = report::write_report(o);
    md = slurp(dir / "report.md");
    html = slurp(dir / "report.html");
    tex = slurp(dir / "tables.tex");
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(report_output)

BOOST_AUTO_TEST_CASE(axes_and_files) {
  MiniStudy s;
  BOOST_TEST(s.summary.step_var == "checkpoint");
  BOOST_TEST(s.summary.size_var == "size");
  BOOST_TEST(s.summary.lm_metric == "stereoset.lms");
  BOOST_TEST(s.summary.written.size() == 3u);
  BOOST_TEST(s.summary.plots_available);
  // Per bias metric: step plots (2 sizes x categories: crows 3, stereoset 1) + size plots
  // (crows 3, stereoset 1) + bar plots (crows: 2 sizes; stereoset has one category but two
  // models: 2) + one scatter per bias metric = 6+2+3+1+2+2+2 = 18.
  BOOST_TEST(s.summary.plots == 18u);
}

BOOST_AUTO_TEST_CASE(markdown_numbers) {
  MiniStudy s;
  // Score table row: facet | step | model | value | CI | n | diff | CI | p, 4 decimals like
  // `biaslab results`. small/frac0.4/int8: 50 + 2 + 1.5 = 53.5.
  BOOST_TEST(contains(s.md, "| size=small | frac0.4 | int8 | 53.5000 | [51.5000, 55.5000] | 100 | 1.5000 | "
                            "[0.5000, 2.5000] | 0.0312 |"), s.md);
  // Base model rows have no paired difference.
  BOOST_TEST(contains(s.md, "| size=base | frac1.0 | pretrain | 59.0000 | [57.0000, 61.0000] | 100 |  |  |  |"));
  // Per-category table at the final checkpoint: base/frac1.0 race int8 = 59 + 1.5 - 5.
  BOOST_TEST(contains(s.md, "| race | int8 | 55.5000 | [53.5000, 57.5000] | 100 | pretrain | 1.5000 | "
                            "[0.5000, 2.5000] | 0.0010 |"));
  BOOST_TEST(contains(s.md, "| gender | int8 | 65.5000 | [63.5000, 67.5000] | 100 | pretrain | 1.5000 | "
                            "[0.5000, 2.5000] | 0.5000 |"));
}

BOOST_AUTO_TEST_CASE(tradeoff_points) {
  MiniStudy s;
  // The checkpoint with the highest stereoset.lms per (size, model), with the bias scores there:
  // crows = 50 + 2k + 3s + 1.5m, ss = 55 + k - s + 0.5m.
  BOOST_TEST(contains(s.md, "| size=small | pretrain | frac0.4 | 90.0000 | 52.0000 | 56.0000 |"), s.md);
  BOOST_TEST(contains(s.md, "| size=small | int8 | frac0.7 | 88.0000 | 55.5000 | 57.5000 |"));
  BOOST_TEST(contains(s.md, "| size=base | pretrain | frac1.0 | 95.0000 | 59.0000 | 57.0000 |"));
  BOOST_TEST(contains(s.md, "| size=base | int8 | frac0.2 | 92.0000 | 54.5000 | 54.5000 |"));
}

BOOST_AUTO_TEST_CASE(kendall_rows) {
  MiniStudy s;
  // See test_statistics_axes.cpp: pretrain tau = 10/28, exact p = 2*5546/40320. int8 (x tie at
  // 88): 18 concordant, 9 discordant, 27 untied x pairs, 28 untied y: 9/sqrt(27*28) = 0.3273.
  // All 16 points: 84 concordant, 33 discordant; tau-b = 0.4304 (brute force by hand script).
  BOOST_TEST(contains(s.md, "| crows_pairs.metric_score | pretrain | 8 | 0.3571 | 0.2751 | exact |"), s.md);
  BOOST_TEST(contains(s.md, "| crows_pairs.metric_score | int8 | 8 | 0.3273 |"));
  BOOST_TEST(contains(s.md, "| crows_pairs.metric_score | all | 16 | 0.4304 |"));
}

BOOST_AUTO_TEST_CASE(latex_tables) {
  MiniStudy s;
  BOOST_TEST(contains(s.tex, "\\usepackage{booktabs}"));
  BOOST_TEST(contains(s.tex, "Model & fraction of pretraining & pretrain & int8 \\\\"), s.tex);
  // Overall p = 0.0312 < 0.05: int8 marked significant.
  BOOST_TEST(contains(s.tex, "size=small & frac0.2 & 50.00 & 51.50$^{*}$ \\\\"));
  BOOST_TEST(contains(s.tex, " & frac0.4 & 52.00 & 53.50$^{*}$ \\\\"));
  // Per category at the final checkpoint: gender p = 0.5 (no mark), race p = 0.001 (mark).
  BOOST_TEST(contains(s.tex, "size=base (frac1.0) & overall & 59.00 & 60.50$^{*}$ \\\\"));
  BOOST_TEST(contains(s.tex, " & gender & 64.00 & 65.50 \\\\"));
  BOOST_TEST(contains(s.tex, " & race & 54.00 & 55.50$^{*}$ \\\\"));
  BOOST_TEST(count(s.tex, "\\begin{table}") == 3u);  // crows A + B, stereoset A (one category)
  BOOST_TEST(count(s.tex, "\\begin{tabular}") == count(s.tex, "\\end{tabular}"));
}

BOOST_AUTO_TEST_CASE(html_is_self_contained_with_svg) {
  MiniStudy s;
  BOOST_TEST(count(s.html, "<svg") == 18u);
  BOOST_TEST(count(s.html, "</svg>") == 18u);
  BOOST_TEST(count(s.html, "<path") > 18u * 5);
  BOOST_TEST(!contains(s.html, "http://"));
  BOOST_TEST(!contains(s.html, "https://"));
  BOOST_TEST(!contains(s.html, "<script"));
  BOOST_TEST(!contains(s.html, "<?xml"));
  // Ids are unique across the inlined plots.
  std::regex id(R"re(\bid=['"]([^'"]+)['"])re");
  std::set<std::string> ids;
  std::size_t total = 0;
  for (auto it = std::sregex_iterator(s.html.begin(), s.html.end(), id); it != std::sregex_iterator(); ++it, ++total)
    ids.insert((*it)[1].str());
  BOOST_TEST(ids.size() == total);
  // Trade-off markers and the legend labels are drawn.
  BOOST_TEST(contains(s.html, "trade-off (best LM score)"));
  BOOST_TEST(contains(s.html, "Kendall tau-b = 0.3571") == false);  // title uses the pooled tau
  BOOST_TEST(contains(s.html, "Kendall tau-b = 0.4304, n = 16"));
}

BOOST_AUTO_TEST_CASE(without_gnuplot_tables_still_written) {
  const fs::path dir = test::fresh_dir("nognuplot");
  test::write_mini_study(dir);
  report::ReportOptions o;
  o.run_dir = dir;
  o.gnuplot = dir / "no-such-gnuplot";
  const auto summary = report::write_report(o);
  BOOST_TEST(!summary.plots_available);
  BOOST_TEST(summary.plots == 0u);
  const std::string html = slurp(dir / "report.html"), md = slurp(dir / "report.md");
  BOOST_TEST(contains(html, "plots are unavailable"));
  BOOST_TEST(!contains(html, "<svg"));
  BOOST_TEST(contains(md, "| size=small | frac0.4 | int8 | 53.5000 |"));
  BOOST_TEST(!fs::exists(dir / "tables.tex"));
}

BOOST_AUTO_TEST_CASE(missing_data_degrades_with_notes) {
  // No grid, one perplexity row and a bias metric whose label needs escaping everywhere.
  const fs::path dir = test::fresh_dir("sparse");
  {
    results::ResultsDatabase db(results::database_path(dir));
    db.upsert_cell(0, nlohmann::json::object());
    std::vector<ResultRow> rows = {
        {.model = "base", .metric = "crows_pairs.metric_score", .category = "overall", .value = 60},
        {.model = "it's <b>&\"q\"", .metric = "crows_pairs.metric_score", .category = "overall", .value = 58},
        {.model = "base", .metric = "perplexity.ppl", .category = "overall", .value = 12.5}};
    db.record_node(0, {.node = "m", .plugin = "metric.x"}, rows);
  }
  report::ReportOptions o;
  o.run_dir = dir;
  o.formats = report::parse_formats("all");
  const auto summary = report::write_report(o);
  BOOST_TEST(summary.step_var.empty());
  BOOST_TEST(summary.size_var.empty());
  BOOST_TEST(summary.lm_metric == "perplexity.ppl");
  const std::string html = slurp(dir / "report.html"), md = slurp(dir / "report.md");
  BOOST_TEST(contains(md, "not drawn: no pretraining-step grid variable"), md);
  BOOST_TEST(contains(md, "not drawn: no model-size grid variable"));
  BOOST_TEST(contains(html, "it&#39;s &lt;b&gt;&amp;&quot;q&quot;"));
  BOOST_TEST(!contains(html, "<b>&"));
  // The bars plot (two models) drew, with the odd label escaped by gnuplot.
  BOOST_TEST(count(html, "<svg") == 2u);  // bars + scatter
  BOOST_TEST(contains(html, "it's &lt;b>&amp;\"q\""));  // gnuplot escapes & and <
  BOOST_TEST(contains(slurp(dir / "tables.tex"), "it's <b>\\&\"q\""));
}

BOOST_AUTO_TEST_CASE(pythia_layout_numeric_axes) {
  // A Pythia-shaped grid: model names carry parameter counts (declared out of size order),
  // revisions are step<N>. Base "source", compressed "int8"; LMS peaks at step29000 for every
  // source line and at step143000 for int8.
  const fs::path dir = test::fresh_dir("pythia");
  const char* names[] = {"EleutherAI/pythia-410m-deduped", "EleutherAI/pythia-70m-deduped",
                         "EleutherAI/pythia-160m-deduped"};
  const char* revisions[] = {"step1000", "step29000", "step143000"};
  {
    results::ResultsDatabase db(results::database_path(dir));
    db.begin_run({.run_id = "r", .pipeline_name = "seed", .pipeline_hash = "h",
                  .grid_variables = {"model", "revision"}, .started_at = "2026-01-01T00:00:00Z"});
    std::size_t cell = 0;
    for (int s = 0; s < 3; ++s)
      for (int k = 0; k < 3; ++k, ++cell) {
        db.upsert_cell(cell, {{"model", names[s]}, {"revision", revisions[k]}});
        std::vector<ResultRow> rows;
        for (int m = 0; m < 2; ++m) {
          const std::string model = m ? "int8" : "source";
          rows.push_back({.model = model, .metric = "crows_pairs.metric_score", .value = 60.0 - k + s + m});
          const double lms = m ? 80.0 + k : (k == 1 ? 90.0 : 85.0);
          rows.push_back({.model = model, .metric = "stereoset.lms", .value = lms});
        }
        db.record_node(cell, {.node = "crows", .plugin = "metric.crows_pairs"}, rows);
      }
  }
  report::ReportOptions o;
  o.run_dir = dir;
  const auto summary = report::write_report(o);
  BOOST_TEST(summary.step_var == "revision");
  BOOST_TEST(summary.size_var == "model");
  const std::string md = slurp(dir / "report.md"), html = slurp(dir / "report.html");
  BOOST_TEST(contains(md, "revision (pretraining step)"));
  BOOST_TEST(contains(md, "| model=EleutherAI/pythia-70m-deduped | source | step29000 | 90.0000 | 60.0000 |"), md);
  BOOST_TEST(contains(md, "| model=EleutherAI/pythia-410m-deduped | int8 | step143000 | 82.0000 | 59.0000 |"));
  // Size plot on a log parameter axis; every step plot's x axis spans the real step numbers.
  BOOST_TEST(contains(html, "crows_pairs.metric_score - overall vs model size (final checkpoint)"));
  BOOST_TEST(contains(html, "<text>parameters</text>"));
  BOOST_TEST(contains(html, "<text>pretraining step</text>"));
  BOOST_TEST(contains(html, "140000"));
  // Scatter + 3 step plots + 1 size plot + 3 bar plots (one category, two models).
  BOOST_TEST(summary.plots == 8u);
}

// What `biaslab run` prints at the end: bias metrics and the LM score at the last checkpoint.
BOOST_AUTO_TEST_CASE(headline_table_at_last_checkpoint) {
  const fs::path dir = test::fresh_dir("headline");
  test::write_mini_study(dir);
  const auto table = report::headline_table(dir);
  BOOST_TEST_MESSAGE(table);
  std::istringstream lines(table);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  BOOST_REQUIRE_EQUAL(rows.size(), 6u);  // title, header, 2 sizes x 2 models
  BOOST_TEST(contains(rows[0], "frac1.0"));
  BOOST_TEST((contains(rows[1], "crows_pairs.metric_score") && contains(rows[1], "stereoset.ss") &&
             contains(rows[1], "stereoset.lms")));
  // crows overall = 50 + 2k + 3s + 1.5m with CI -+ 2, stereoset.ss = 55 + k - s + 0.5m, lms = kLms[s][m][3]
  BOOST_TEST(rows[0] == "at checkpoint = frac1.0 (overall; 95% CI)");
  BOOST_TEST(rows[2] == "size=small  pretrain  56.00 [54.00, 58.00]      58.00         84.00");
  BOOST_TEST(rows[3] == "size=small  int8      57.50 [55.50, 59.50]      58.50         87.00");
  BOOST_TEST(rows[4] == "size=base   pretrain  59.00 [57.00, 61.00]      57.00         95.00");
  BOOST_TEST(rows[5] == "size=base   int8      60.50 [58.50, 62.50]      57.50         88.00");
  BOOST_TEST(report::headline_table(dir, 2).find("more rows in the report") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cli_command) {
  const fs::path dir = test::fresh_dir("cli");
  test::write_mini_study(dir);
  const fs::path out = dir / "out";
  cli::GlobalOptions g;
  BOOST_TEST(cli::cmd_report({dir.string(), "--out", out.string(), "--format", "latex", "--metric", "stereoset.ss"}, g) == 0);
  BOOST_TEST(fs::exists(out / "tables.tex"));
  BOOST_TEST(!fs::exists(out / "report.html"));
  const std::string tex = slurp(out / "tables.tex");
  BOOST_TEST(contains(tex, "stereoset.ss"));
  BOOST_TEST(!contains(tex, "crows"));
  BOOST_TEST(cli::cmd_report({dir.string(), "--format", "pdf"}, g) == 2);
  BOOST_TEST(cli::cmd_report({dir.string(), "--step-var", "nope"}, g) == 2);
  BOOST_TEST(cli::cmd_report({(dir / "missing").string()}, g) == 2);
  // --step-var none: no step plots, a note instead; the size axis still works.
  BOOST_TEST(cli::cmd_report({dir.string(), "--out", (dir / "nostep").string(), "--step-var", "none", "--format", "md"}, g) == 0);
  BOOST_TEST(contains(slurp(dir / "nostep" / "report.md"), "not drawn: no pretraining-step grid variable"));
}

// Significance marks follow the run's multiple-comparison correction. The mini study has 24
// comparisons (8 cells x overall p 0.0312, gender 0.5, race 0.001). BH: overall rank 16 ->
// 24/16 x 0.0312 = 0.0468 < 0.05 (marked), race 24/8 x 0.001 = 0.003. Holm: overall ranks 9..16
// -> cummax((24 - 9 + 1) x 0.0312) = 0.4992 (no mark), race 24 x 0.001 = 0.024 (marked).
BOOST_AUTO_TEST_CASE(significance_marks_are_corrected_across_the_run) {
  MiniStudy s;
  BOOST_TEST(s.summary.comparisons == 24u);
  BOOST_TEST(s.summary.significant == 16u);
  BOOST_TEST(contains(s.md, "| size=small | frac0.4 | int8 | 53.5000 | [51.5000, 55.5000] | 100 | 1.5000 | "
                            "[0.5000, 2.5000] | 0.0312 | 0.0468 | * |\n"), s.md);
  BOOST_TEST(contains(s.md, "| gender | int8 | 65.5000 | [63.5000, 67.5000] | 100 | pretrain | 1.5000 | "
                            "[0.5000, 2.5000] | 0.5000 | 0.5000 |  |\n"));
  BOOST_TEST(contains(s.md, "| race | int8 | 55.5000 | [53.5000, 57.5000] | 100 | pretrain | 1.5000 | "
                            "[0.5000, 2.5000] | 0.0010 | 0.0030 | * |\n"));
  BOOST_TEST(contains(s.md, "- **significance**: paired permutation p-values adjusted by Benjamini-Hochberg "
                            "(false discovery rate) across all 24 comparisons of this run"));
  BOOST_TEST(contains(s.md, "(16 of 24)"));
  BOOST_TEST(contains(s.tex, "Benjamini-Hochberg (false discovery rate) across the run's 24 comparisons, adjusted p < 0.05"));
  // No noise-floor fields in these rows: the tables keep their older columns.
  BOOST_TEST(!contains(s.md, "floor flips"));

  report::ReportOptions o;
  o.run_dir = s.dir;
  o.out_dir = s.dir / "holm";
  o.formats = report::parse_formats("md,latex");
  o.correction = report::Correction::holm;
  const auto holm = report::write_report(o);
  BOOST_TEST(holm.significant == 8u);
  const std::string md = slurp(o.out_dir / "report.md"), tex = slurp(o.out_dir / "tables.tex");
  BOOST_TEST(contains(md, "| 100 | 1.5000 | [0.5000, 2.5000] | 0.0312 | 0.4992 |  |\n"), md);
  BOOST_TEST(contains(md, "| p adj. (holm) | sig. |"));
  BOOST_TEST(contains(tex, "size=small & frac0.2 & 50.00 & 51.50 \\\\"), tex);
  BOOST_TEST(contains(tex, " & race & 54.00 & 55.50$^{*}$ \\\\"));
  BOOST_TEST(contains(tex, " & gender & 64.00 & 65.50 \\\\"));
}

// A run whose comparisons carry noise floors (docs/reports.md). BH over 8 comparisons: int8
// overall 0.004 -> 0.016, gender 0.03 -> 0.06, race 0.2 -> 0.2667, religion 0.01 -> 0.0267; nf4
// overall 0.04 -> 0.064, gender 0.6 -> 0.6857, race 0.002 -> 0.016, religion 0.9 -> 0.9 (numpy,
// R's p.adjust formula). Raw p < 0.05 would mark 5; BH marks 3.
BOOST_AUTO_TEST_CASE(noise_floor_next_to_each_comparison) {
  const fs::path dir = test::fresh_dir("floors");
  test::write_noise_floor_study(dir);
  report::ReportOptions o;
  o.run_dir = dir;
  o.formats = report::parse_formats("all");
  o.gnuplot = dir / "no-such-gnuplot";
  const auto summary = report::write_report(o);
  BOOST_TEST(summary.comparisons == 8u);
  BOOST_TEST(summary.significant == 3u);
  BOOST_TEST(summary.below_noise_floor == 4u);
  const std::string md = slurp(dir / "report.md"), html = slurp(dir / "report.html"), tex = slurp(dir / "tables.tex");
  // category | model | value | CI | n | vs base | diff | CI | p | p adj | sig | flips | floor flips | floor diff | exceeds
  BOOST_TEST(contains(md, "| category | model | value | 95% CI | n | vs base | difference | 95% CI (diff) | p | "
                          "p adj. (bh) | sig. | flips | floor flips | floor diff | exceeds floor |"), md);
  BOOST_TEST(contains(md, "| overall | int8 | 60.5000 |  | 200 | fp32 | 0.5000 |  | 0.0040 | 0.0160 | * | 5 | 6 | 0.8000 | NO |\n"));
  BOOST_TEST(contains(md, "| gender | int8 | 62.5000 |  | 200 | fp32 | 0.5000 |  | 0.0300 | 0.0600 |  | 5 | 6 | 0.8000 | NO |\n"));
  BOOST_TEST(contains(md, "| overall | nf4 | 63.0000 |  | 200 | fp32 | 3.0000 |  | 0.0400 | 0.0640 |  | 20 | 6 | 0.8000 | yes |\n"));
  BOOST_TEST(contains(md, "| race | nf4 | 61.0000 |  | 200 | fp32 | 3.0000 |  | 0.0020 | 0.0160 | * | 20 | 6 | 0.8000 | yes |\n"));
  // The base model has no comparison of its own: its floor cells stay empty.
  BOOST_TEST(contains(md, "| overall | fp32 | 60.0000 |  | 200 |  |  |  |  |  |  |  |  |  |  |\n"));
  // The floors themselves (base model against itself), with how they were computed.
  BOOST_TEST(contains(md, "|  |  | fp32 | religion | 0.8000 | 6 | 0.0120 | 0.7000 | 200 | batch_size 7, threads 2 |\n"));
  // The summary says which comparisons do not exceed their floor.
  BOOST_TEST(contains(md, "- **noise floor**: 4 of 8 comparisons exceed the noise floor of their base model"));
  BOOST_TEST(contains(md, "> **Warning:** 4 comparisons do not exceed the noise floor (what computation alone "
                          "changes): int8 vs fp32, crows_pairs.metric_score overall; int8 vs fp32, "
                          "crows_pairs.metric_score gender; int8 vs fp32, crows_pairs.metric_score race; int8 vs "
                          "fp32, crows_pairs.metric_score religion."));
  BOOST_TEST(contains(md, "4 of 8 comparisons of this metric do not exceed their noise floor"));
  BOOST_TEST(contains(html, "<td>NO</td>"));
  BOOST_TEST(contains(html, "4 comparisons do not exceed the noise floor"));
  // LaTeX: * after BH, dagger where the difference is within the floor.
  BOOST_TEST(contains(tex, "all & overall & 60.00 & 60.50$^{*,\\dagger}$ & 63.00 \\\\"), tex);
  BOOST_TEST(contains(tex, " & gender & 62.00 & 62.50$^{\\dagger}$ & 65.00 \\\\"));
  BOOST_TEST(contains(tex, " & race & 58.00 & 58.50$^{\\dagger}$ & 61.00$^{*}$ \\\\"));
  BOOST_TEST(contains(tex, " & religion & 65.00 & 65.50$^{*,\\dagger}$ & 68.00 \\\\"));
  // The floor rows are not scores: no "fp32" duplicate model, no section of their own.
  BOOST_TEST(!contains(md, "## crows_pairs.metric_score.noise_floor"));
}

// Rows from before noise floors (no noise_floor fields, no floor rows) still render, without the columns.
BOOST_AUTO_TEST_CASE(comparisons_without_noise_floor_render) {
  const fs::path dir = test::fresh_dir("no-floors");
  test::write_noise_floor_study(dir, false);
  report::ReportOptions o;
  o.run_dir = dir;
  o.formats = report::parse_formats("md");
  const auto summary = report::write_report(o);
  BOOST_TEST(summary.below_noise_floor == 0u);
  const std::string md = slurp(dir / "report.md");
  BOOST_TEST(contains(md, "| overall | int8 | 60.5000 |  | 200 | fp32 | 0.5000 |  | 0.0040 | 0.0160 | * |\n"), md);
  BOOST_TEST(!contains(md, "floor flips"));
  BOOST_TEST(!contains(md, "noise floor"));
}

// The header says which nodes ran without their data (provenance.json, written by `biaslab run`).
BOOST_AUTO_TEST_CASE(header_names_nodes_that_ran_without_data) {
  MiniStudy s;
  BOOST_TEST(contains(s.md, "- **missing data**: not recorded (no provenance.json"), s.md);
  BOOST_TEST(!contains(s.md, "ran without data"));
  std::ofstream(s.dir / "provenance.json")
      << R"({"extra": {"missing_data": {"crows": ["crows_pairs/crows_pairs_anonymized.csv"],
                                       "stereoset": ["stereoset/dev.json", "stereoset/test.json"]}}})";
  report::ReportOptions o;
  o.run_dir = s.dir;
  o.formats = report::parse_formats("html,md");
  o.gnuplot = s.dir / "no-such-gnuplot";
  report::write_report(o);
  const std::string md = slurp(s.dir / "report.md"), html = slurp(s.dir / "report.html");
  const std::string line = "2 nodes ran without data: crows (crows_pairs/crows_pairs_anonymized.csv), stereoset "
                           "(stereoset/dev.json, stereoset/test.json)";
  BOOST_TEST(contains(md, "- **missing data**: " + line + "\n"), md);
  BOOST_TEST(contains(md, "> **Warning:** " + line + ". Their benchmarks were skipped"));
  BOOST_TEST(contains(html, "<p class=\"warning\"><strong>Warning:</strong> " + line));
  std::ofstream(s.dir / "provenance.json") << R"({"extra": {"missing_data": {}}})";
  report::write_report(o);
  BOOST_TEST(contains(slurp(s.dir / "report.md"), "- **missing data**: none: every node had its data\n"));
}

BOOST_AUTO_TEST_CASE(cli_correction_and_alpha) {
  const fs::path dir = test::fresh_dir("cli-correction");
  test::write_noise_floor_study(dir);
  cli::GlobalOptions g;
  BOOST_TEST(cli::cmd_report({dir.string(), "--format", "md", "--correction", "none", "--alpha", "0.035"}, g) == 0);
  // Raw p-values at alpha 0.035: int8 overall 0.004, gender 0.03, religion 0.01 and nf4 race 0.002.
  const std::string md = slurp(dir / "report.md");
  BOOST_TEST(contains(md, "| gender | int8 | 62.5000 |  | 200 | fp32 | 0.5000 |  | 0.0300 | 0.0300 | * |"), md);
  BOOST_TEST(contains(md, "| overall | nf4 | 63.0000 |  | 200 | fp32 | 3.0000 |  | 0.0400 | 0.0400 |  |"));
  BOOST_TEST(contains(md, "without multiple-comparison correction (8 comparisons in this run); * marks p < 0.0350 (4 of 8)"));
  BOOST_TEST(cli::cmd_report({dir.string(), "--correction", "sidak"}, g) == 2);
  BOOST_TEST(cli::cmd_report({dir.string(), "--alpha", "1.5"}, g) == 2);
  BOOST_TEST(cli::cmd_report({dir.string(), "--alpha", "0"}, g) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
