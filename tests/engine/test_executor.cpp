// Execution: caching, failures, resume, determinism across job counts.
#include <boost/test/unit_test.hpp>

#include "biaslab/data/missing_data.hpp"
#include "biaslab/executor.hpp"
#include "engine_fixture.hpp"

using namespace biaslab;
using namespace biaslab::testing;

namespace {

const char* kPipeline = R"(
[pipeline]
name = "exec"
[grid]
factor = [2.0, 3.0, 4.0]
[nodes.base]
plugin = "test.source"
value = 1.5
[nodes.scaled]
plugin = "test.scale"
input = "base"
factor = "${factor}"
[nodes.score]
plugin = "test.metric"
inputs = ["base", "scaled"]
)";

std::vector<std::string> lines_of(const std::filesystem::path& f) {
  std::vector<std::string> out;
  std::ifstream in(f);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

double value_in(const std::filesystem::path& artifact) {  // test.source / test.scale write value.txt
  std::ifstream in(artifact / "value.txt");
  double v = 0;
  if (!(in >> v)) throw std::runtime_error("no value.txt in " + artifact.string());
  return v;
}

struct LogFixture {
  TempDir tmp;
  std::filesystem::path log = tmp.path / "executions.log";
  LogFixture() { setenv("BIASLAB_TEST_LOG", log.c_str(), 1); }
  ~LogFixture() { unsetenv("BIASLAB_TEST_LOG"); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(executor)

BOOST_FIXTURE_TEST_CASE(runs_then_reuses_cache, LogFixture) {
  Cache cache(tmp.path / "cache");
  Plan p = plan_text(kPipeline, cache);
  RunOutcome first = execute(p, cache, {});
  BOOST_TEST(first.ok());
  BOOST_TEST(first.count(TaskState::ok) == 7u);  // 1 base + 3 scaled + 3 score
  BOOST_TEST(lines_of(log).size() == 7u);
  // The metric saw the value 1.5 (+ seed 0 offset) scaled by 3.
  const Task& score1 = p.tasks[p.cell_tasks[1][2]];
  const auto& rows = first.tasks[p.cell_tasks[1][2]].rows;
  BOOST_REQUIRE_EQUAL(rows.size(), 4u);
  BOOST_TEST(rows[0].model == "base");
  BOOST_TEST(rows[0].value == 1.5);
  BOOST_TEST(rows[2].model == "scaled");
  BOOST_TEST(rows[2].value == 4.5);
  BOOST_TEST(*rows[2].ci_low == 3.5);
  BOOST_TEST(first.tasks[p.cell_tasks[1][2]].examples.size() == 6u);
  BOOST_TEST(std::filesystem::exists(cache.artifact_dir(score1.key)));

  Plan again = plan_text(kPipeline, cache);
  BOOST_TEST(again.tasks_to_run() == 0u);
  RunOutcome second = execute(again, cache, {});
  BOOST_TEST(second.count(TaskState::cached) == 7u);
  BOOST_TEST(lines_of(log).size() == 7u);  // nothing executed again
  BOOST_TEST(second.tasks[again.cell_tasks[1][2]].rows.size() == 4u);
  BOOST_TEST(second.tasks[again.cell_tasks[1][2]].rows[2].value == 4.5);  // replayed from the cache
}

BOOST_FIXTURE_TEST_CASE(force_reruns_node_and_downstream, LogFixture) {
  Cache cache(tmp.path / "cache");
  execute(plan_text(kPipeline, cache), cache, {});
  PlanOptions opts;
  opts.force = {"scaled"};
  Plan p = plan_text(kPipeline, cache, opts);
  BOOST_TEST(p.tasks_to_run() == 6u);  // 3 scaled + 3 score
  BOOST_TEST(p.tasks[p.cell_tasks[0][1]].reason == "forced (--force)");
  BOOST_TEST(p.tasks[p.cell_tasks[0][0]].will_run == false);
}

// A result computed while optional data was missing is redone once the data appears, and so is
// everything downstream (same keys: the cache entries are replaced, not kept).
BOOST_FIXTURE_TEST_CASE(data_that_appears_later_reruns_node_and_downstream, LogFixture) {
  Cache cache(tmp.path / "cache");
  const auto data = tmp.path / "optional-data.txt";
  // kPipeline with the optional data on its base node.
  std::string text = kPipeline;
  text.replace(text.find("value = 1.5\n"), 12, "value = 1.5\ndata_file = \"" + data.string() + "\"\n");

  Plan first = plan_text(text, cache);
  BOOST_TEST(execute(first, cache, {}).ok());
  const auto base_key = first.tasks[first.cell_tasks[0][0]].key;
  BOOST_TEST(value_in(cache.artifact_dir(base_key)) == 1.5);
  BOOST_TEST(data::recorded_missing_data(cache.artifact_dir(base_key)) == std::vector<std::string>{data.string()});
  BOOST_TEST(plan_text(text, cache).tasks_to_run() == 0u);  // still missing: the cache is used

  std::ofstream(data) << "7\n";
  Plan second = plan_text(text, cache);
  BOOST_TEST(second.tasks_to_run() == 7u);
  const Task& base = second.tasks[second.cell_tasks[0][0]];
  BOOST_TEST(base.key == base_key);
  BOOST_TEST(base.reason == "cached result was computed without '" + data.string() + "', now available");
  BOOST_TEST(second.tasks[second.cell_tasks[0][1]].reason == "input 'base' re-runs");
  BOOST_TEST(second.tasks[second.cell_tasks[2][2]].reason == "input 'scaled' re-runs");
  RunOutcome rerun = execute(second, cache, {});
  BOOST_TEST(rerun.ok());
  // The replaced entries hold the new results; the record of missing data is gone.
  BOOST_TEST(value_in(cache.artifact_dir(base_key)) == 7.0);
  BOOST_TEST(data::recorded_missing_data(cache.artifact_dir(base_key)).empty());
  BOOST_TEST(value_in(cache.artifact_dir(second.tasks[second.cell_tasks[1][1]].key)) == 21.0);  // 7 x 3
  BOOST_TEST(rerun.tasks[second.cell_tasks[1][2]].rows[2].value == 21.0);
  BOOST_TEST(cache.rows(second.tasks[second.cell_tasks[1][2]].key)[2].value == 21.0);  // replayed next time
  BOOST_TEST(plan_text(text, cache).tasks_to_run() == 0u);
}

// The engine reads every finished task's missing-data record (so out-of-tree plugins are covered);
// with strict_data (`biaslab run --strict`) such a task fails, whether it ran now or came from the cache.
BOOST_FIXTURE_TEST_CASE(strict_data_fails_fresh_and_cached_results_without_data, LogFixture) {
  Cache cache(tmp.path / "cache");
  const auto data = tmp.path / "absent.txt";
  std::string text = kPipeline;
  text.replace(text.find("value = 1.5\n"), 12, "value = 1.5\ndata_file = \"" + data.string() + "\"\n");

  Plan first = plan_text(text, cache);
  const std::size_t base = first.cell_tasks[0][0];
  RunOutcome lenient = execute(first, cache, {});
  BOOST_TEST(lenient.ok());
  BOOST_TEST(lenient.tasks[base].missing_data == std::vector<std::string>{data.string()});
  BOOST_TEST(lenient.tasks[first.cell_tasks[0][1]].missing_data.empty());  // scaled had all it asked for

  ExecOptions strict;
  strict.strict_data = true;
  Plan cached = plan_text(text, cache);
  BOOST_TEST(cached.tasks_to_run() == 0u);
  RunOutcome from_cache = execute(cached, cache, strict);
  BOOST_TEST(!from_cache.ok());
  BOOST_TEST((from_cache.tasks[base].state == TaskState::failed));
  BOOST_TEST(from_cache.tasks[base].rows.empty());
  const std::string& error = from_cache.tasks[base].error;
  BOOST_TEST(error.find("ran without data (" + data.string() + ") [cached result]") != std::string::npos, error);
  BOOST_TEST(error.find("BIASLAB_DATA_MIRROR") != std::string::npos);
  BOOST_TEST(from_cache.count(TaskState::skipped) == 6u);  // 3 scaled + 3 score depend on it

  PlanOptions force;
  force.force = {"base"};
  RunOutcome fresh = execute(plan_text(text, cache, force), cache, strict);
  BOOST_TEST((fresh.tasks[base].state == TaskState::failed));
  BOOST_TEST(fresh.tasks[base].error.find("ran without data (" + data.string() + "): --strict") != std::string::npos,
             fresh.tasks[base].error);

  std::ofstream(data) << "7\n";  // the data appears: the node re-runs and --strict is satisfied
  RunOutcome complete = execute(plan_text(text, cache), cache, strict);
  BOOST_TEST(complete.ok());
  BOOST_TEST(complete.tasks[base].missing_data.empty());
}

BOOST_FIXTURE_TEST_CASE(failure_skips_dependents_only, LogFixture) {
  Cache cache(tmp.path / "cache");
  Plan p = plan_text(R"(
[pipeline]
name = "fail"
[grid]
fail = [false, true]
[nodes.base]
plugin = "test.source"
[nodes.scaled]
plugin = "test.scale"
input = "base"
fail = "${fail}"
[nodes.score]
plugin = "test.metric"
input = "scaled"
)", cache);
  RunOutcome r = execute(p, cache, {});
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.tasks[p.cell_tasks[0][2]].state == TaskState::ok);
  BOOST_TEST(r.tasks[p.cell_tasks[1][1]].state == TaskState::failed);
  BOOST_TEST(r.tasks[p.cell_tasks[1][1]].error == "asked to fail");
  BOOST_TEST(r.tasks[p.cell_tasks[1][2]].state == TaskState::skipped);
  BOOST_TEST(r.tasks[p.cell_tasks[1][2]].error == "input 'scaled' failed");
  // Nothing of the failed node reached the cache; the rest did.
  BOOST_TEST(!cache.contains(p.tasks[p.cell_tasks[1][1]].key));
  BOOST_TEST(cache.contains(p.tasks[p.cell_tasks[0][2]].key));
  const bool staging_clean = !std::filesystem::exists(cache.root() / "staging") || std::filesystem::is_empty(cache.root() / "staging");
  BOOST_TEST(staging_clean);
}

BOOST_FIXTURE_TEST_CASE(results_do_not_depend_on_job_count, LogFixture) {
  std::vector<std::vector<ResultRow>> by_jobs[2];
  for (int k = 0; k < 2; ++k) {
    Cache cache(tmp.path / ("cache" + std::to_string(k)));
    Plan p = plan_text(kPipeline, cache);
    ExecOptions o;
    o.jobs = k == 0 ? 1 : 4;
    RunOutcome r = execute(p, cache, o);
    BOOST_TEST(r.ok());
    for (const auto& t : r.tasks) by_jobs[k].push_back(t.rows);
  }
  BOOST_REQUIRE_EQUAL(by_jobs[0].size(), by_jobs[1].size());
  for (std::size_t i = 0; i < by_jobs[0].size(); ++i) {
    BOOST_REQUIRE_EQUAL(by_jobs[0][i].size(), by_jobs[1][i].size());
    for (std::size_t j = 0; j < by_jobs[0][i].size(); ++j) {
      BOOST_TEST(by_jobs[0][i][j].value == by_jobs[1][i][j].value);
      BOOST_TEST(by_jobs[0][i][j].model == by_jobs[1][i][j].model);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
