#include <sqlite3.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <thread>

#include "results_test_util.hpp"

using namespace biaslab::results;
using namespace biaslab::results::test;
using biaslab::ExampleRow;
using biaslab::ResultRow;
namespace fs = std::filesystem;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Raw SQL on the file, bypassing ResultsDatabase.
std::string sql_scalar(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK,
                        sqlite3_errmsg(db));
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void sql_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  BOOST_REQUIRE_MESSAGE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK,
                        (err ? err : ""));
  sqlite3_close(db);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(results_db)

BOOST_AUTO_TEST_CASE(stores_and_reads_back_rows_in_deterministic_order) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  BOOST_TEST(db.path() == dir.path() / "results.sqlite");
  fill_small_db(db);

  const auto rows = db.results();
  BOOST_REQUIRE(rows.size() == 5u);
  // cell 0: crows (two rows in emission order), quant; cell 1: crows, quant.
  BOOST_TEST(rows[0].cell_index == 0u);
  BOOST_TEST(rows[0].node == "crows");
  BOOST_TEST(rows[0].plugin == "metric.crows_pairs");
  BOOST_TEST(rows[0].grid == (nlohmann::json{{"size", "70m"}, {"step", 1000}}));
  BOOST_TEST(rows[0].row.category == "overall");
  BOOST_TEST(rows[0].row.value == 0.5625);
  BOOST_TEST(*rows[0].row.ci_low == 0.5);
  BOOST_TEST(*rows[0].row.ci_high == 0.625);
  BOOST_TEST(*rows[0].row.n == 16);
  BOOST_TEST(rows[1].row.category == "race-color");
  BOOST_TEST(!rows[1].row.ci_low.has_value());
  BOOST_TEST(*rows[1].row.n == 5);
  BOOST_TEST(rows[2].node == "quant");
  BOOST_TEST(rows[2].row.metric == "bytes");
  BOOST_TEST(rows[2].row.value == 123456789.0);
  BOOST_TEST(!rows[2].row.n.has_value());
  BOOST_TEST(rows[3].cell_index == 1u);
  BOOST_TEST(rows[3].row.extra == (nlohmann::json{{"note", "a, \"b\""}}));
  BOOST_TEST(rows[4].row.metric == "ppl");
  BOOST_TEST(std::isnan(rows[4].row.value));  // NaN survives (stored as NULL)

  const auto ex = db.examples();
  BOOST_REQUIRE(ex.size() == 2u);
  BOOST_TEST(ex[0].row.example_id == "0");
  BOOST_TEST(ex[1].row.values == (nlohmann::json{{"sent_more", -3.0}, {"sent_less", -2.5}}));

  const auto cells = db.cells();
  BOOST_REQUIRE(cells.size() == 2u);
  BOOST_TEST(cells[1].grid == (nlohmann::json{{"size", "160m"}, {"step", 1000}}));

  const auto nodes = db.nodes();
  BOOST_REQUIRE(nodes.size() == 4u);
  BOOST_TEST(nodes[0].record.node == "crows");
  BOOST_TEST(nodes[0].record.plugin_version == "1.0.0");
  BOOST_TEST(nodes[0].record.cache_key == "key-crows");
  BOOST_TEST(nodes[0].record.seconds == 1.5);
  BOOST_TEST(nodes[0].run_id == "run-1");
  BOOST_TEST(nodes[0].recorded_at.size() == 20u);  // 2024-05-01T12:00:00Z

  const auto runs = db.runs();
  BOOST_REQUIRE(runs.size() == 1u);
  BOOST_TEST(runs[0].pipeline_name == "demo");
  BOOST_TEST(runs[0].pipeline_hash == "abc123");
  BOOST_TEST(runs[0].status == RunStatus::ok);
  BOOST_TEST(runs[0].finished_at == "2024-05-01T12:30:00Z");
  BOOST_TEST(runs[0].grid_variables == (std::vector<std::string>{"size", "step"}));
}

BOOST_AUTO_TEST_CASE(data_persists_in_wal_mode_with_declared_schema) {
  TempDir dir;
  const fs::path file = database_path(dir.path());
  {
    ResultsDatabase db(file);
    fill_small_db(db);
  }
  BOOST_TEST(sql_scalar(file, "PRAGMA journal_mode") == "wal");
  BOOST_TEST(sql_scalar(file, "SELECT version FROM schema_version") == "1");
  BOOST_TEST(sql_scalar(file, "SELECT count(*) FROM results_view") == "5");
  BOOST_TEST(sql_scalar(file, "SELECT json_extract(grid, '$.size') FROM results_view "
                              "WHERE metric = 'ppl'") == "160m");
  ResultsDatabase again(file, ResultsDatabase::Mode::read_only);
  BOOST_TEST(again.results().size() == 5u);
  BOOST_TEST(again.examples().size() == 2u);
}

