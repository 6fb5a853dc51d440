#define BOOST_TEST_MODULE biaslab cli
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli_fixture.hpp"

using namespace biaslab::testing;
namespace fs = std::filesystem;

namespace {

const char* kPipeline = R"(#:schema ../schemas/pipeline.schema.json
[pipeline]
name = "cli"
seed = 3
[grid]
factor = [2.0, 3.0]
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

}  // namespace

BOOST_AUTO_TEST_CASE(usage_and_exit_codes) {
  Workspace w;
  auto r = w.biaslab("--help");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("usage: biaslab") != std::string::npos);
  r = w.biaslab("frobnicate");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err.find("unknown command 'frobnicate'") != std::string::npos);
  r = w.biaslab("run");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err.find("missing PIPELINE file") != std::string::npos);
  r = w.biaslab("run --help");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("--jobs") != std::string::npos);
  r = w.biaslab("version");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("plugin ABI 2") != std::string::npos);  // 2: PluginDescriptor::key_inputs
}

// The sha reported (and written to provenance.json) is the checkout's HEAD at build time, not at
// configure time.
BOOST_AUTO_TEST_CASE(version_reports_the_built_git_sha) {
  const char* source = std::getenv("BIASLAB_SOURCE_DIR");
  BOOST_REQUIRE(source != nullptr);
  std::string head;
  if (FILE* pipe = popen(("git -C '" + std::string(source) + "' rev-parse HEAD 2>/dev/null").c_str(), "r")) {
    char buffer[128] = {};
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) head += buffer;
    if (pclose(pipe) != 0) head.clear();
  }
  if (!head.empty() && head.back() == '\n') head.pop_back();
  Workspace w;
  const auto r = w.biaslab("version");
  BOOST_REQUIRE(r.code == 0);
  if (head.empty()) {
    BOOST_TEST(r.out.find("(git unknown") != std::string::npos);  // not a git checkout
  } else {
    BOOST_TEST_MESSAGE("HEAD " << head);
    BOOST_TEST(r.out.find("(git " + head) != std::string::npos, r.out);
  }
}

BOOST_AUTO_TEST_CASE(validate_reports_every_problem_with_positions) {
  Workspace w;
  auto f = w.write("bad.toml", "[pipeline]\nname = \"x\"\n[nodes.m]\nplugin = \"test.sorce\"\n[nodes.s]\nplugin = \"test.scale\"\ninput = \"m\"\nbitz = 3\n");
  auto r = w.biaslab("validate " + f.string());
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err == f.string() + ":4:10: error: node 'm': unknown plugin 'test.sorce' (did you mean 'test.source'?); "
                                   "`biaslab plugins` lists the installed ones\n" +
                          f.string() + ":8:1: error: node 's': unknown parameter 'bitz' for plugin test.scale (did you mean 'bits'?)\n"
                                       "2 errors in " + f.string() + "\n");
}

