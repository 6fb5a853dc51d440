// `biaslab slurm PIPELINE`: writes a Slurm array job (one grid shard per array task, `biaslab run
// --shard K/N`) and a collect job (a final run over the whole grid that finds every task in the
// shared cache and writes the complete results database), and optionally submits both.
// See docs/slurm.md.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/atomic_file.hpp"
#include "biaslab/plan.hpp"
#include "cli/command_line.hpp"
#include "cli/commands.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace biaslab::cli {

namespace {

// Slurm's default MaxArraySize is 1001 (indices 0..1000); larger grids share array tasks.
constexpr std::size_t kDefaultMaxShards = 1000;

struct SlurmArgs {
  std::string file;
  std::vector<std::string> overrides;
  long long shards = 0;  // 0: one per cell, capped at kDefaultMaxShards
  int jobs = 1;
  std::string partition, gres, time, mem, account;
  int cpus_per_task = 0;
  std::vector<std::string> sbatch_args;
  std::string out;
  bool submit = false;
  bool help = false;
};

// POSIX shell single quoting: safe for any byte string.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A value of a #SBATCH line. sbatch reads these lines itself (not the shell): it splits on white
// space and strips double quotes, so a value with a double quote or a line break cannot be written.
std::string sbatch_value(const std::string& option, const std::string& v) {
  if (v.find_first_of("\"\n\r") != std::string::npos)
    throw std::invalid_argument(option + " '" + v + "': a #SBATCH value cannot contain a double quote or a line break");
  return v.find_first_of(" \t") == std::string::npos ? v : "\"" + v + "\"";
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot resolve /proc/self/exe: " + ec.message());
  return p.string();
}

fs::path absolute_clean(const fs::path& p) { return fs::absolute(p).lexically_normal(); }

// Runs argv (no shell) and returns its exit code and standard output.
std::pair<int, std::string> run_capture(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) throw std::runtime_error("pipe() failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork() failed");
  if (pid == 0) {
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "biaslab slurm: cannot run %s: %s\n", args[0], std::strerror(errno));
    std::_Exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// `sbatch --parsable` prints "jobid" or "jobid;cluster".
std::string parse_job_id(const std::string& out) {
  std::string line = out.substr(0, out.find('\n'));
  line = line.substr(0, line.find(';'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.empty() || !std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isdigit(c); }))
    throw std::runtime_error("sbatch printed no job id (got '" + out + "')");
  return line;
}

std::string join_command(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

}  // namespace

