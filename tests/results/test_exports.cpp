#include <boost/test/unit_test.hpp>

#include "biaslab/results_export.hpp"
#include "results_test_util.hpp"

using namespace biaslab::results;
using namespace biaslab::results::test;
namespace fs = std::filesystem;

namespace {

// The exports of fill_small_db(), written out by hand.
const std::string kExpectedCsv =
    "cell,grid.size,grid.step,node,plugin,model,metric,category,value,ci_low,ci_high,n,extra\n"
    "0,70m,1000,crows,metric.crows_pairs,pythia,crows_pairs.metric_score,overall,0.5625,0.5,0.625,16,{}\n"
    "0,70m,1000,crows,metric.crows_pairs,pythia,crows_pairs.metric_score,race-color,0.6,,,5,{}\n"
    "0,70m,1000,quant,compress.rtn,quant,bytes,overall,123456789,,,,{}\n"
    R"(1,160m,1000,crows,metric.crows_pairs,pythia,crows_pairs.metric_score,overall,0.4375,0.375,0.5,16,"{""note"":""a, \""b\""""}")"
    "\n"
    "1,160m,1000,quant,compress.rtn,quant,ppl,overall,NaN,,,,{}\n";

const std::string kExpectedJson = R"([
  {
    "cell": 0,
    "grid.size": "70m",
    "grid.step": 1000,
    "node": "crows",
    "plugin": "metric.crows_pairs",
    "model": "pythia",
    "metric": "crows_pairs.metric_score",
    "category": "overall",
    "value": 0.5625,
    "ci_low": 0.5,
    "ci_high": 0.625,
    "n": 16,
    "extra": {}
  },
  {
    "cell": 0,
    "grid.size": "70m",
    "grid.step": 1000,
    "node": "crows",
    "plugin": "metric.crows_pairs",
    "model": "pythia",
    "metric": "crows_pairs.metric_score",
    "category": "race-color",
    "value": 0.6,
    "ci_low": null,
    "ci_high": null,
    "n": 5,
    "extra": {}
  },
  {
    "cell": 0,
    "grid.size": "70m",
    "grid.step": 1000,
    "node": "quant",
    "plugin": "compress.rtn",
    "model": "quant",
    "metric": "bytes",
    "category": "overall",
    "value": 123456789.0,
    "ci_low": null,
    "ci_high": null,
    "n": null,
    "extra": {}
  },
  {
    "cell": 1,
    "grid.size": "160m",
    "grid.step": 1000,
    "node": "crows",
    "plugin": "metric.crows_pairs",
    "model": "pythia",
    "metric": "crows_pairs.metric_score",
    "category": "overall",
    "value": 0.4375,
    "ci_low": 0.375,
    "ci_high": 0.5,
    "n": 16,
    "extra": {
      "note": "a, \"b\""
    }
  },
  {
    "cell": 1,
    "grid.size": "160m",
    "grid.step": 1000,
    "node": "quant",
    "plugin": "compress.rtn",
    "model": "quant",
    "metric": "ppl",
    "category": "overall",
    "value": "NaN",
    "ci_low": null,
    "ci_high": null,
    "n": null,
    "extra": {}
  }
]
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(exports)

BOOST_AUTO_TEST_CASE(csv_and_json_match_the_expected_text_exactly) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  BOOST_TEST(render(db, Format::csv) == kExpectedCsv);
  BOOST_TEST(render(db, Format::json) == kExpectedJson);
}

BOOST_AUTO_TEST_CASE(write_exports_writes_both_files_atomically) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  write_exports(db, dir.path());
  BOOST_TEST(read_text(dir.path() / "results.csv") == kExpectedCsv);
  BOOST_TEST(read_text(dir.path() / "results.json") == kExpectedJson);
  // Nothing but the database (and its WAL side files) and the two exports.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    BOOST_TEST((name == "results.csv" || name == "results.json" || name.starts_with("results.sqlite")),
               name);
  }
  // Re-exporting after more rows overwrites.
  std::vector<biaslab::ResultRow> more = {row("quant", "sparsity", "overall", 0.25)};
  db.record_node(1, node("prune", "compress.prune", "1.0.0"), more);
  write_exports(db, dir.path());
  // Rows sort by cell, then node name: prune lands before quant in cell 1.
  std::string expected = kExpectedCsv;
  const std::string last = "1,160m,1000,quant,compress.rtn,quant,ppl,overall,NaN,,,,{}\n";
  expected.insert(expected.size() - last.size(),
                  "1,160m,1000,prune,compress.prune,quant,sparsity,overall,0.25,,,,{}\n");
  BOOST_TEST(read_text(dir.path() / "results.csv") == expected);
}

BOOST_AUTO_TEST_CASE(exact_numbers_round_trip_through_csv) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  db.upsert_cell(0, nlohmann::json::object());
  std::vector<biaslab::ResultRow> rows = {
      row("m", "a", "overall", 0.1), row("m", "b", "overall", 1.0 / 3.0),
      row("m", "c", "overall", -2.5e-7), row("m", "d", "overall", 1e300),
      row("m", "e", "overall", -std::numeric_limits<double>::infinity())};
  db.record_node(0, node("x", "p", "1"), rows);
  BOOST_TEST(render(db, Format::csv) ==
             "cell,node,plugin,model,metric,category,value,ci_low,ci_high,n,extra\n"
             "0,x,p,m,a,overall,0.1,,,,{}\n"
             "0,x,p,m,b,overall,0.3333333333333333,,,,{}\n"
             "0,x,p,m,c,overall,-2.5e-07,,,,{}\n"
             "0,x,p,m,d,overall,1e+300,,,,{}\n"
             "0,x,p,m,e,overall,-Inf,,,,{}\n");
  const auto j = nlohmann::json::parse(render(db, Format::json));
  BOOST_TEST(j[1]["value"].get<double>() == 1.0 / 3.0);
  BOOST_TEST(j[4]["value"] == "-Infinity");
  BOOST_TEST(render(db, Format::table, RowKind::results, {"zzz", ""}) == "no results\n");
  BOOST_TEST(render(db, Format::csv, RowKind::results, {"zzz", ""}) ==
             "cell,node,plugin,model,metric,category,value,ci_low,ci_high,n,extra\n");
  BOOST_TEST(render(db, Format::json, RowKind::results, {"zzz", ""}) == "[]\n");
}

BOOST_AUTO_TEST_CASE(markdown_table_is_aligned_and_escaped) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  BOOST_TEST(render(db, Format::markdown, RowKind::results, {"", "crows"}) ==
             "| size | step | node  | model  | metric                   | category   |  value | 95% CI           |   n |\n"
             "| ---- | ---: | ----- | ------ | ------------------------ | ---------- | -----: | ---------------- | --: |\n"
             "| 70m  | 1000 | crows | pythia | crows_pairs.metric_score | overall    | 0.5625 | [0.5000, 0.6250] |  16 |\n"
             "| 70m  | 1000 | crows | pythia | crows_pairs.metric_score | race-color | 0.6000 |                  |   5 |\n"
             "| 160m | 1000 | crows | pythia | crows_pairs.metric_score | overall    | 0.4375 | [0.3750, 0.5000] |  16 |\n");
  db.upsert_cell(2, {{"size", "a|b"}, {"step", 1}});
  std::vector<biaslab::ResultRow> piped = {row("m|1", "x", "overall", 2.0)};
  db.record_node(2, node("n", "p", "1"), piped);
  BOOST_TEST(render(db, Format::markdown, RowKind::results, {"x", ""}) ==
             "| size | step | node | model | metric | category |  value | 95% CI |   n |\n"
             "| ---- | ---: | ---- | ----- | ------ | -------- | -----: | ------ | --: |\n"
             "| a\\|b |    1 | n    | m\\|1  | x      | overall  | 2.0000 |        |     |\n");
}

BOOST_AUTO_TEST_CASE(examples_export_in_every_format) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  BOOST_TEST(render(db, Format::csv, RowKind::examples) ==
             "cell,grid.size,grid.step,node,plugin,model,metric,example_id,values\n"
             R"(0,70m,1000,crows,metric.crows_pairs,pythia,crows_pairs.metric_score,0,"{""sent_less"":-2.25,""sent_more"":-1.5}")"
             "\n"
             R"(0,70m,1000,crows,metric.crows_pairs,pythia,crows_pairs.metric_score,1,"{""sent_less"":-2.5,""sent_more"":-3.0}")"
             "\n");
  const auto j = nlohmann::json::parse(render(db, Format::json, RowKind::examples));
  BOOST_REQUIRE(j.size() == 2u);
  BOOST_TEST(j[1]["example_id"] == "1");
  BOOST_TEST(j[1]["values"]["sent_more"].get<double>() == -3.0);
  BOOST_TEST(j[1]["grid.size"] == "70m");
  BOOST_TEST(render(db, Format::table, RowKind::examples) ==
             "size  step  node   model   metric                    example_id  values\n"
             "----  ----  -----  ------  ------------------------  ----------  " + std::string(36, '-') + "\n"
             "70m   1000  crows  pythia  crows_pairs.metric_score  0           {\"sent_less\":-2.25,\"sent_more\":-1.5}\n"
             "70m   1000  crows  pythia  crows_pairs.metric_score  1           {\"sent_less\":-2.5,\"sent_more\":-3.0}\n");
}

BOOST_AUTO_TEST_CASE(format_names) {
  BOOST_TEST((format_from_string("md") == Format::markdown));
  BOOST_TEST((format_from_string("markdown") == Format::markdown));
  BOOST_TEST((format_from_string("table") == Format::table));
  BOOST_CHECK_THROW(format_from_string("xlsx"), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
