// Parsing, interpolation and grid expansion.
#include <boost/test/unit_test.hpp>

#include "biaslab/pipeline.hpp"
#include "engine_fixture.hpp"

using namespace biaslab;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(pipeline)

BOOST_AUTO_TEST_CASE(parses_metadata_nodes_and_inputs) {
  auto p = parse_pipeline_text(R"(
[pipeline]
name = "demo"
seed = 7
[nodes.m]
plugin = "test.source"
value = 3.5
[nodes.s]
plugin = "test.scale"
input = "m"
[nodes.score]
plugin = "test.metric"
inputs = { models = ["m", "s"], corpus = "c" }
)", "demo.toml");
  BOOST_TEST(p.name == "demo");
  BOOST_TEST(p.seed.value.get<int>() == 7);
  BOOST_REQUIRE_EQUAL(p.nodes.size(), 3u);
  BOOST_TEST(p.nodes[0].name == "m");  // nodes come in name order
  BOOST_TEST(p.nodes[0].params.at("value").value.get<double>() == 3.5);
  BOOST_TEST(p.nodes[0].params.at("value").where().line == 7u);
  BOOST_TEST(p.nodes[0].params.at("value").where().column == 9u);
  BOOST_REQUIRE_EQUAL(p.nodes[2].inputs.size(), 2u);
  BOOST_TEST(p.nodes[2].inputs[0].first == "corpus");
  BOOST_TEST(p.nodes[2].inputs[1].first == "models");
  BOOST_TEST(p.nodes[2].inputs[1].second.size() == 2u);
  BOOST_TEST(p.nodes[2].inputs[1].second[1].value == "s");
}

BOOST_AUTO_TEST_CASE(interpolation_keeps_types_and_substitutes_text) {
  DiagnosticSink sink;
  json scope = {{"size", "70m"}, {"step", 1000}, {"q", {{"bits", 4}, {"plugin", "compress.rtn"}}}};
  auto lv = [](json v) { return LocatedValue{v, {}}; };
  BOOST_TEST(interpolate(lv("${step}"), scope, sink) == json(1000));
  BOOST_TEST(interpolate(lv("${q}"), scope, sink) == scope["q"]);
  BOOST_TEST(interpolate(lv("${q.bits}"), scope, sink) == json(4));
  BOOST_TEST(interpolate(lv("EleutherAI/pythia-${size}-deduped"), scope, sink) == json("EleutherAI/pythia-70m-deduped"));
  BOOST_TEST(interpolate(lv("step${step}"), scope, sink) == json("step1000"));
  BOOST_TEST(interpolate(lv("cost $${not} ${size}"), scope, sink) == json("cost ${not} 70m"));
  BOOST_TEST(interpolate(lv(json{{"a", {"${step}", "x${size}"}}}), scope, sink) == (json{{"a", {1000, "x70m"}}}));
  BOOST_TEST(sink.empty());
  interpolate(lv("${sise}"), scope, sink);
  BOOST_REQUIRE_EQUAL(sink.diagnostics().size(), 1u);
  BOOST_TEST(sink.diagnostics()[0].message ==
             "unknown variable '${sise}' (did you mean 'size'?); defined: grid variables, [vars], pipeline.name, pipeline.seed");
}

BOOST_AUTO_TEST_CASE(grid_product_zip_and_exclusions) {
  auto p = parse_pipeline_text(R"(
[pipeline]
name = "g"
[grid]
size = ["70m", "160m"]
step = [1, 2, 3]
[[grid.zip]]
lr = [0.1, 0.01]
warmup = [10, 100]
[[grid.exclude]]
size = "160m"
step = [1, 2]
[nodes.m]
plugin = "test.source"
)", "g.toml");
  DiagnosticSink sink;
  auto cells = expand_grid(p, sink);
  BOOST_TEST(sink.empty());
  // 2 x 3 x 2 = 12 cells, minus 160m x {1,2} x 2 zipped = 4.
  BOOST_REQUIRE_EQUAL(cells.size(), 8u);
  BOOST_TEST(cells[0].label() == "size=70m step=1 lr=0.1 warmup=10");
  BOOST_TEST(cells[1].label() == "size=70m step=1 lr=0.01 warmup=100");
  BOOST_TEST(cells[2].label() == "size=70m step=2 lr=0.1 warmup=10");
  BOOST_TEST(cells[6].label() == "size=160m step=3 lr=0.1 warmup=10");
  BOOST_TEST(cells[7].values["warmup"] == json(100));
  for (std::size_t i = 0; i < cells.size(); ++i) BOOST_TEST(cells[i].index == i);
}

BOOST_AUTO_TEST_CASE(table_valued_axes) {
  auto p = parse_pipeline_text(R"(
[pipeline]
name = "t"
[grid]
compressor = [ { name = "a", factor = 2.0 }, { name = "b", factor = 3.0 } ]
[nodes.m]
plugin = "test.source"
)", "t.toml");
  DiagnosticSink sink;
  auto cells = expand_grid(p, sink);
  BOOST_REQUIRE_EQUAL(cells.size(), 2u);
  BOOST_TEST(cells[1].values["compressor"]["factor"] == json(3.0));
}

BOOST_AUTO_TEST_CASE(overrides_like_hydra) {
  auto p = parse_pipeline_text(R"(
[pipeline]
name = "o"
[grid]
size = ["70m"]
[nodes.m]
plugin = "test.source"
value = 1.0
)", "o.toml", {"nodes.m.value=4.5", "grid.size=[\"70m\", \"160m\"]", "nodes.m.label=hello world", "pipeline.seed=9"});
  BOOST_TEST(p.nodes[0].params.at("value").value == json(4.5));
  BOOST_TEST(p.nodes[0].params.at("label").value == json("hello world"));
  BOOST_TEST(p.nodes[0].params.at("label").where().file == "<command line>");
  BOOST_TEST(p.grid.product[0].values.size() == 2u);
  BOOST_TEST(p.seed.value == json(9));
}

BOOST_AUTO_TEST_CASE(hash_changes_with_text_and_overrides) {
  std::string text = "[pipeline]\nname = \"h\"\n[nodes.m]\nplugin = \"test.source\"\n";
  auto a = pipeline_hash(parse_pipeline_text(text, "h.toml"));
  BOOST_TEST(a == pipeline_hash(parse_pipeline_text(text, "h.toml")));
  BOOST_TEST(a != pipeline_hash(parse_pipeline_text(text + "value = 2.0\n", "h.toml")));
  BOOST_TEST(a != pipeline_hash(parse_pipeline_text(text, "h.toml", {"nodes.m.value=2.0"})));
  BOOST_TEST(a.size() == 32u);
}

BOOST_AUTO_TEST_SUITE_END()
