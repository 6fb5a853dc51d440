#define BOOST_TEST_MODULE biaslab slurm
#include <boost/test/unit_test.hpp>

#include <sqlite3.h>
#include <sys/wait.h>

#include <map>
#include <regex>
#include <set>

#include "cli/cli_fixture.hpp"

using namespace biaslab::testing;
namespace fs = std::filesystem;

namespace {

// Five cells sharing one upstream task (base): 1 + 5 + 5 = 11 unique tasks.
const char* kPipeline = R"([pipeline]
name = "grid"
seed = 3
[grid]
factor = [2.0, 3.0, 4.0, 5.0, 6.0]
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

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int sh(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs biaslab with an explicit cache and run dir (which may hold any characters).
Result biaslab_in(const Workspace& w, const fs::path& cache, const fs::path& run, const std::string& args,
                  const std::string& env = "") {
  std::string cmd = env + " " + quote(env_path("BIASLAB_CLI").string()) + " --cache-dir " + quote(cache.string()) +
                    " --run-dir " + quote(run.string()) + " " + args + " > " + quote((w.dir / "out.txt").string()) +
                    " 2> " + quote((w.dir / "err.txt").string()) + " < /dev/null";
  int code = sh(cmd);
  return {code, read_file(w.dir / "out.txt"), read_file(w.dir / "err.txt")};
}

// Rows of the results view, every column that describes a result (not run ids or timings).
std::vector<std::string> result_rows(const fs::path& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    throw std::runtime_error("cannot open " + db_path.string());
  std::vector<std::string> rows;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT cell_index, grid, node, plugin, plugin_version, model, metric, category, quote(value), "
                     "quote(ci_low), quote(ci_high), quote(n), extra FROM results_view ORDER BY 1, 3, 6, 7, 8",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const unsigned char* t = sqlite3_column_text(st, c);
      row += (c ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

std::vector<std::string> node_statuses(const fs::path& db_path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::vector<std::string> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT status FROM nodes", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// (cell index, node) -> short key from `biaslab plan` output.
std::map<std::pair<int, std::string>, std::string> planned(const std::string& out) {
  std::map<std::pair<int, std::string>, std::string> m;
  std::regex cell_re(R"(^cell (\d+): )"), node_re(R"(^  (\w+)\s+(test\.\w+)\s+([0-9a-f]{12})  )");
  int cell = -1;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::smatch mm;
    if (std::regex_search(line, mm, cell_re)) cell = std::stoi(mm[1]);
    else if (std::regex_search(line, mm, node_re)) m[{cell, mm[1]}] = mm[3];
  }
  return m;
}

}  // namespace

BOOST_AUTO_TEST_CASE(bad_shard_specs_exit_2) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  for (std::string spec : {"2/2", "0/0", "abc", "1/", "/3", "-1/3", "1/2/3", "1.5/3", "x/3", " 1/3", "1/3 "}) {
    for (const char* cmd : {"plan", "run"}) {
      auto r = w.biaslab(std::string(cmd) + " " + f.string() + " --shard " + quote(spec));
      BOOST_TEST(r.code == 2, cmd << " --shard " << spec);
      BOOST_TEST(r.err.find("--shard '" + spec + "': ") != std::string::npos, r.err);
    }
  }
  auto r = w.biaslab("plan " + f.string() + " --shard 2/2");
  BOOST_TEST(r.err == "biaslab plan: --shard '2/2': K must be smaller than N (expected K/N with 0 <= K < N, e.g. 0/4)\n");
  BOOST_TEST(w.executions().empty());
  for (std::string shards : {"0", "-1", "x"}) {
    r = w.biaslab("slurm " + f.string() + " --shards " + shards);
    BOOST_TEST(r.code == 2, "--shards " << shards);
  }
  r = w.biaslab("run " + f.string() + " --shard ''");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err.find("--shard '': no '/'") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(shards_partition_the_cells_and_cover_every_task) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  auto full = w.biaslab("plan " + f.string());
  BOOST_TEST(full.code == 0);
  BOOST_TEST(full.out.find("tasks: 15 node runs, 11 unique, 0 cached, 11 to run") != std::string::npos);
  const auto all = planned(full.out);
  BOOST_TEST(all.size() == 15u);
  std::set<std::string> all_keys;
  for (const auto& [_, k] : all) all_keys.insert(k);
  BOOST_TEST(all_keys.size() == 11u);

  for (int n : {1, 2, 3, 5, 7}) {
    std::map<std::pair<int, std::string>, std::string> seen;
    std::multiset<int> cells_seen;
    for (int k = 0; k < n; ++k) {
      auto r = w.biaslab("plan " + f.string() + " --shard " + std::to_string(k) + "/" + std::to_string(n));
      BOOST_TEST(r.code == 0);
      int expected_cells = 0;
      for (int c = 0; c < 5; ++c) expected_cells += c % n == k;
      BOOST_TEST(r.out.find("grid: 5 cells; factor x5\nshard " + std::to_string(k) + "/" + std::to_string(n) + ": " +
                            std::to_string(expected_cells) + (expected_cells == 1 ? " cell" : " cells") +
                            " (cell index % " + std::to_string(n) + " == " + std::to_string(k) + ")") !=
                     std::string::npos,
                 r.out);
      // Tasks: base (if any cell) + one scaled and one score per cell.
      const int unique = expected_cells ? 1 + 2 * expected_cells : 0;
      BOOST_TEST(r.out.find("tasks: " + std::to_string(3 * expected_cells) + " node runs, " + std::to_string(unique) +
                            " unique") != std::string::npos,
                 r.out);
      for (const auto& [cell_node, key] : planned(r.out)) {
        BOOST_TEST(cell_node.first % n == k);
        BOOST_TEST(all.at(cell_node) == key);  // same key as in the full plan
        seen[cell_node] = key;
        if (cell_node.second == "base") cells_seen.insert(cell_node.first);
      }
    }
    BOOST_TEST(seen == all, "shards of " << n << " cover every (cell, node) of the full plan");
    BOOST_TEST(cells_seen.size() == 5u, "each cell in exactly one of " << n << " shards");
  }
}

BOOST_AUTO_TEST_CASE(slurm_scripts_have_sbatch_lines_and_quoted_paths) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  const fs::path run = w.dir / "my run's dir", cache = w.dir / "cache dir";
  auto r = biaslab_in(w, cache, run,
                      "slurm " + f.string() +
                          " --partition gpu --gres gpu:1 --time 04:00:00 --cpus-per-task 8 --mem 32G --account lab "
                          "--sbatch-arg --qos=high --sbatch-arg '--constraint=a100 80gb'");
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  const auto array = read_file(run / "slurm" / "array.sh"), collect = read_file(run / "slurm" / "collect.sh");
  BOOST_TEST(array.rfind("#!/bin/bash\n"
                         "#SBATCH --job-name=biaslab-grid\n"
                         "#SBATCH --array=0-4\n"
                         "#SBATCH --partition=gpu\n"
                         "#SBATCH --account=lab\n"
                         "#SBATCH --time=04:00:00\n"
                         "#SBATCH --cpus-per-task=8\n"
                         "#SBATCH --mem=32G\n"
                         "#SBATCH --qos=high\n"
                         "#SBATCH \"--constraint=a100 80gb\"\n"
                         "#SBATCH --gres=gpu:1\n",
                         0) == 0,
             array);
  const std::string cli = quote(env_path("BIASLAB_CLI").string());
  const std::string common = cli + " '--cache-dir' " + quote(cache.string()) + " '--run-dir' " + quote(run.string()) +
                             " '--threads' '8' 'run' " + quote(f.string());
  BOOST_TEST(array.find("\nexec " + common + " --shard \"${SLURM_ARRAY_TASK_ID}/5\"\n") != std::string::npos, array);
  // The collect job: no array, no GPU, the whole grid, then the report where it exists.
  BOOST_TEST(collect.find("--array") == std::string::npos);
  BOOST_TEST(collect.find("--gres") == std::string::npos);
  BOOST_TEST(collect.find("#SBATCH --job-name=biaslab-grid-collect\n") != std::string::npos);
  BOOST_TEST(collect.find("\n" + common + "\n") != std::string::npos, collect);
  BOOST_TEST(collect.find("if " + cli + " 'report' '--help' >/dev/null 2>&1; then\n  " + cli + " '--cache-dir' " +
                          quote(cache.string()) + " '--run-dir' " + quote(run.string()) + " '--threads' '8' 'report' " +
                          quote(run.string()) + "\nfi\n") != std::string::npos,
             collect);
  for (auto s : {"array.sh", "collect.sh", "submit.sh"}) {
    BOOST_TEST(sh("bash -n " + quote((run / "slurm" / s).string())) == 0, s);
    const bool executable = (fs::status(run / "slurm" / s).permissions() & fs::perms::owner_exec) != fs::perms::none;
    BOOST_TEST(executable, s);
  }
  // Without SLURM_ARRAY_TASK_ID the array script refuses to guess.
  BOOST_TEST(sh("env -u SLURM_ARRAY_TASK_ID bash " + quote((run / "slurm" / "array.sh").string()) + " 2>/dev/null") != 0);
  // A #SBATCH value sbatch cannot read is an error, not a broken script.
  r = biaslab_in(w, cache, run, "slurm " + f.string() + " --partition 'a\"b'");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.err.find("--partition 'a\"b': a #SBATCH value cannot contain a double quote") != std::string::npos, r.err);
  // Default shard count: one per cell; --shards overrides it.
  r = biaslab_in(w, cache, run, "slurm " + f.string() + " --shards 2 --out " + quote((w.dir / "two").string()));
  BOOST_TEST(r.code == 0);
  BOOST_TEST(read_file(w.dir / "two" / "array.sh").find("#SBATCH --array=0-1\n") != std::string::npos);
  BOOST_TEST(read_file(w.dir / "two" / "array.sh").find("--shard \"${SLURM_ARRAY_TASK_ID}/2\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(array_tasks_then_collect_equal_a_plain_run) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  // Reference: a plain run with its own cache.
  auto r = biaslab_in(w, w.dir / "plain-cache", w.dir / "plain", "run " + f.string());
  BOOST_REQUIRE(r.code == 0);
  BOOST_TEST(w.executions().size() == 11u);
  const auto expected = result_rows(w.dir / "plain" / "results.sqlite");
  BOOST_TEST(expected.size() == 5u * 6u);  // per cell: 2 models x (overall, gender) x ... see test.metric
  fs::remove(w.dir / "executions.log");

  const fs::path run = w.dir / "slurm run 'x'", cache = w.dir / "shared cache";
  r = biaslab_in(w, cache, run, "slurm " + f.string() + " --shards 3");
  BOOST_REQUIRE(r.code == 0);
  // All array tasks at once, as Slurm would start them: they share `base`, which must be
  // computed once (the others wait on its lock and find it published).
  std::string all_at_once;
  for (int k = 0; k < 3; ++k)
    all_at_once += "SLURM_ARRAY_TASK_ID=" + std::to_string(k) + " bash " + quote((run / "slurm" / "array.sh").string()) +
                   " > " + quote((w.dir / ("shard" + std::to_string(k) + ".log")).string()) + " 2>&1 & ";
  BOOST_REQUIRE(sh("(" + all_at_once + "wait)") == 0);
  for (int k = 0; k < 3; ++k) {
    BOOST_TEST_INFO(read_file(w.dir / ("shard" + std::to_string(k) + ".log")));
    BOOST_TEST(fs::exists(run / "shards" / (std::to_string(k) + "-of-3") / "results.sqlite"));
    BOOST_TEST(!fs::exists(run / "results.sqlite"));
  }
  auto ran = w.executions();
  BOOST_TEST(ran.size() == 11u);  // every task exactly once across the shards
  BOOST_TEST(std::count(ran.begin(), ran.end(), "base") == 1);
  // Shard 1 of 3 holds cells 1 and 4 only.
  auto shard1 = result_rows(run / "shards" / "1-of-3" / "results.sqlite");
  std::set<std::string> cells;
  for (const auto& row : shard1) cells.insert(row.substr(0, row.find('|')));
  BOOST_TEST((cells == std::set<std::string>{"1", "4"}));

  BOOST_REQUIRE(sh("bash " + quote((run / "slurm" / "collect.sh").string()) + " > " +
                   quote((w.dir / "collect.log").string()) + " 2>&1") == 0);
  const auto collect_log = read_file(w.dir / "collect.log");
  BOOST_TEST(collect_log.find("grid: 0 ran, 11 cached, 0 failed, 0 skipped") != std::string::npos, collect_log);
  BOOST_TEST(w.executions().size() == 11u);  // the collect job ran nothing
  const auto statuses = node_statuses(run / "results.sqlite");
  BOOST_TEST(statuses.size() == 15u);
  BOOST_TEST(std::all_of(statuses.begin(), statuses.end(), [](auto& s) { return s == "cached"; }));
  const auto got = result_rows(run / "results.sqlite");
  BOOST_TEST(got == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(submit_chains_the_collect_job_after_the_array) {
  Workspace w;
  auto f = w.write("p.toml", kPipeline);
  fs::create_directories(w.dir / "bin");
  const fs::path calls = w.dir / "sbatch calls.txt";
  // A fake sbatch: records its arguments (one call per line), prints 4242, then 4243;cluster.
  w.write("bin/sbatch", "#!/bin/bash\nn=$(cat " + quote((w.dir / "count").string()) +
                            " 2>/dev/null || echo 0)\necho $((n+1)) > " + quote((w.dir / "count").string()) +
                            "\nprintf '%s\\n' \"$*\" >> " + quote(calls.string()) +
                            "\nif [ $n = 0 ]; then echo 4242; else echo '4243;cluster'; fi\n");
  fs::permissions(w.dir / "bin" / "sbatch", fs::perms::owner_all);
  const fs::path run = w.dir / "run";
  auto r = biaslab_in(w, w.dir / "cache", run, "slurm " + f.string() + " --submit",
                      "PATH=" + quote((w.dir / "bin").string()) + ":\"$PATH\"");
  BOOST_TEST_INFO(r.err);
  BOOST_REQUIRE(r.code == 0);
  BOOST_TEST(r.out.find("array job: 4242\ncollect job: 4243 (after array job 4242 succeeds)\n") != std::string::npos, r.out);
  const std::string logs = (run / "slurm" / "logs").string();
  BOOST_TEST(read_file(calls) == "--parsable --output=" + logs + "/%x-%A_%a.out " + (run / "slurm" / "array.sh").string() +
                                     "\n--parsable --output=" + logs + "/%x-%j.out --dependency=afterok:4242 " +
                                     (run / "slurm" / "collect.sh").string() + "\n");
  BOOST_TEST(fs::is_directory(logs));
  BOOST_TEST(w.executions().empty());  // submitting computes nothing

  // submit.sh does the same through the shell.
  fs::remove(calls);
  fs::remove(w.dir / "count");
  BOOST_TEST(sh("PATH=" + quote((w.dir / "bin").string()) + ":\"$PATH\" bash " + quote((run / "slurm" / "submit.sh").string()) +
                " > " + quote((w.dir / "submit.out").string())) == 0);
  BOOST_TEST(read_file(w.dir / "submit.out") == "array job: 4242\ncollect job: 4243\n");
  BOOST_TEST(read_file(calls).find("--dependency=afterok:4242 ") != std::string::npos);

  // A failing sbatch fails the command.
  w.write("bin/sbatch", "#!/bin/bash\necho 'sbatch: error: invalid partition' >&2\nexit 1\n");
  r = biaslab_in(w, w.dir / "cache", run, "slurm " + f.string() + " --submit",
                 "PATH=" + quote((w.dir / "bin").string()) + ":\"$PATH\"");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("failed with exit code 1") != std::string::npos, r.err);
}
