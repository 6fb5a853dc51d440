// Planning: order, cache keys, deduplication across cells, canonical printing, DOT, reasons.
#include <boost/test/unit_test.hpp>

#include "engine_fixture.hpp"

using namespace biaslab;
using namespace biaslab::testing;
using nlohmann::json;

namespace {
const char* kGridPipeline = R"(
[pipeline]
name = "grid"
seed = 5
[grid]
factor = [2.0, 3.0]
[nodes.score]
plugin = "test.metric"
inputs = ["base", "scaled"]
[nodes.scaled]
plugin = "test.scale"
input = "base"
factor = "${factor}"
[nodes.base]
plugin = "test.source"
value = 1.5
)";
}

BOOST_AUTO_TEST_SUITE(plan)

BOOST_AUTO_TEST_CASE(orders_nodes_topologically) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  BOOST_TEST(p.node_order == (std::vector<std::string>{"base", "scaled", "score"}));
}

BOOST_AUTO_TEST_CASE(identical_work_is_shared_between_cells) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  BOOST_REQUIRE_EQUAL(p.cells.size(), 2u);
  // base is the same in both cells; scaled and score differ: 1 + 2 + 2 tasks.
  BOOST_TEST(p.tasks.size() == 5u);
  BOOST_TEST(p.cell_tasks[0][0] == p.cell_tasks[1][0]);
  BOOST_TEST(p.cell_tasks[0][1] != p.cell_tasks[1][1]);
  BOOST_TEST(p.tasks[p.cell_tasks[0][0]].uses.size() == 2u);
  BOOST_TEST(p.tasks_to_run() == 5u);
  for (const auto& t : p.tasks) BOOST_TEST(t.reason == "not in cache");
}

BOOST_AUTO_TEST_CASE(keys_are_stable_and_sensitive) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan a = plan_text(kGridPipeline, cache);
  Plan b = plan_text(kGridPipeline, cache);
  for (std::size_t i = 0; i < a.tasks.size(); ++i) BOOST_TEST(a.tasks[i].key == b.tasks[i].key);
  // Spelling out a default gives the same key: keys hash resolved parameters.
  Plan c = plan_text(kGridPipeline, cache, {}, {"nodes.scaled.bits=8"});
  BOOST_TEST(c.tasks[1].key == a.tasks[1].key);
  // A changed parameter changes that node's key and every key downstream, nothing upstream.
  Plan d = plan_text(kGridPipeline, cache, {}, {"nodes.scaled.bits=4"});
  BOOST_TEST(d.tasks[0].key == a.tasks[0].key);
  BOOST_TEST(d.tasks[1].key != a.tasks[1].key);
  BOOST_TEST(d.tasks[2].key != a.tasks[2].key);
  // The seed is part of every key.
  Plan e = plan_text(kGridPipeline, cache, {}, {"pipeline.seed=6"});
  BOOST_TEST(e.tasks[0].key != a.tasks[0].key);
  BOOST_TEST(a.tasks[0].seed == 5u);
}

BOOST_AUTO_TEST_CASE(defaults_are_filled_in) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  const Task& scaled = p.tasks[p.cell_tasks[0][1]];
  BOOST_TEST(scaled.params == (json{{"factor", 2.0}, {"bits", 8}, {"fail", false}}));
  const Task& base = p.tasks[p.cell_tasks[0][0]];
  BOOST_TEST(base.params == (json{{"value", 1.5}, {"size", "70m"}, {"options", {{"depth", 2}}}}));
}

BOOST_AUTO_TEST_CASE(canonical_form_prints_back_resolved_pipeline) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  const std::string expected = R"([pipeline]
name = "grid"

# cell 0: factor=2.0

[nodes.base]
plugin = "test.source"
seed = 5
options = { depth = 2 }
size = "70m"
value = 1.5

[nodes.scaled]
plugin = "test.scale"
inputs = { model = ["base"] }
seed = 5
bits = 8
factor = 2.0
fail = false

[nodes.score]
plugin = "test.metric"
inputs = { models = ["base", "scaled"] }
seed = 5
weight = 1.0
)";
  BOOST_TEST(p.canonical() == expected);
  // The canonical form is itself a valid pipeline that plans to the same keys (no grid: cell 0).
  Plan again = plan_text(p.canonical(), cache);
  BOOST_TEST(again.tasks[again.cell_tasks[0][2]].key == p.tasks[p.cell_tasks[0][2]].key);
}

BOOST_AUTO_TEST_CASE(dot_output) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  BOOST_TEST(p.dot() == R"(digraph "grid" {
  rankdir=LR;
  node [shape=box, fontname="Helvetica"];
  "base" [label="base\ntest.source"];
  "scaled" [label="scaled\ntest.scale"];
  "score" [label="score\ntest.metric"];
  "base" -> "scaled" [label="model"];
  "base" -> "score" [label="models"];
  "scaled" -> "score" [label="models"];
}
)");
}

BOOST_AUTO_TEST_CASE(says_why_a_node_reruns) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan first = plan_text(kGridPipeline, cache);
  auto state = tmp.path / "state.json";
  std::ofstream(state) << first.state().dump();
  PlanOptions opts;
  opts.previous_state = state;
  Plan second = plan_text(kGridPipeline, cache, opts, {"nodes.scaled.bits=4"});
  BOOST_TEST(second.tasks[second.cell_tasks[0][1]].reason == "changed since last run: bits: 8 -> 4");
  BOOST_TEST(second.tasks[second.cell_tasks[0][2]].reason == "changed since last run: input 'scaled' changed");
  BOOST_TEST(second.tasks[second.cell_tasks[0][0]].reason == "not in cache (removed since the last run)");
}

BOOST_AUTO_TEST_CASE(params_table_from_a_table_axis) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(R"(
[pipeline]
name = "axis"
[grid]
variant = [ { factor = 4.0, bits = 4 }, { factor = 8.0 } ]
[nodes.base]
plugin = "test.source"
[nodes.q]
plugin = "test.scale"
input = "base"
params = "${variant}"
fail = false
)", cache);
  BOOST_TEST(p.tasks[p.cell_tasks[0][1]].params == (json{{"factor", 4.0}, {"bits", 4}, {"fail", false}}));
  BOOST_TEST(p.tasks[p.cell_tasks[1][1]].params == (json{{"factor", 8.0}, {"bits", 8}, {"fail", false}}));
}

BOOST_AUTO_TEST_CASE(describe_lists_every_cell) {
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kGridPipeline, cache);
  std::string d = p.describe();
  BOOST_TEST(d.find("grid: 2 cells; factor x2") != std::string::npos);
  BOOST_TEST(d.find("order: base -> scaled -> score") != std::string::npos);
  BOOST_TEST(d.find("tasks: 6 node runs, 5 unique, 0 cached, 5 to run") != std::string::npos);
  BOOST_TEST(d.find("[shared with cell 0]") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
