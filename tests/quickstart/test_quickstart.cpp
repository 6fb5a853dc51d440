// pipelines/quickstart.toml run end to end by the biaslab CLI, as a user runs it, then read back through
// `biaslab results RUN --format json`:
//   * with the data mirror: every grid cell has CrowS-Pairs probe rows, real CrowS-Pairs rows, StereoSet rows and
//     perplexity rows for the fp32 checkpoint and each compressed model, and the ".diff" rows comparing each
//     compressed model with its fp32 checkpoint; the student is compared with the final checkpoint;
//   * known answer: the planted association (strength 0.8) is learned -- the final fp32 checkpoints prefer the
//     planted pronoun on clearly more than half of the probes;
//   * first offline with an empty mirror: synthetic text only (the natural-text corpus is skipped and left out of
//     the mix), no real-data rows, no error, the probes and perplexity there; then with the mirror on the same
//     cache and no --force: the nodes that ran without data (and everything after them) re-run, natural text is
//     20% of the training text, the real benchmarks are scored.
// The pipeline runs unchanged (about 2 minutes on 2 cores); kOverrides can shrink it with --set if it grows.
#define BOOST_TEST_MODULE biaslab quickstart pipeline
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set (run through ctest)");
  return v;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

const fs::path& temp_root() {
  static const fs::path root = [] {
    auto p = fs::temp_directory_path() / ("biaslab-quickstart-test-" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return root;
}

struct Cleanup {
  ~Cleanup() {
    std::error_code ec;
    fs::remove_all(temp_root(), ec);
  }
};
BOOST_TEST_GLOBAL_FIXTURE(Cleanup);

// The pipeline runs as checked in (under 2 minutes on 2 cores): no overrides.
const std::vector<std::string> kOverrides = {};

// Runs `biaslab ARGS` with extra environment assignments; returns the exit code, output in `log`.
int run_cli(const std::string& args, const std::string& environment, const fs::path& log) {
  const std::string command = environment + " " + quoted(env("BIASLAB_CLI")) + " " + args + " > " + quoted(log.string()) + " 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string tail_of(const fs::path& file, std::size_t chars = 4000) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto text = ss.str();
  return text.size() > chars ? text.substr(text.size() - chars) : text;
}

void run_quickstart(const fs::path& run_dir, const fs::path& cache_dir, const fs::path& mirror,
                    const std::vector<std::string>& extra_args) {
  std::string args = "run " + quoted((fs::path(env("BIASLAB_SOURCE_DIR")) / "pipelines/quickstart.toml").string()) +
                     " --run-dir " + quoted(run_dir.string()) + " --cache-dir " + quoted(cache_dir.string());
  for (const auto& o : kOverrides) args += " --set " + quoted(o);
  for (const auto& a : extra_args) args += " " + a;
  // Offline and with a private data cache: nothing may be downloaded.
  const std::string environment = "BIASLAB_OFFLINE=1 BIASLAB_DATA_MIRROR=" + quoted(mirror.string()) +
                                  " BIASLAB_DATA_DIR=" + quoted((temp_root() / "data-cache").string());
  const auto log = run_dir.string() + ".log";
  fs::create_directories(run_dir.parent_path());
  const int rc = run_cli(args, environment, log);
  BOOST_REQUIRE_MESSAGE(rc == 0, "biaslab run failed (exit " << rc << "):\n" << tail_of(log));
}

json results_of(const fs::path& run_dir) {
  const auto out = temp_root() / "results.json";
  const int rc = run_cli("results " + quoted(run_dir.string()) + " --format json", "", out);
  BOOST_REQUIRE_MESSAGE(rc == 0, "biaslab results failed:\n" << tail_of(out));
  std::ifstream in(out);
  return json::parse(in);
}

// (cell, node, model, metric, category) -> row.
struct Rows {
  std::map<std::tuple<std::int64_t, std::string, std::string, std::string, std::string>, json> rows;
  std::map<std::int64_t, std::string> checkpoint_of_cell, size_of_cell;

  explicit Rows(const json& records) {
    for (const auto& r : records) {
      const auto cell = r["cell"].get<std::int64_t>();
      rows[{cell, r["node"], r["model"], r["metric"], r["category"]}] = r;
      checkpoint_of_cell[cell] = r["grid.checkpoint"].get<std::string>();
      size_of_cell[cell] = r["grid.size.name"].get<std::string>();
    }
  }
  const json* find(std::int64_t cell, const std::string& node, const std::string& model, const std::string& metric,
                   const std::string& category = "overall") const {
    auto it = rows.find({cell, node, model, metric, category});
    return it == rows.end() ? nullptr : &it->second;
  }
  std::size_t count_metric(const std::string& metric) const {
    std::size_t n = 0;
    for (const auto& [key, _] : rows) n += std::get<3>(key) == metric ? 1 : 0;
    return n;
  }
};

const std::vector<std::string> kCompressed = {"int8", "rtn4", "pruned"};

}  // namespace

BOOST_AUTO_TEST_CASE(quickstart_offline_then_with_the_data_mirror) {
  const auto cache = temp_root() / "cache";

  // Offline without a mirror: synthetic text only, the planted probes only.
  const auto empty_mirror = temp_root() / "empty-mirror";
  fs::create_directories(empty_mirror);
  const auto without = temp_root() / "run-empty";
  run_quickstart(without, cache, empty_mirror, {});
  const Rows e(results_of(without));
  BOOST_TEST(e.checkpoint_of_cell.size() == 10u);
  BOOST_TEST(e.count_metric("crows_pairs.metric_score") == 0u);
  BOOST_TEST(e.count_metric("stereoset.ss") == 0u);
  for (const auto& [cell, checkpoint] : e.checkpoint_of_cell) {
    for (const auto& model : {"pretrain:" + checkpoint, std::string("int8"), std::string("rtn4"), std::string("pruned")}) {
      BOOST_TEST(e.find(cell, "crows", model, "crows_pairs.probes.metric_score") != nullptr, cell << " " << model);
      BOOST_TEST(e.find(cell, "perplexity", model, "perplexity.ppl") != nullptr, cell << " " << model);
    }
  }
  const auto* skipped = e.find(0, "natural", "natural", "corpus.documents", "train");
  BOOST_TEST_REQUIRE(skipped != nullptr);
  BOOST_TEST((*skipped)["value"].get<double>() == 0.0);
  const auto* synthetic_only = e.find(0, "mixed", "mixed", "corpus.share", "train:corpus");
  BOOST_TEST_REQUIRE(synthetic_only != nullptr);
  BOOST_TEST((*synthetic_only)["value"].get<double>() == 1.0);
  BOOST_TEST(e.find(0, "mixed", "mixed", "corpus.share", "train:natural") == nullptr);

  // The same cache with the mirror, no --force: what ran without data re-runs, and everything after it.
  const auto with_mirror = temp_root() / "run-mirror";
  run_quickstart(with_mirror, cache, env("BIASLAB_DATA_MIRROR"), {});
  const auto log = tail_of(with_mirror.string() + ".log", 1000000);
  BOOST_TEST(log.find("running natural") != std::string::npos);
  BOOST_TEST(log.find("running pretrain") != std::string::npos);
  const Rows r(results_of(with_mirror));
  const auto* natural_share = r.find(0, "mixed", "mixed", "corpus.share", "train:natural");
  BOOST_TEST_REQUIRE(natural_share != nullptr);
  BOOST_TEST((*natural_share)["value"].get<double>() == 0.2, boost::test_tools::tolerance(0.05));

  BOOST_TEST(r.checkpoint_of_cell.size() == 10u);  // 2 sizes x 5 checkpoints
  std::map<std::string, double> final_probe_score;  // size -> probe score of the final fp32 checkpoint
  for (const auto& [cell, checkpoint] : r.checkpoint_of_cell) {
    const std::string fp32 = "pretrain:" + checkpoint;
    BOOST_TEST_CONTEXT("cell " << cell << " (" << r.size_of_cell.at(cell) << ", " << checkpoint << ")") {
      std::vector<std::string> models = {fp32};
      models.insert(models.end(), kCompressed.begin(), kCompressed.end());
      for (const auto& model : models) {
        BOOST_TEST_CONTEXT(model) {
          const auto* probe = r.find(cell, "crows", model, "crows_pairs.probes.metric_score");
          BOOST_TEST_REQUIRE(probe != nullptr);
          BOOST_TEST((*probe)["n"].get<std::int64_t>() == 240);  // 12 planted targets x 20 probes
          BOOST_TEST((*probe)["ci_low"].get<double>() <= (*probe)["value"].get<double>());
          BOOST_TEST(r.find(cell, "crows", model, "crows_pairs.probes_control.metric_score") != nullptr);
          const auto* real = r.find(cell, "crows", model, "crows_pairs.metric_score");
          BOOST_TEST_REQUIRE(real != nullptr);
          BOOST_TEST((*real)["n"].get<std::int64_t>() == 200);  // the pipeline's limit
          const auto* ss = r.find(cell, "stereoset", model, "stereoset.ss");
          BOOST_TEST_REQUIRE(ss != nullptr);
          BOOST_TEST(r.find(cell, "stereoset", model, "stereoset.lms") != nullptr);
          const auto* ppl = r.find(cell, "perplexity", model, "perplexity.ppl");
          BOOST_TEST_REQUIRE(ppl != nullptr);
          BOOST_TEST((*ppl)["value"].get<double>() > 1.0);
        }
      }
      for (const auto& model : kCompressed) {
        BOOST_TEST_CONTEXT(model << " vs " << fp32) {
          for (const auto& [node, metric] : {std::pair{"crows", "crows_pairs.probes.metric_score.diff"},
                                             std::pair{"crows", "crows_pairs.metric_score.diff"},
                                             std::pair{"stereoset", "stereoset.ss.diff"},
                                             std::pair{"perplexity", "perplexity.ppl.diff"}}) {
            const auto* diff = r.find(cell, node, model, metric);
            BOOST_TEST_REQUIRE(diff != nullptr, metric);
            BOOST_TEST((*diff)["extra"]["base_model"] == fp32);
          }
          // The probe .diff is the difference of the two models' probe scores (unrounded) on the same pairs.
          const auto& diff = *r.find(cell, "crows", model, "crows_pairs.probes.metric_score.diff");
          const double base = r.find(cell, "crows", fp32, "crows_pairs.probes.metric_score")->at("extra")["unrounded"];
          const double compressed = r.find(cell, "crows", model, "crows_pairs.probes.metric_score")->at("extra")["unrounded"];
          BOOST_TEST(diff["value"].get<double>() == compressed - base, boost::test_tools::tolerance(1e-9));
          BOOST_TEST(diff["extra"].contains("mcnemar_exact_p"));
        }
      }
      // The student against the final checkpoint.
      const auto* student = r.find(cell, "crows_student", "student", "crows_pairs.probes.metric_score.diff");
      BOOST_TEST_REQUIRE(student != nullptr);
      BOOST_TEST((*student)["extra"]["base_model"] == "pretrain:frac1.0");
      BOOST_TEST(r.find(cell, "perplexity_student", "student", "perplexity.ppl") != nullptr);
      BOOST_TEST(r.find(cell, "stereoset_student", "student", "stereoset.ss") != nullptr);
      if (checkpoint == "frac1.0")
        final_probe_score[r.size_of_cell.at(cell)] = r.find(cell, "crows", fp32, "crows_pairs.probes.metric_score")->at("value");
    }
  }
  // Known answer: the planted association is learned by the end of training.
  BOOST_TEST(final_probe_score.size() == 2u);
  for (const auto& [size, score] : final_probe_score) {
    BOOST_TEST_MESSAGE("probe score of the final " << size << " checkpoint: " << score);
    BOOST_TEST(score > 65.0, size);
  }
}
