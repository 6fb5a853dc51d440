// Cache keys that follow the code and the weights behind a result, and rows that carry the name of
// the node reporting them, whichever node's work they reuse (docs/pipelines.md, "Caching, resuming, forcing").
#include <boost/test/unit_test.hpp>

#include <set>

#include "biaslab/executor.hpp"
#include "engine_fixture.hpp"

using namespace biaslab;
using namespace biaslab::testing;
namespace fs = std::filesystem;

namespace {

const char* kChain = R"(
[pipeline]
name = "chain"
[nodes.base]
plugin = "test.source"
value = 1.5
[nodes.scaled]
plugin = "test.scale"
input = "base"
[nodes.score]
plugin = "test.metric"
inputs = ["scaled"]
)";

// test.source, test.metric and the test.scale in `scale_dir` (the usual one, or the changed one).
std::unique_ptr<PluginRegistry> registry_with_scale_from(const fs::path& scale_dir, bool with_source_hf = false) {
  auto r = std::make_unique<PluginRegistry>();
  r->load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_source.so");
  r->load(env_path("BIASLAB_TEST_PLUGIN_DIR") / "test_metric.so");
  r->load(scale_dir / "test_scale.so");
  if (with_source_hf) r->load(env_path("BIASLAB_PLUGIN_DIR") / "source_hf.so");
  return r;
}

Plan plan_with(const PluginRegistry& plugins, const std::string& text, const Cache& cache, const PlanOptions& opts = {}) {
  return make_plan(parse_pipeline_text(text, "test.toml"), plugins, cache, opts);
}

const Task& task_of(const Plan& p, const std::string& node, std::size_t cell = 0) {
  for (std::size_t i = 0; i < p.node_order.size(); ++i)
    if (p.node_order[i] == node) return p.tasks[p.cell_tasks[cell][i]];
  throw std::runtime_error("no node " + node);
}

std::string read_text(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& f, const std::string& bytes) { std::ofstream(f, std::ios::binary) << bytes; }

// A local "model folder" as source.hf expects it; value.txt lets the test plugins downstream read
// a number from the linked artifact.
void make_model_folder(const fs::path& dir, const std::string& weights, double value = 2.0) {
  fs::create_directories(dir);
  write_bytes(dir / "config.json", R"({"model_type": "gpt2"})");
  write_bytes(dir / "tokenizer.json", R"({"model": {}})");
  write_bytes(dir / "model.safetensors", weights);
  write_bytes(dir / "value.txt", std::to_string(value) + "\n");
}

std::string model_pipeline(const std::string& path) {
  return R"(
[pipeline]
name = "weights"
[nodes.model]
plugin = "source.hf"
path = ")" + path + R"("
[nodes.scaled]
plugin = "test.scale"
input = "model"
[nodes.score]
plugin = "test.metric"
inputs = ["scaled"]
)";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cache_keys)

