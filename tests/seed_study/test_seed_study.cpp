#define BOOST_TEST_MODULE biaslab seed study pipelines
#include <boost/test/unit_test.hpp>

#include <set>

#include "cli/cli_fixture.hpp"

using namespace biaslab::testing;
namespace fs = std::filesystem;

namespace {

// A workspace that discovers the real plugins (the pipelines name source.hf, metric.seat, ...).
struct RealPlugins : Workspace {
  RealPlugins() { setenv("BIASLAB_PLUGIN_PATH", env_path("BIASLAB_PLUGIN_DIR").c_str(), 1); }
};

std::string pipeline(const std::string& name) {
  return (env_path("BIASLAB_SOURCE_DIR") / "pipelines" / "seed_study" / name).string();
}

// The parameters of every [nodes.<node>] table of `validate --print --all-cells`, one map per
// cell in cell order: key -> value text as printed.
std::vector<std::map<std::string, std::string>> node_tables(const std::string& out, const std::string& node) {
  std::vector<std::map<std::string, std::string>> tables;
  std::istringstream in(out);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("[", 0) == 0 || line.rfind("# cell", 0) == 0) {
      inside = line == "[nodes." + node + "]";
      if (inside) tables.emplace_back();
      continue;
    }
    auto eq = line.find(" = ");
    if (inside && eq != std::string::npos) tables.back()[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return tables;
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

// Checks validate's summary line, plan --summary and what a shard of one cell plans.
void check_counts(const Workspace& w, const std::string& file, int cells, const std::string& grid_line,
                  const std::string& order) {
  const int nodes = 5;
  auto r = w.biaslab("validate " + file);
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out == file + ": ok (" + std::to_string(cells) + " cells, 5 nodes, " + std::to_string(cells * nodes) +
                          " unique tasks)\n");
  r = w.biaslab("plan --summary " + file);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("\ngrid: " + grid_line + "\norder: " + order + "\ntasks: " + std::to_string(cells * nodes) +
                        " node runs, " + std::to_string(cells * nodes) + " unique, 0 cached, " +
                        std::to_string(cells * nodes) + " to run\n") != std::string::npos,
             r.out);
  r = w.biaslab("plan --summary --shard 1/" + std::to_string(cells) + " " + file);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("shard 1/" + std::to_string(cells) + ": 1 cell (cell index % " + std::to_string(cells) +
                        " == 1)\n") != std::string::npos,
             r.out);
  BOOST_TEST(r.out.find("tasks: 5 node runs, 5 unique, 0 cached, 5 to run\n") != std::string::npos, r.out);
  // Slurm scripts: one array task per cell.
  const fs::path out = w.dir / ("slurm-" + fs::path(file).stem().string());
  r = w.biaslab("slurm " + file + " --cpus-per-task 48 --mem 64G --out '" + out.string() + "'");
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.code == 0);
  const auto array = read_file(out / "array.sh");
  BOOST_TEST(array.find("#SBATCH --array=0-" + std::to_string(cells - 1) + "\n#SBATCH --cpus-per-task=48\n#SBATCH --mem=64G\n") !=
                 std::string::npos,
             array);
  BOOST_TEST(array.find("'run' '" + file + "' --shard \"${SLURM_ARRAY_TASK_ID}/" + std::to_string(cells) + "\"\n") !=
                 std::string::npos,
             array);
  BOOST_TEST(fs::exists(out / "collect.sh"));
}

const std::vector<std::string> kSizes = {"70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b"};
const std::vector<int> kSteps = {1000,  7000,  14000,  21000,  29000,  36000,  43000,  50000,  57000,  64000, 72000,
                                 79000, 86000, 93000, 100000, 107000, 114000, 122000, 129000, 136000, 143000};

}  // namespace