BOOST_AUTO_TEST_CASE(validate_prints_canonical_pipeline) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  auto r = w.biaslab("validate " + f.string());
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out == f.string() + ": ok (2 cells, 3 nodes, 5 unique tasks)\n");
  r = w.biaslab("validate --print --set nodes.scaled.bits=4 " + f.string());
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("[nodes.scaled]\nplugin = \"test.scale\"\ninputs = { model = [\"base\"] }\nseed = 3\nbits = 4\n") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(plan_then_run_then_everything_cached) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  auto r = w.biaslab("plan " + f.string());
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("tasks: 6 node runs, 5 unique, 0 cached, 5 to run") != std::string::npos);
  BOOST_TEST(r.out.find("cell 1: factor=3.0") != std::string::npos);
  r = w.biaslab("plan --dot " + f.string());
  BOOST_TEST(r.out.find("\"base\" -> \"scaled\" [label=\"model\"];") != std::string::npos);

  r = w.biaslab("run -j 2 " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(w.executions().size() == 5u);
  for (const char* file : {"results.sqlite", "results.csv", "results.json", "provenance.json", "state.json", "biaslab.log",
                           "report.html", "report.md"})
    BOOST_TEST(fs::exists(w.dir / "run" / file), file);
  BOOST_TEST(r.err.find("report: " + (w.dir / "run" / "report.html").string()) != std::string::npos);
  auto prov = nlohmann::json::parse(read_file(w.dir / "run" / "provenance.json"));
  BOOST_TEST(prov.dump().find("\"test.scale\"") != std::string::npos);
  BOOST_TEST(prov.dump().find("libtorch") != std::string::npos);
  BOOST_TEST(prov.dump().find("name = \\\"cli\\\"") != std::string::npos);

  // The metric scored base (1.5 + seed 3 * 0.001) and scaled (x3) in cell 1.
  r = w.biaslab("results " + (w.dir / "run").string() + " --format csv --metric test.score");
  BOOST_TEST(r.code == 0);
  // 1.503 * 3 in binary floating point, printed with round-trip precision.
  const bool found = r.out.find(",score,test.metric,scaled,test.score,overall,4.5089999999999995,") != std::string::npos;
  BOOST_TEST_INFO(r.out);
  BOOST_TEST(found);

  r = w.biaslab("plan " + f.string());
  BOOST_TEST(r.out.find("tasks: 6 node runs, 5 unique, 5 cached, 0 to run") != std::string::npos);
  fs::remove(w.dir / "run" / "report.html");
  r = w.biaslab("run --no-report " + f.string());
  BOOST_TEST(r.code == 0);
  BOOST_TEST(!fs::exists(w.dir / "run" / "report.html"));
  BOOST_TEST(w.executions().size() == 5u);  // nothing ran again
  BOOST_TEST(r.err.find("0 ran, 5 cached, 0 failed, 0 skipped") != std::string::npos);

  // A changed parameter re-runs that node and its dependents, and plan says why.
  r = w.biaslab("plan --set nodes.scaled.bits=4 " + f.string());
  BOOST_TEST(r.out.find("(changed since last run: bits: 8 -> 4)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(killed_run_resumes_where_it_stopped) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  // The process dies (like SIGKILL) when the first `score` node starts: base and at least one
  // scaled node are complete by then.
  auto r = w.biaslab("run " + f.string(), "BIASLAB_TEST_CRASH_NODE=score");
  BOOST_TEST(r.code == 137);
  auto before = w.executions();
  BOOST_TEST(std::count(before.begin(), before.end(), "base") == 1);
  BOOST_TEST(std::count(before.begin(), before.end(), "score") == 1);
  r = w.biaslab("run " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 0);
  auto after = w.executions();
  // Completed nodes were not run again; the interrupted score ran again, and so did anything
  // that had not finished.
  BOOST_TEST(std::count(after.begin(), after.end(), "base") == 1);
  BOOST_TEST(std::count(after.begin(), after.end(), "scaled") == 2);
  BOOST_TEST(std::count(after.begin(), after.end(), "score") == 3);
  r = w.biaslab("results " + (w.dir / "run").string() + " --format csv --metric test.score");
  BOOST_TEST(std::count(r.out.begin(), r.out.end(), '\n') == 1 + 2 * 4);  // header + 2 cells x 4 rows
  // No half-written cache entry survived the crash.
  // A staging dir the killed process left behind is never taken for a cache entry.
  BOOST_TEST(!fs::exists(w.dir / "cache" / "objects" / "staging"));
}

BOOST_AUTO_TEST_CASE(failed_node_gives_exit_code_1) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  auto r = w.biaslab("run --set nodes.scaled.fail=true " + f.string());
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("failed: scaled (test.scale): asked to fail") != std::string::npos);
  BOOST_TEST(r.err.find("1 ran, 0 cached, 2 failed, 2 skipped") != std::string::npos);
}