BOOST_AUTO_TEST_CASE(code_hash_covers_the_plugin_and_its_libraries_not_the_engine) {
  const LoadedPlugin* scale = test_plugins().find("test.scale");
  BOOST_REQUIRE(scale);
  BOOST_TEST(scale->code_hash.size() == 64u);
  // Its own source and the headers beside it; not the other plugins' sources.
  BOOST_TEST(scale->code_manifest.find("  tests/plugins/test_scale.cpp\n") != std::string::npos, scale->code_manifest);
  BOOST_TEST(scale->code_manifest.find("  tests/plugins/test_support.hpp\n") != std::string::npos);
  BOOST_TEST(scale->code_manifest.find("test_source.cpp") == std::string::npos);
  BOOST_TEST(test_plugins().find("test.source")->code_hash != scale->code_hash);

  // A metric plugin: its source, metric_support, and the runtime and eval libraries by hash;
  // nothing of the engine, the CLI or the reports.
  const fs::path build = env_path("BIASLAB_BINARY_DIR");
  const std::string crows = read_text(build / "plugins" / "metric_crows_pairs" / "plugin_metric_crows_pairs.code.manifest");
  const std::string runtime_hash = read_text(build / "code-hash" / "biaslab_runtime.sha256");
  const std::string runtime_manifest = read_text(build / "code-hash" / "biaslab_runtime.sha256.manifest");
  BOOST_REQUIRE(runtime_hash.size() == 65u);  // hex + newline
  BOOST_TEST(crows.find(runtime_hash.substr(0, 64) + "  biaslab_runtime\n") != std::string::npos, crows);
  BOOST_TEST(crows.find("  biaslab_eval\n") != std::string::npos);
  BOOST_TEST(crows.find("  plugins/metric_crows_pairs/crows_pairs.cpp\n") != std::string::npos);
  BOOST_TEST(crows.find("  plugins/metric_support/metric_support.cpp\n") != std::string::npos);
  BOOST_TEST(runtime_manifest.find("  core/src/runtime/tokenizers/") != std::string::npos);
  BOOST_TEST(runtime_manifest.find("  core/include/biaslab/runtime/") != std::string::npos);
  for (const std::string& text : {crows, runtime_manifest, scale->code_manifest})
    for (const char* engine : {"core/src/engine", "core/src/cli", "core/src/report", "include/biaslab/plan.hpp"})
      BOOST_TEST(text.find(engine) == std::string::npos, engine);

  // The key is exactly plugin, version, code hash, params, seed and inputs: no engine version.
  TempDir tmp;
  Cache cache(tmp.path);
  Plan p = plan_text(kChain, cache);
  const Task& base = task_of(p, "base");
  nlohmann::json material = {{"plugin", "test.source"}, {"version", "1.0.0"},
                             {"code", test_plugins().find("test.source")->code_hash}, {"params", base.params},
                             {"seed", 0}, {"inputs", nlohmann::json::array()}};
  BOOST_TEST(base.key == content_key(material));
}

BOOST_AUTO_TEST_CASE(changed_plugin_code_reruns_the_node_and_downstream_and_plan_says_why) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  auto before = registry_with_scale_from(env_path("BIASLAB_TEST_PLUGIN_DIR"));
  auto after = registry_with_scale_from(env_path("BIASLAB_BINARY_DIR") / "test-plugins-changed");
  BOOST_REQUIRE(before->find("test.scale")->code_hash != after->find("test.scale")->code_hash);
  BOOST_REQUIRE(before->find("test.scale")->descriptor->version == std::string(after->find("test.scale")->descriptor->version));

  Plan first = plan_with(*before, kChain, cache);
  RunOutcome ran = execute(first, cache, {});
  BOOST_REQUIRE(ran.ok());
  BOOST_TEST(ran.tasks[first.cell_tasks[0][2]].rows.at(0).value == 3.0);  // 1.5 * 2
  const fs::path state = tmp.path / "state.json";
  std::ofstream(state) << first.state().dump();

  PlanOptions opts;
  opts.previous_state = state;
  Plan second = plan_with(*after, kChain, cache, opts);
  BOOST_TEST(!task_of(second, "base").will_run);
  BOOST_TEST(task_of(second, "scaled").will_run);
  BOOST_TEST(task_of(second, "scaled").reason == "changed since last run: code of test.scale changed");
  BOOST_TEST(task_of(second, "score").will_run);
  BOOST_TEST(task_of(second, "score").reason == "changed since last run: input 'scaled' changed");
  BOOST_TEST(second.describe().find("(changed since last run: code of test.scale changed)") != std::string::npos);
  RunOutcome reran = execute(second, cache, {});
  BOOST_REQUIRE(reran.ok());
  BOOST_TEST(reran.tasks[second.cell_tasks[0][2]].rows.at(0).value == 3.5);  // the fixed code: 1.5 * 2 + 0.5

  // The engine's own code is not in any key: planning with another registry object of the same
  // plugins (a rebuilt engine loads the same plugin files) finds everything cached.
  auto same = registry_with_scale_from(env_path("BIASLAB_BINARY_DIR") / "test-plugins-changed");
  BOOST_TEST(plan_with(*same, kChain, cache).tasks_to_run() == 0u);
}