BOOST_AUTO_TEST_CASE(re_recording_a_node_replaces_its_rows) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  // A resumed run reports cell 0's crows node again, now cached and with one row.
  RunRecord resumed;
  resumed.run_id = "run-2";
  resumed.pipeline_name = "demo";
  resumed.pipeline_hash = "abc123";
  resumed.started_at = "2024-05-02T08:00:00Z";
  db.begin_run(resumed);
  std::vector<ResultRow> again = {row("pythia", "crows_pairs.metric_score", "overall", 0.5625, 0.5, 0.625, 16)};
  std::vector<ExampleRow> ex = {{"pythia", "crows_pairs.metric_score", "0", {{"sent_more", -1.5}}}};
  db.record_node(0, node("crows", "metric.crows_pairs", "1.0.0", NodeStatus::cached, 0.0), again, ex);
  db.record_node(0, node("crows", "metric.crows_pairs", "1.0.0", NodeStatus::cached, 0.0), again, ex);

  BOOST_TEST(db.results().size() == 4u);  // 2 crows rows of cell 0 became 1
  BOOST_TEST(db.results({"crows_pairs.*", "crows"}).size() == 2u);
  BOOST_TEST(db.examples().size() == 1u);
  const auto nodes = db.nodes();
  BOOST_REQUIRE(nodes.size() == 4u);
  BOOST_TEST(nodes[0].record.status == NodeStatus::cached);
  BOOST_TEST(nodes[0].run_id == "run-2");
  BOOST_TEST(nodes[1].run_id == "run-1");  // quant of cell 0 untouched

  // A failed re-run leaves the node with no rows at all.
  auto failed = node("quant", "compress.rtn", "0.2.0", NodeStatus::failed, 2.0);
  failed.error = "out of memory";
  db.record_node(0, failed);
  BOOST_TEST(db.results({"", "quant"}).size() == 1u);  // only cell 1's ppl row
  BOOST_TEST(db.nodes()[1].record.error == "out of memory");
  BOOST_TEST(db.runs().size() == 2u);
  BOOST_TEST(db.runs()[1].status == RunStatus::running);
}

BOOST_AUTO_TEST_CASE(filters_select_by_metric_glob_and_node) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  BOOST_TEST(db.results({"crows_pairs.*", ""}).size() == 3u);
  BOOST_TEST(db.results({"b?tes", ""}).size() == 1u);
  BOOST_TEST(db.results({"CROWS*", ""}).size() == 0u);  // case-sensitive
  BOOST_TEST(db.results({"", "quant"}).size() == 2u);
  BOOST_TEST(db.results({"ppl", "quant"}).size() == 1u);
  BOOST_TEST(db.results({"", "nope"}).size() == 0u);
  BOOST_TEST(db.examples({"", "quant"}).size() == 0u);
  BOOST_TEST(db.examples({"crows_pairs.metric_score", "crows"}).size() == 2u);
}

BOOST_AUTO_TEST_CASE(duplicate_result_key_is_refused_and_changes_nothing) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  fill_small_db(db);
  std::vector<ResultRow> dup = {row("pythia", "m", "overall", 1), row("pythia", "m", "overall", 2)};
  const std::string msg = message_of([&] { db.record_node(0, node("crows", "p", "1"), dup); });
  BOOST_TEST(contains(msg, "node 'crows' in cell 0 reported result (model 'pythia', metric 'm', "
                           "category 'overall') twice"));
  BOOST_TEST(db.results({"", "crows"}).size() == 3u);  // the old rows are still there
  BOOST_TEST(db.nodes()[0].record.plugin == "metric.crows_pairs");
}

BOOST_AUTO_TEST_CASE(cells_must_be_registered_and_keep_their_grid) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  db.upsert_cell(3, {{"size", "70m"}});
  db.upsert_cell(3, {{"size", "70m"}});  // same grid: no-op
  BOOST_TEST(db.cells().size() == 1u);
  const std::string clash = message_of([&] { db.upsert_cell(3, {{"size", "1b"}}); });
  BOOST_TEST(contains(clash, "cell 3 is recorded with grid {\"size\":\"70m\"}, not {\"size\":\"1b\"}"));
  const std::string missing = message_of([&] { db.record_node(4, node("crows", "p", "1")); });
  BOOST_TEST(contains(missing, "node 'crows' reported for cell 4, which was never registered"));
  BOOST_CHECK_THROW(db.upsert_cell(5, nlohmann::json::array()), std::invalid_argument);
  const std::string finish = message_of([&] { db.finish_run("ghost", RunStatus::ok, "t"); });
  BOOST_TEST(contains(finish, "no run 'ghost' to finish"));
}