// A node that ran without its data says so in the run's last line, in provenance.json and in the
// report's header; --strict turns the skip into an error, for a cached result too.
BOOST_AUTO_TEST_CASE(missing_data_in_summary_and_strict) {
  Workspace w;
  const auto absent = w.dir / "absent-data.txt";
  std::string text = kPipeline;
  text.replace(text.find("value = 1.5\n"), 12, "value = 1.5\ndata_file = \"" + absent.string() + "\"\n");
  auto f = w.write("p.toml", text);
  auto r = w.biaslab("run " + f.string());
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.err.find("\ncli: 5 ran, 0 cached, 0 failed, 0 skipped; 1 node ran without data: base (" +
                        absent.string() + ")\n") != std::string::npos);
  auto prov = nlohmann::json::parse(read_file(w.dir / "run" / "provenance.json"));
  BOOST_TEST(prov["extra"]["missing_data"]["base"] == nlohmann::json::array({absent.string()}));
  BOOST_TEST(read_file(w.dir / "run" / "report.md").find("- **missing data**: 1 node ran without data: base (" +
                                                         absent.string() + ")") != std::string::npos);

  // --strict: the cached result was computed without the data, so base fails and nothing downstream runs.
  r = w.biaslab("run --strict " + f.string());
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("cli: 0 ran, 0 cached, 1 failed, 4 skipped\n") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("  failed: base (test.source): ran without data (" + absent.string() +
                        ") [cached result]: --strict") != std::string::npos);
  BOOST_TEST(r.err.find("BIASLAB_DATA_MIRROR") != std::string::npos);
  BOOST_TEST(w.executions().size() == 5u);  // nothing ran

  // Without --strict the same cache is accepted again, and says so.
  r = w.biaslab("run " + f.string());
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.err.find("0 ran, 5 cached, 0 failed, 0 skipped; 1 node ran without data: base (") != std::string::npos);

  // With the data present the node re-runs and the strict run succeeds.
  std::ofstream(absent) << "2\n";
  r = w.biaslab("run --strict " + f.string());
  BOOST_TEST(r.code == 0, r.err);
  BOOST_TEST(r.err.find("cli: 5 ran, 0 cached, 0 failed, 0 skipped\n") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("ran without data") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(plugins_list_and_describe) {
  Workspace w;
  auto r = w.biaslab("plugins describe test.scale");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("test.scale 1.0.0 (transform)") == 0u);
  BOOST_TEST(r.out.find("  model (primary): model x 1  model to scale\n") != std::string::npos);
  BOOST_TEST(r.out.find("  bits : integer = 8\n      pretend bit width\n      one of 2, 3, 4, 8\n") != std::string::npos);
  r = w.biaslab("plugins describe test.scal");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err == "biaslab plugins: no plugin named 'test.scal' (did you mean 'test.scale'?)\n");
  r = w.biaslab("plugins");
  BOOST_TEST(r.out.find("test.metric") != std::string::npos);
}

// schemas/plugins/<name>.schema.json must equal what each in-tree plugin reports
// (scripts/update-schemas regenerates them).
BOOST_AUTO_TEST_CASE(checked_in_plugin_schemas_match_plugins) {
  Workspace w;
  unsetenv("BIASLAB_PLUGIN_PATH");  // in-tree plugins only
  auto r = w.biaslab("plugins --json");
  BOOST_REQUIRE(r.code == 0);
  auto list = nlohmann::json::parse(r.out);
  auto dir = env_path("BIASLAB_SOURCE_DIR") / "schemas" / "plugins";
  std::set<std::string> names;
  for (const auto& p : list) {
    std::string name = p["name"];
    names.insert(name);
    auto schema = w.biaslab("plugins schema " + name);
    BOOST_TEST_CONTEXT(name) {
      BOOST_REQUIRE(fs::exists(dir / (name + ".schema.json")));
      BOOST_TEST(nlohmann::json::parse(schema.out) == nlohmann::json::parse(read_file(dir / (name + ".schema.json"))));
    }
  }
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename().string();
      n = n.substr(0, n.size() - std::string(".schema.json").size());
      BOOST_TEST(names.count(n) == 1u, "schemas/plugins has " << n << " but no such plugin was built");
    }
}
