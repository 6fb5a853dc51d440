#include <boost/test/unit_test.hpp>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "results_test_util.hpp"

using namespace biaslab::results;
using namespace biaslab::results::test;
namespace fs = std::filesystem;

namespace {

struct CliResult {
  int rc;
  std::string out;
  std::string err;
};

// Runs cmd_results in-process with std::cout/std::cerr captured.
CliResult run_results(const std::vector<std::string>& args,
                      const biaslab::cli::GlobalOptions& g = {}) {
  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  int rc = -1;
  try {
    rc = biaslab::cli::cmd_results(args, g);
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return {rc, out.str(), err.str()};
}

struct SmallRun {
  TempDir dir;
  SmallRun() {
    ResultsDatabase db(database_path(dir.path()));
    fill_small_db(db);
  }
  std::string path() const { return dir.path().string(); }
};

const std::string kExpectedTable =
    "size  step  node   model   metric                    category        value  95% CI             n\n"
    "----  ----  -----  ------  ------------------------  ----------  ---------  ----------------  --\n"
    "70m   1000  crows  pythia  crows_pairs.metric_score  overall        0.5625  [0.5000, 0.6250]  16\n"
    "70m   1000  crows  pythia  crows_pairs.metric_score  race-color     0.6000                     5\n"
    "70m   1000  quant  quant   bytes                     overall     123456789\n"
    "160m  1000  crows  pythia  crows_pairs.metric_score  overall        0.4375  [0.3750, 0.5000]  16\n"
    "160m  1000  quant  quant   ppl                       overall           NaN\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(cmd_results)

BOOST_AUTO_TEST_CASE(default_output_is_the_aligned_table) {
  SmallRun run;
  const auto r = run_results({run.path()});
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(r.err.empty());
  BOOST_TEST(r.out == kExpectedTable);
  // The run directory may come from the global --run-dir, or name the .sqlite file itself.
  biaslab::cli::GlobalOptions g;
  g.run_dir = run.dir.path();
  BOOST_TEST(run_results({}, g).out == kExpectedTable);
  BOOST_TEST(run_results({(run.dir.path() / "results.sqlite").string()}).out == kExpectedTable);
}

BOOST_AUTO_TEST_CASE(filters_and_formats) {
  SmallRun run;
  const auto csv = run_results({run.path(), "--format", "csv", "--metric", "b*"});
  BOOST_TEST(csv.rc == 0);
  BOOST_TEST(csv.out ==
             "cell,grid.size,grid.step,node,plugin,model,metric,category,value,ci_low,ci_high,n,extra\n"
             "0,70m,1000,quant,compress.rtn,quant,bytes,overall,123456789,,,,{}\n");
  const auto table = run_results({run.path(), "--node", "quant", "-m", "ppl"});
  BOOST_TEST(table.out ==
             "size  step  node   model  metric  category  value  95% CI  n\n"
             "----  ----  -----  -----  ------  --------  -----  ------  -\n"
             "160m  1000  quant  quant  ppl     overall     NaN\n");
  const auto json = run_results({run.path(), "-f", "json", "--node", "crows"});
  BOOST_TEST(json.rc == 0);
  const auto j = nlohmann::json::parse(json.out);
  BOOST_REQUIRE(j.size() == 3u);
  BOOST_TEST(j[2]["grid.size"] == "160m");
  BOOST_TEST(j[2]["ci_low"].get<double>() == 0.375);
  const auto md = run_results({run.path(), "--format", "md", "--metric", "bytes"});
  BOOST_TEST(md.out ==
             "| size | step | node  | model | metric | category |     value | 95% CI |   n |\n"
             "| ---- | ---: | ----- | ----- | ------ | -------- | --------: | ------ | --: |\n"
             "| 70m  | 1000 | quant | quant | bytes  | overall  | 123456789 |        |     |\n");
  const auto ex = run_results({run.path(), "--examples", "--format", "csv"});
  BOOST_TEST(ex.out.starts_with("cell,grid.size,grid.step,node,plugin,model,metric,example_id,values\n"));
  BOOST_TEST(std::count(ex.out.begin(), ex.out.end(), '\n') == 3);
  BOOST_TEST(run_results({run.path(), "--metric", "nothing*"}).out == "no results\n");
}

BOOST_AUTO_TEST_CASE(errors_name_the_path_and_exit_2) {
  TempDir dir;
  const fs::path missing = dir.path() / "no-such-run";
  auto r = run_results({missing.string()});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err == "biaslab results: run directory " + missing.string() + " does not exist\n");

  r = run_results({dir.path().string()});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err == "biaslab results: no results database in " + dir.path().string() +
                          " (expected " + (dir.path() / "results.sqlite").string() + ")\n");

  r = run_results({});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.starts_with("biaslab results: no run directory given\n"));

  SmallRun run;
  r = run_results({run.path(), "--format", "xlsx"});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.starts_with("biaslab results: unknown format 'xlsx' (expected table, csv, json or md)\n"));
  r = run_results({run.path(), "--bogus"});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.find("bogus") != std::string::npos);

  { std::ofstream(dir.path() / "results.sqlite") << "garbage garbage garbage garbage garbage garbage"; }
  r = run_results({dir.path().string()});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.find((dir.path() / "results.sqlite").string()) != std::string::npos);
  BOOST_TEST(r.err.find("file is not a database") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_exits_0) {
  const auto r = run_results({"--help"});
  BOOST_TEST(r.rc == 0);
  BOOST_TEST(r.out.find("usage: biaslab results [RUN_DIR] [options]") != std::string::npos);
  BOOST_TEST(r.out.find("--metric") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
