// `biaslab results RUN_DIR`: prints a run's results database as an aligned table, CSV, JSON or
// Markdown, optionally filtered by metric glob and node, or its per-example scores.
#include <filesystem>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "biaslab/results_db.hpp"
#include "biaslab/results_export.hpp"
#include "cli/command_line.hpp"
#include "cli/commands.hpp"

namespace biaslab::cli {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

constexpr const char* kUsage = "usage: biaslab results [RUN_DIR] [options]";

int usage_error(const std::string& msg) {
  std::cerr << "biaslab results: " << msg << "\n" << kUsage << " (see --help)\n";
  return 2;
}

}  // namespace

int cmd_results(const Args& args, const GlobalOptions& g) {
  std::string format_name = "table";
  std::string run_dir_arg;
  results::ResultFilter filter;
  bool examples = false;

  po::options_description visible(
      std::string(kUsage) +
      "\n\nPrints the results database of a run (RUN_DIR/results.sqlite; RUN_DIR defaults to "
      "--run-dir). RUN_DIR may also name a .sqlite file.\n\nOptions");
  visible.add_options()
      ("help,h", "show this help")
      ("format,f", po::value(&format_name)->value_name("FMT")->default_value("table"),
       "table (aligned, rounded), csv, json (exact values) or md (Markdown table)")
      ("metric,m", po::value(&filter.metric_glob)->value_name("GLOB"),
       "only metrics matching this case-sensitive glob, e.g. 'crows_pairs.*'")
      ("node,n", po::value(&filter.node)->value_name("NAME"), "only rows of this pipeline node")
      ("examples", po::bool_switch(&examples), "show per-example scores instead of results");
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

  results::Format format;
  try {
    format = results::format_from_string(format_name);
  } catch (const std::invalid_argument& e) {
    return usage_error(e.what());
  }

  const fs::path target = run_dir_arg.empty() ? g.run_dir : fs::path(run_dir_arg);
  if (target.empty()) return usage_error("no run directory given");
  std::error_code ec;
  if (!fs::exists(target, ec)) {
    std::cerr << "biaslab results: run directory " << target.string() << " does not exist\n";
    return 2;
  }
  const fs::path db_file =
      fs::is_directory(target, ec) ? results::database_path(target) : target;
  if (!fs::exists(db_file, ec)) {
    std::cerr << "biaslab results: no results database in " << target.string() << " (expected "
              << db_file.string() << ")\n";
    return 2;
  }

  try {
    results::ResultsDatabase db(db_file, results::ResultsDatabase::Mode::read_only);
    std::cout << results::render(db, format,
                                 examples ? results::RowKind::examples : results::RowKind::results,
                                 filter);
    std::cout.flush();
  } catch (const results::ResultsDbError& e) {
    std::cerr << "biaslab results: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "biaslab results: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace biaslab::cli
