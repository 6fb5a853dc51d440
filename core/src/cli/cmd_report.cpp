// `biaslab report RUN_DIR`: writes report.html (inline SVG plots by gnuplot), report.md and,
// with --format latex|all, tables.tex. docs/reports.md describes the contents.
#include <filesystem>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "cli/command_line.hpp"
#include "cli/commands.hpp"

namespace biaslab::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

constexpr const char* kUsage = "usage: biaslab report [RUN_DIR] [options]";

int usage_error(const std::string& msg) {
  std::cerr << "biaslab report: " << msg << "\n" << kUsage << " (see --help)\n";
  return 2;
}

}  // namespace

int cmd_report(const Args& args, const GlobalOptions& g) {
  std::string format_name, run_dir_arg, out_dir, gnuplot, correction;
  report::ReportOptions options;

  po::options_description visible(
      std::string(kUsage) +
      "\n\nWrites a study report from RUN_DIR/results.sqlite (RUN_DIR defaults to --run-dir): "
      "report.html (self-contained, plots drawn by gnuplot as inline SVG) and report.md; "
      "tables.tex with --format latex or all. See docs/reports.md.\n\nOptions");
  visible.add_options()
      ("help,h", "show this help")
      ("format,f", po::value(&format_name)->value_name("FMT"),
       "html, md, latex, all, or a comma-separated list (default: html,md)")
      ("out,o", po::value(&out_dir)->value_name("DIR"), "write the files here (default: RUN_DIR)")
      ("step-var", po::value(&options.step_var)->value_name("NAME"),
       "grid variable of the pretraining axis (default: detected; 'none' disables)")
      ("size-var", po::value(&options.size_var)->value_name("NAME"),
       "grid variable of the model-size axis (default: detected; 'none' disables)")
      ("metric,m", po::value(&options.metric_glob)->value_name("GLOB"),
       "bias metrics to show, case-sensitive glob (default: the headline bias metrics)")
      ("gnuplot", po::value(&gnuplot)->value_name("PATH")->default_value("/usr/bin/gnuplot"),
       "gnuplot executable")
      ("correction", po::value(&correction)->value_name("METHOD")->default_value("bh"),
       "multiple-comparison control of the significance marks, across every comparison of the run: "
       "bh (Benjamini-Hochberg false discovery rate), holm, bonferroni or none")
      ("alpha", po::value(&options.alpha)->value_name("A")->default_value(0.05, "0.05"),
       "significance level of the marks: adjusted p < A");
  po::variables_map vm;
  try {
    vm = parse_with_operand(args, visible, "run-dir", run_dir_arg);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << visible << "\n";
    return 0;
  }
  if (!format_name.empty()) {
    try {
      options.formats = report::parse_formats(format_name);
    } catch (const std::invalid_argument& e) {
      return usage_error(e.what());
    }
  }
  try {
    options.correction = report::parse_correction(correction);
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }
  if (!(options.alpha > 0.0 && options.alpha < 1.0)) return usage_error("--alpha must be in (0, 1)");
  options.run_dir = run_dir_arg.empty() ? g.run_dir : fs::path(run_dir_arg);
  if (options.run_dir.empty()) return usage_error("no run directory given");
  options.out_dir = out_dir;
  options.gnuplot = gnuplot;
  std::error_code ec;
  if (!fs::is_directory(options.run_dir, ec)) {
    std::cerr << "biaslab report: run directory " << options.run_dir.string() << " does not exist\n";
    return 2;
  }
  if (!fs::exists(results::database_path(options.run_dir), ec)) {
    std::cerr << "biaslab report: no results database in " << options.run_dir.string() << " (expected "
              << results::database_path(options.run_dir).string() << ")\n";
    return 2;
  }

  try {
    const report::ReportSummary summary = report::write_report(options);
    if (!summary.plots_available && options.formats.html)
      std::cerr << "biaslab report: warning: gnuplot not found at '" << options.gnuplot.string()
                << "'; report.html has no plots\n";
    for (const auto& note : summary.notes) std::cerr << "biaslab report: note: " << note << "\n";
    std::cout << "step axis: " << (summary.step_var.empty() ? "(none)" : summary.step_var)
              << ", size axis: " << (summary.size_var.empty() ? "(none)" : summary.size_var)
              << ", LM score: " << (summary.lm_metric.empty() ? "(none)" : summary.lm_metric)
              << ", plots: " << summary.plots << "\n";
    const bool corrected = options.correction != report::Correction::none;
    std::cout << "significance: " << summary.significant << " of " << summary.comparisons << " comparisons at "
              << (corrected ? "adjusted " : "") << "p < " << options.alpha << " ("
              << (corrected ? std::string(report::describe(options.correction)) : "no multiple-comparison correction")
              << ")";
    if (summary.below_noise_floor) std::cout << "; " << summary.below_noise_floor << " do not exceed their noise floor";
    std::cout << "\n";
    for (const auto& f : summary.written) std::cout << "wrote " << f.string() << "\n";
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  } catch (const results::ResultsDbError& e) {
    std::cerr << "biaslab report: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "biaslab report: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace biaslab::cli