BOOST_AUTO_TEST_CASE(grid_columns_follow_declared_order_then_sorted_extras) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  RunRecord run;
  run.run_id = "r";
  run.pipeline_name = "p";
  run.pipeline_hash = "h";
  run.started_at = "2024-01-01T00:00:00Z";
  run.grid_variables = {"step", "quant", "size"};
  db.begin_run(run);
  db.upsert_cell(0, {{"size", "70m"}, {"step", 1}, {"quant", {{"bits", 4}, {"method", "rtn"}}}});
  db.upsert_cell(1, {{"size", "70m"}, {"step", 2}, {"zeta", true}, {"alpha", 0.5}});
  BOOST_TEST(db.grid_columns() == (std::vector<std::string>{"step", "quant.bits", "quant.method",
                                                            "size", "alpha", "zeta"}));
}

BOOST_AUTO_TEST_CASE(schema_version_mismatch_is_refused_with_a_clear_message) {
  TempDir dir;
  const fs::path file = database_path(dir.path());
  { ResultsDatabase db(file); }
  sql_exec(file, "UPDATE schema_version SET version = 7");
  for (auto mode : {ResultsDatabase::Mode::read_write, ResultsDatabase::Mode::read_only}) {
    try {
      ResultsDatabase db(file, mode);
      BOOST_FAIL("expected SchemaVersionError");
    } catch (const SchemaVersionError& e) {
      BOOST_TEST(e.found() == 7);
      BOOST_TEST(std::string(e.what()) ==
                 "results database " + file.string() +
                     " has schema version 7, but this biaslab reads schema version 1: use the "
                     "biaslab version that wrote it, or run the pipeline into a new run directory");
    }
  }
}

BOOST_AUTO_TEST_CASE(files_that_are_not_results_databases_are_refused) {
  TempDir dir;
  const fs::path missing = dir.path() / "missing.sqlite";
  BOOST_TEST(message_of([&] { ResultsDatabase db(missing, ResultsDatabase::Mode::read_only); }) ==
             "no results database at " + missing.string());
  BOOST_TEST(!fs::exists(missing));

  const fs::path text = dir.path() / "notes.sqlite";
  { std::ofstream(text) << "this is not a database, just some text that is long enough......."; }
  const std::string not_db = message_of([&] { ResultsDatabase db(text); });
  BOOST_TEST(contains(not_db, text.string()));
  BOOST_TEST(contains(not_db, "file is not a database"));

  const fs::path foreign = dir.path() / "foreign.sqlite";
  sql_exec(foreign, "CREATE TABLE t (x INTEGER)");
  BOOST_TEST(message_of([&] { ResultsDatabase db(foreign); }) ==
             foreign.string() + " is not a biaslab results database (no schema_version table)");

  const fs::path empty = dir.path() / "empty.sqlite";
  sql_exec(empty, "CREATE TABLE t (x INTEGER); DROP TABLE t");
  BOOST_TEST(message_of([&] { ResultsDatabase db(empty, ResultsDatabase::Mode::read_only); }) ==
             "results database " + empty.string() + " is empty (no biaslab results schema)");
}

BOOST_AUTO_TEST_CASE(concurrent_writers_from_threads_lose_and_duplicate_nothing) {
  TempDir dir;
  ResultsDatabase db(database_path(dir.path()));
  constexpr int kThreads = 8, kCellsPerThread = 12, kNodes = 3, kRows = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&db, t] {
      for (int c = 0; c < kCellsPerThread; ++c) {
        const int cell = t * kCellsPerThread + c;
        db.upsert_cell(cell, {{"cell", cell}});
        for (int n = 0; n < kNodes; ++n) {
          std::vector<ResultRow> rows;
          for (int r = 0; r < kRows; ++r)
            rows.push_back(row("m", "metric" + std::to_string(r), "overall", cell * 100 + n * 10 + r));
          std::vector<ExampleRow> ex = {{"m", "metric0", "e", {{"cell", cell}}}};
          const auto rec = node("node" + std::to_string(n), "p", "1");
          db.record_node(cell, rec, rows, ex);
          db.record_node(cell, rec, rows, ex);  // resumed-run style duplicate report
        }
        (void)db.results({"metric0", "node0"});  // readers interleave with writers
      }
    });
  }
  for (auto& th : threads) th.join();

  const auto rows = db.results();
  BOOST_REQUIRE(rows.size() == static_cast<std::size_t>(kThreads * kCellsPerThread * kNodes * kRows));
  std::size_t i = 0;
  for (int cell = 0; cell < kThreads * kCellsPerThread; ++cell)
    for (int n = 0; n < kNodes; ++n)
      for (int r = 0; r < kRows; ++r, ++i) {
        BOOST_TEST_REQUIRE(rows[i].cell_index == static_cast<std::size_t>(cell));
        BOOST_TEST_REQUIRE(rows[i].node == "node" + std::to_string(n));
        BOOST_TEST_REQUIRE(rows[i].row.value == cell * 100 + n * 10 + r);
      }
  BOOST_TEST(db.examples().size() == static_cast<std::size_t>(kThreads * kCellsPerThread * kNodes));
  BOOST_TEST(db.nodes().size() == static_cast<std::size_t>(kThreads * kCellsPerThread * kNodes));
}

BOOST_AUTO_TEST_SUITE_END()