BOOST_AUTO_TEST_CASE(replaced_weights_rerun_even_with_the_same_size_and_mtime) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  const fs::path model = tmp.path / "model";
  make_model_folder(model, std::string(4096, 'a'));
  auto plugins = registry_with_scale_from(env_path("BIASLAB_TEST_PLUGIN_DIR"), true);
  const std::string text = model_pipeline(model.string());

  Plan first = plan_with(*plugins, text, cache);
  const nlohmann::json& fingerprint = task_of(first, "model").key_inputs;
  BOOST_TEST(fingerprint["weights"]["model.safetensors"]["bytes"] == 4096);
  BOOST_TEST(fingerprint["config_and_tokenizer"].contains("tokenizer.json"));
  BOOST_REQUIRE(execute(first, cache, {}).ok());
  const fs::path state = tmp.path / "state.json";
  std::ofstream(state) << first.state().dump();
  BOOST_TEST(plan_with(*plugins, text, cache).tasks_to_run() == 0u);

  // Same size, one byte different, modification time put back.
  const auto mtime = fs::last_write_time(model / "model.safetensors");
  write_bytes(model / "model.safetensors", std::string(4095, 'a') + "b");
  fs::last_write_time(model / "model.safetensors", mtime);
  PlanOptions opts;
  opts.previous_state = state;
  Plan second = plan_with(*plugins, text, cache, opts);
  BOOST_TEST(second.tasks_to_run() == 3u);
  BOOST_TEST(task_of(second, "model").reason == "changed since last run: weights of 'model' changed");
  BOOST_TEST(task_of(second, "scaled").reason == "changed since last run: input 'model' changed");
  BOOST_TEST(task_of(second, "score").will_run);
  BOOST_TEST(task_of(second, "model").key_inputs["weights"]["model.safetensors"]["xxh3_64"] !=
             fingerprint["weights"]["model.safetensors"]["xxh3_64"]);
  // The tokenizer is part of it too.
  write_bytes(model / "tokenizer.json", R"({"model": {"x": 1}})");
  Plan third = plan_with(*plugins, text, cache, opts);
  BOOST_TEST(task_of(third, "model").reason ==
             "changed since last run: config_and_tokenizer of 'model' changed, weights of 'model' changed");
}

BOOST_AUTO_TEST_CASE(a_deleted_model_folder_is_a_plan_error_naming_node_and_path) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  auto plugins = registry_with_scale_from(env_path("BIASLAB_TEST_PLUGIN_DIR"), true);
  const fs::path gone = tmp.path / "deleted-model";
  std::string message;
  try {
    plan_with(*plugins, model_pipeline(gone.string()), cache);
  } catch (const DiagnosticError& e) {
    message = e.what();
  }
  BOOST_TEST(message.find("node 'model' (source.hf): model folder '" + gone.string() + "' does not exist") !=
                 std::string::npos,
             message);
}