int cmd_slurm(const Args& args, const GlobalOptions& g) {
  SlurmArgs a;
  po::options_description d("biaslab slurm PIPELINE.toml [options]");
  d.add_options()("help,h", po::bool_switch(&a.help), "show this help")(
      "set", po::value(&a.overrides)->composing(), "override a value (as for `biaslab run`; repeatable)")(
      "shards", po::value(&a.shards), "array tasks (default: one per grid cell, at most 1000)")(
      "jobs,j", po::value(&a.jobs)->default_value(1), "tasks each array task runs in parallel")(
      "partition", po::value(&a.partition), "#SBATCH --partition")("gres", po::value(&a.gres),
                                                                    "#SBATCH --gres of the array job, e.g. gpu:1")(
      "time", po::value(&a.time), "#SBATCH --time per array task, e.g. 04:00:00")(
      "cpus-per-task", po::value(&a.cpus_per_task), "#SBATCH --cpus-per-task (also biaslab's --threads)")(
      "mem", po::value(&a.mem), "#SBATCH --mem, e.g. 32G")("account", po::value(&a.account), "#SBATCH --account")(
      "sbatch-arg", po::value(&a.sbatch_args)->composing(), "another #SBATCH option, e.g. --qos=high (repeatable)")(
      "out", po::value(&a.out), "where the scripts go (default <run-dir>/slurm)")(
      "submit", po::bool_switch(&a.submit), "submit both jobs with sbatch (collect after the array succeeds)");
  try {
    const auto vm = parse_with_operand(args, d, "pipeline", a.file);
    if (vm.count("shards") && a.shards < 1) throw po::error("--shards must be at least 1");
  } catch (const po::error& e) {
    std::cerr << "biaslab slurm: " << e.what() << "\n" << d;
    return 2;
  }
  if (a.help) {
    std::cout << d << "\nGlobal --run-dir, --cache-dir, --device, --threads and --log-level are passed on to the jobs.\n";
    return 0;
  }
  if (a.file.empty()) {
    std::cerr << "biaslab slurm: missing PIPELINE file\n" << d;
    return 2;
  }
  if (a.jobs < 1 || a.cpus_per_task < 0) {
    std::cerr << "biaslab slurm: --jobs and --cpus-per-task must be positive\n";
    return 2;
  }

  // Plan the whole grid once: validates the file here rather than in a thousand array tasks.
  Pipeline p;
  try {
    p = parse_pipeline(a.file, a.overrides);
  } catch (const DiagnosticError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  PluginRegistry plugins;
  plugins.discover();
  for (const auto& err : plugins.load_errors()) spdlog::warn("plugin not loaded: {}", err.message);
  const fs::path cache_dir = absolute_clean(g.cache_dir.empty() ? default_cache_root() : g.cache_dir);
  Cache cache(cache_dir);
  std::optional<Plan> plan;
  try {
    plan.emplace(make_plan(std::move(p), plugins, cache, {}));
  } catch (const DiagnosticError& e) {
    std::cerr << e.what() << "\n"
              << e.diagnostics().size() << (e.diagnostics().size() == 1 ? " error" : " errors") << " in " << a.file
              << "\n";
    return 2;
  }
  const std::size_t cells = plan->cells.size();
  const std::size_t shards =
      a.shards ? static_cast<std::size_t>(a.shards) : std::clamp<std::size_t>(cells, 1, kDefaultMaxShards);
  if (shards > cells)
    std::cerr << "biaslab slurm: note: " << shards << " shards for " << cells << " cells; "
              << shards - cells << " array tasks will have nothing to do\n";
  if (shards > kDefaultMaxShards + 1)
    std::cerr << "biaslab slurm: note: " << shards << " array tasks exceed Slurm's default MaxArraySize (1001)\n";

  const fs::path run_dir = absolute_clean(g.run_dir.empty() ? fs::path("runs") / plan->pipeline.name : g.run_dir);
  const fs::path out_dir = absolute_clean(a.out.empty() ? run_dir / "slurm" : fs::path(a.out));
  const fs::path pipeline_file = absolute_clean(a.file);
  const fs::path log_dir = out_dir / "logs";
  const std::string exe = self_exe();

  // The biaslab command line shared by both jobs (global options, then the sub-command).
  std::vector<std::string> common = {exe, "--cache-dir", cache_dir.string(), "--run-dir", run_dir.string()};
  if (g.device != "cpu") common.insert(common.end(), {"--device", g.device});
  if (g.threads > 0) common.insert(common.end(), {"--threads", std::to_string(g.threads)});
  else if (a.cpus_per_task > 0) common.insert(common.end(), {"--threads", std::to_string(a.cpus_per_task)});
  if (g.log_level != "info") common.insert(common.end(), {"--log-level", g.log_level});
  std::vector<std::string> run_cmd = common;
  run_cmd.insert(run_cmd.end(), {"run", pipeline_file.string()});
  for (const auto& o : a.overrides) run_cmd.insert(run_cmd.end(), {"--set", o});
  if (a.jobs > 1) run_cmd.insert(run_cmd.end(), {"--jobs", std::to_string(a.jobs)});

  std::vector<std::string> resources;
  try {
    if (!a.partition.empty()) resources.push_back("--partition=" + sbatch_value("--partition", a.partition));
    if (!a.account.empty()) resources.push_back("--account=" + sbatch_value("--account", a.account));
    if (!a.time.empty()) resources.push_back("--time=" + sbatch_value("--time", a.time));
    if (a.cpus_per_task > 0) resources.push_back("--cpus-per-task=" + std::to_string(a.cpus_per_task));
    if (!a.mem.empty()) resources.push_back("--mem=" + sbatch_value("--mem", a.mem));
    for (const auto& extra : a.sbatch_args) resources.push_back(sbatch_value("--sbatch-arg", extra));
    if (!a.gres.empty()) sbatch_value("--gres", a.gres);
  } catch (const std::invalid_argument& e) {
    std::cerr << "biaslab slurm: " << e.what() << "\n";
    return 2;
  }
  const std::string job_name = "biaslab-" + plan->pipeline.name;
  auto header = [&](std::ostringstream& os, const std::string& name, bool array) {
    os << "#!/bin/bash\n";
    os << "#SBATCH --job-name=" << sbatch_value("--job-name", name) << "\n";
    if (array) os << "#SBATCH --array=0-" << shards - 1 << "\n";
    for (const auto& r : resources) os << "#SBATCH " << r << "\n";
    if (array && !a.gres.empty()) os << "#SBATCH --gres=" << sbatch_value("--gres", a.gres) << "\n";
    os << "# Generated by `biaslab slurm` for " << plan->pipeline.name << " (" << cells << " cells, " << shards
       << " shards). Log files: sbatch --output (see submit.sh), not #SBATCH, so any path works.\n";
    os << "set -euo pipefail\n";
  };

  std::ostringstream array_sh;
  try {
    header(array_sh, job_name, true);
  } catch (const std::invalid_argument& e) {
    std::cerr << "biaslab slurm: " << e.what() << " (pipeline name)\n";
    return 2;
  }
  array_sh << "# One shard of the grid per array task: cells with index % " << shards
           << " == SLURM_ARRAY_TASK_ID. Every shard\n# publishes into the shared cache; results of shard K go to "
              "<run-dir>/shards/K-of-"
           << shards << ".\n"
           << ": \"${SLURM_ARRAY_TASK_ID:?submit with sbatch, or set SLURM_ARRAY_TASK_ID=K (0.." << shards - 1
           << ") to run shard K here}\"\n"
           << "exec " << join_command(run_cmd) << " --shard \"${SLURM_ARRAY_TASK_ID}/" << shards << "\"\n";

  std::vector<std::string> report_cmd = common;
  report_cmd.insert(report_cmd.end(), {"report", run_dir.string()});
  std::vector<std::string> report_probe = {exe, "report", "--help"};
  std::ostringstream collect_sh;
  header(collect_sh, job_name + "-collect", false);
  collect_sh << "# After every shard succeeded: one run over the whole grid. Every task is in the cache, so it\n"
                "# runs nothing and writes the complete results database to the run directory.\n"
             << join_command(run_cmd) << "\n"
             << "# The report, where this biaslab has the `report` command.\n"
             << "if " << join_command(report_probe) << " >/dev/null 2>&1; then\n"
             << "  " << join_command(report_cmd) << "\n"
             << "fi\n";

  const fs::path array_path = out_dir / "array.sh", collect_path = out_dir / "collect.sh";
  const std::vector<std::string> log_opts = {"--output=" + (log_dir / "%x-%A_%a.out").string()};
  std::vector<std::string> submit_array = {"sbatch", "--parsable"};
  submit_array.insert(submit_array.end(), log_opts.begin(), log_opts.end());
  submit_array.push_back(array_path.string());
  std::vector<std::string> submit_collect = {"sbatch", "--parsable", "--output=" + (log_dir / "%x-%j.out").string(),
                                             "--dependency=afterok:${ARRAY_JOB}", collect_path.string()};
  std::ostringstream submit_sh;
  submit_sh << "#!/bin/bash\n# Submits the array job, then the collect job once every array task succeeded.\n"
               "set -euo pipefail\n"
            << "mkdir -p " << shell_quote(log_dir.string()) << "\n"
            << "ARRAY_JOB=$(" << join_command(submit_array) << ")\n"
            << "ARRAY_JOB=${ARRAY_JOB%%;*}\n"
            << "COLLECT_JOB=$(";
  for (std::size_t i = 0; i < submit_collect.size(); ++i)
    submit_sh << (i ? " " : "")
              << (submit_collect[i].rfind("--dependency=", 0) == 0 ? "\"--dependency=afterok:${ARRAY_JOB}\""
                                                                   : shell_quote(submit_collect[i]));
  submit_sh << ")\n"
            << "echo \"array job: ${ARRAY_JOB}\"\necho \"collect job: ${COLLECT_JOB%%;*}\"\n";

  try {
    fs::create_directories(log_dir);
    for (const auto& [path, text] : {std::pair{array_path, array_sh.str()}, std::pair{collect_path, collect_sh.str()},
                                     std::pair{out_dir / "submit.sh", submit_sh.str()}}) {
      write_file_atomic(path, text);
      fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add);
    }
  } catch (const std::exception& e) {
    std::cerr << "biaslab slurm: cannot write the scripts to " << out_dir.string() << ": " << e.what() << "\n";
    return 1;
  }
  std::cout << "pipeline " << plan->pipeline.name << ": " << cells << (cells == 1 ? " cell" : " cells") << ", "
            << plan->tasks.size() << " unique tasks, " << shards << (shards == 1 ? " shard" : " shards") << "\n"
            << "array job:   " << array_path.string() << "\n"
            << "collect job: " << collect_path.string() << "\n"
            << "run dir:     " << run_dir.string() << "\n"
            << "cache:       " << cache_dir.string() << " (must be shared by every node)\n";

  if (!a.submit) {
    std::cout << "submit with:\n  bash " << shell_quote((out_dir / "submit.sh").string()) << "\nor:\n  mkdir -p "
              << shell_quote(log_dir.string()) << "\n  ARRAY_JOB=$(" << join_command(submit_array) << ")\n  ";
    for (std::size_t i = 0; i < submit_collect.size(); ++i)
      std::cout << (i ? " " : "")
                << (submit_collect[i].rfind("--dependency=", 0) == 0 ? "\"--dependency=afterok:${ARRAY_JOB%%;*}\""
                                                                     : shell_quote(submit_collect[i]));
    std::cout << "\n";
    return 0;
  }
  auto [rc, out] = run_capture(submit_array);
  if (rc != 0) {
    std::cerr << "biaslab slurm: " << join_command(submit_array) << " failed with exit code " << rc << "\n";
    return 1;
  }
  const std::string array_job = parse_job_id(out);
  submit_collect[3] = "--dependency=afterok:" + array_job;
  auto [rc2, out2] = run_capture(submit_collect);
  if (rc2 != 0) {
    std::cerr << "biaslab slurm: " << join_command(submit_collect) << " failed with exit code " << rc2
              << " (the array job " << array_job << " is submitted; cancel it with scancel " << array_job << ")\n";
    return 1;
  }
  const std::string collect_job = parse_job_id(out2);
  std::cout << "array job: " << array_job << "\ncollect job: " << collect_job << " (after array job " << array_job
            << " succeeds)\n";
  return 0;
}

}  // namespace biaslab::cli