BOOST_AUTO_TEST_CASE(pythia_is_the_papers_grid) {
  RealPlugins w;
  const auto f = pipeline("pythia.toml");
  check_counts(w, f, 147, "147 cells; size x7; step x21", "model -> int8 -> stereoset -> seat -> crows");

  auto r = w.biaslab("validate --print --all-cells " + f);
  BOOST_REQUIRE(r.code == 0);
  // Every (size, step) of the paper exactly once, in grid order (size outer, step inner).
  const auto models = node_tables(r.out, "model");
  BOOST_REQUIRE(models.size() == 147u);
  std::size_t i = 0;
  for (const auto& size : kSizes)
    for (int step : kSteps) {
      BOOST_TEST(models[i].at("repo") == q("EleutherAI/pythia-" + size + "-deduped"));
      BOOST_TEST(models[i].at("revision") == q("step" + std::to_string(step)));
      ++i;
    }
  // quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8): every Linear, the head included.
  for (const auto& t : node_tables(r.out, "int8")) {
    BOOST_TEST(t.at("plugin") == q("compress.dynamic_int8"));
    BOOST_TEST(t.at("include_output_head") == "true");
    BOOST_TEST(t.at("scheme") == q("per_tensor"));
    BOOST_TEST(t.at("reduce_range") == "true");
    BOOST_TEST(t.at("bits") == "8");
    BOOST_TEST(t.at("include") == "[\"*\"]");
  }
  for (const char* metric : {"crows", "stereoset", "seat"}) {
    const auto tables = node_tables(r.out, metric);
    BOOST_TEST(tables.size() == 147u);
    for (const auto& t : tables) {
      BOOST_TEST(t.at("inputs") == "{ models = [\"model\", \"int8\"] }");
      BOOST_TEST(t.at("dtype") == q("float32"));
    }
  }
  for (const auto& t : node_tables(r.out, "crows")) {
    BOOST_TEST(t.at("scoring") == q("bias-bench"));
    BOOST_TEST(t.at("dataset") == q("crows_pairs"));
  }
  for (const auto& t : node_tables(r.out, "seat")) {  // bias-bench's 17 tests, its seed
    BOOST_TEST(t.at("permutation_seed") == "0");
    BOOST_TEST(t.at("n_samples") == "100000");
    BOOST_TEST(t.at("tests").find("\"sent-weat8b\"]") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(masked_lms_and_distilled_models) {
  RealPlugins w;
  const auto masked = pipeline("masked_lms.toml");
  check_counts(w, masked, 4, "4 cells; model x4", "model -> int8 -> stereoset -> seat -> crows");
  auto r = w.biaslab("validate --print --all-cells " + masked);
  BOOST_REQUIRE(r.code == 0);
  std::vector<std::string> repos;
  for (const auto& t : node_tables(r.out, "model")) repos.push_back(t.at("repo"));
  BOOST_TEST(repos == (std::vector<std::string>{q("bert-base-uncased"), q("bert-large-uncased"), q("roberta-base"),
                                                 q("roberta-large")}),
             boost::test_tools::per_element());
  for (const auto& t : node_tables(r.out, "int8")) BOOST_TEST(t.at("include_output_head") == "true");
  for (const auto& t : node_tables(r.out, "crows")) BOOST_TEST(t.at("scoring") == q("bias-bench"));

  const auto distilled = pipeline("distilled.toml");
  check_counts(w, distilled, 2, "2 cells; pair x2", "teacher -> student -> stereoset -> seat -> crows");
  r = w.biaslab("validate --print --all-cells " + distilled);
  BOOST_REQUIRE(r.code == 0);
  std::vector<std::string> pairs;
  const auto teachers = node_tables(r.out, "teacher"), students = node_tables(r.out, "student");
  BOOST_REQUIRE(teachers.size() == 2u);
  BOOST_REQUIRE(students.size() == 2u);
  for (std::size_t i = 0; i < 2; ++i) pairs.push_back(teachers[i].at("repo") + " -> " + students[i].at("repo"));
  BOOST_TEST(pairs == (std::vector<std::string>{q("bert-base-uncased") + " -> " + q("distilbert-base-uncased"),
                                                 q("roberta-base") + " -> " + q("distilroberta-base")}),
             boost::test_tools::per_element());
  for (const auto& t : node_tables(r.out, "stereoset")) BOOST_TEST(t.at("inputs") == "{ models = [\"teacher\", \"student\"] }");
}

// The study never runs without a benchmark: CrowS-Pairs scores its file only (not "auto", which
// skips it when probes are connected) and every data-reading metric fails on absent data instead of
// skipping it (docs/pipelines.md, "Missing data").
BOOST_AUTO_TEST_CASE(absent_data_fails_instead_of_skipping) {
  RealPlugins w;
  for (const char* name : {"pythia.toml", "masked_lms.toml", "distilled.toml"}) {
    BOOST_TEST_CONTEXT(name) {
      auto r = w.biaslab("validate --print --all-cells " + pipeline(name));
      BOOST_REQUIRE(r.code == 0);
      const auto crows = node_tables(r.out, "crows"), stereoset = node_tables(r.out, "stereoset");
      BOOST_TEST(!crows.empty());
      BOOST_TEST(!stereoset.empty());
      for (const auto& t : crows) {
        BOOST_TEST(t.at("data") == q("benchmark"));
        BOOST_TEST(t.at("if_missing") == q("error"));
      }
      for (const auto& t : stereoset) BOOST_TEST(t.at("if_missing") == q("error"));
      BOOST_TEST(r.out.find("\"skip\"") == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(headers_say_where_to_run_them) {
  for (const char* name : {"pythia.toml", "masked_lms.toml", "distilled.toml"}) {
    const auto text = read_file(pipeline(name));
    BOOST_TEST(text.find("Slurm cluster") != std::string::npos, name);
    BOOST_TEST(text.find("Goncalves & Strubell, EMNLP 2023") != std::string::npos, name);
  }
}