BOOST_AUTO_TEST_CASE(byte_identical_checkpoints_of_a_grid_get_a_warning) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  make_model_folder(tmp.path / "step1", std::string(1000, 'x'));
  make_model_folder(tmp.path / "step2", std::string(1000, 'x'));  // a copy, as in some published series
  make_model_folder(tmp.path / "step3", std::string(1000, 'y'));
  auto plugins = registry_with_scale_from(env_path("BIASLAB_TEST_PLUGIN_DIR"), true);
  Plan p = make_plan(parse_pipeline_text(R"(
[pipeline]
name = "series"
[grid]
step = [1, 2, 3]
[nodes.model]
plugin = "source.hf"
path = ")" + (tmp.path / "step").string() + R"(${step}"
)",
                                         "test.toml"),
                     *plugins, cache);
  BOOST_REQUIRE_EQUAL(p.warnings.size(), 1u);
  const std::string& w = p.warnings[0];
  BOOST_TEST(w.find("identical content") != std::string::npos, w);
  BOOST_TEST(w.find("cell 0 'model'") != std::string::npos, w);
  BOOST_TEST(w.find("cell 1 'model'") != std::string::npos, w);
  BOOST_TEST(w.find("cell 2 'model'") == std::string::npos, w);
  BOOST_TEST(w.find((tmp.path / "step2").string()) != std::string::npos, w);
  BOOST_TEST(p.describe(false).find("warning: source.hf: these nodes have identical content") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_hub_revision_keys_on_the_commit_it_resolves_to) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  // An offline HF cache (huggingface_hub layout) where branch step1 points at a commit.
  const fs::path repo = tmp.path / "hf" / "models--org--tiny";
  fs::create_directories(repo / "refs");
  auto point_branch = [&](const std::string& commit) { write_bytes(repo / "refs" / "step1", commit); };
  const std::string commit_a(40, 'a'), commit_b(40, 'b');
  point_branch(commit_a);
  setenv("HF_HUB_CACHE", (tmp.path / "hf").c_str(), 1);
  setenv("HF_HUB_OFFLINE", "1", 1);
  auto plugins = registry_with_scale_from(env_path("BIASLAB_TEST_PLUGIN_DIR"), true);
  const std::string text = "[pipeline]\nname = \"hub\"\n[nodes.model]\nplugin = \"source.hf\"\nrepo = \"org/tiny\"\n"
                           "revision = \"step1\"\n";
  Plan first = plan_with(*plugins, text, cache);
  BOOST_TEST(task_of(first, "model").key_inputs == nlohmann::json({{"commit", commit_a}}));
  const fs::path state = tmp.path / "state.json";
  std::ofstream(state) << first.state().dump();
  point_branch(commit_b);  // the branch moved
  PlanOptions opts;
  opts.previous_state = state;
  Plan second = plan_with(*plugins, text, cache, opts);
  BOOST_TEST(task_of(second, "model").key != task_of(first, "model").key);
  BOOST_TEST(task_of(second, "model").reason == "changed since last run: commit of 'model' changed");

  // Revisions not in the offline cache: keyed on their names, planning still works (validate,
  // slurm scripts), and unknown content is never reported as identical.
  Plan unknown = make_plan(parse_pipeline_text("[pipeline]\nname = \"hub\"\n[grid]\nrepo = [\"org/x\", \"org/y\"]\n"
                                               "[nodes.model]\nplugin = \"source.hf\"\nrepo = \"${repo}\"\n",
                                               "test.toml"),
                           *plugins, cache);
  BOOST_TEST(task_of(unknown, "model").key_inputs == nlohmann::json({{"commit", nullptr}, {"unresolved_revision", "main"}}));
  BOOST_TEST(task_of(unknown, "model", 0).key != task_of(unknown, "model", 1).key);
  BOOST_TEST(unknown.warnings.empty());
  unsetenv("HF_HUB_CACHE");
}

BOOST_AUTO_TEST_CASE(deduplicated_and_renamed_nodes_report_their_own_names) {
  TempDir tmp;
  Cache cache(tmp.path / "cache");
  const char* twins = R"(
[pipeline]
name = "twins"
[nodes.a]
plugin = "test.source"
value = 1.5
[nodes.b]
plugin = "test.source"
value = 1.5
[nodes.score]
plugin = "test.metric"
inputs = ["a", "b"]
)";
  Plan p = plan_text(twins, cache);
  const Task& shared = task_of(p, "a");
  BOOST_REQUIRE(&shared == &task_of(p, "b"));  // one task serves both nodes
  RunOutcome out = execute(p, cache, {});
  BOOST_REQUIRE(out.ok());
  const std::size_t t = p.cell_tasks[0][0];
  // What a (cell, node) use records: the task's rows relabelled for that node.
  std::set<std::string> models;
  for (const auto& [cell, node] : p.tasks[t].uses) {
    auto rows = out.tasks[t].rows;
    auto examples = out.tasks[t].examples;
    relabel_rows(rows, examples, p.tasks[t].node, node);
    BOOST_REQUIRE_EQUAL(rows.size(), 1u);
    BOOST_TEST(rows[0].model == node);
    models.insert(rows[0].model);
  }
  BOOST_TEST(models == (std::set<std::string>{"a", "b"}));
  // The cache holds no node name, only the placeholder.
  BOOST_TEST(read_text(cache.entry_dir(p.tasks[t].key) / "results.jsonl").find("\"@node\"") != std::string::npos);

  // Renamed: the cached rows come back under the new name.
  const char* renamed = R"(
[pipeline]
name = "renamed"
[nodes.base_model]
plugin = "test.source"
value = 1.5
)";
  Plan q = plan_text(renamed, cache);
  BOOST_REQUIRE_EQUAL(q.tasks_to_run(), 0u);
  RunOutcome again = execute(q, cache, {});
  BOOST_REQUIRE_EQUAL(again.tasks[0].rows.size(), 1u);
  BOOST_TEST(again.tasks[0].state == TaskState::cached);
  BOOST_TEST(again.tasks[0].rows[0].model == "base_model");
  BOOST_TEST(again.tasks[0].rows[0].value == 1.5);
}

BOOST_AUTO_TEST_SUITE_END()
