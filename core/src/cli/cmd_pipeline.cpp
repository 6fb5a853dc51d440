// `biaslab run | plan | validate`: the pipeline commands.
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "biaslab/atomic_file.hpp"
#include "biaslab/executor.hpp"
#include "biaslab/plan.hpp"
#include "biaslab/provenance.hpp"
#include "biaslab/report.hpp"
#include "biaslab/results_db.hpp"
#include "cli/command_line.hpp"
#include "cli/commands.hpp"
#include "cli/runtime_setup.hpp"

namespace po = boost::program_options;

namespace biaslab::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  if (g_interrupted.exchange(true)) std::_Exit(130);  // second Ctrl-C: leave now
}

struct PipelineArgs {
  std::string file;
  std::vector<std::string> overrides;
  std::vector<std::string> force;
  bool force_all = false;
  int jobs = 1;
  bool dot = false;
  bool quiet = false;
  bool dump = false;
  bool all_cells = false;
  bool help = false;
  bool no_report = false;
  bool strict = false;
  std::string shard_text;            // --shard K/N as given
  std::optional<ShardSpec> shard;
};

po::options_description pipeline_options(PipelineArgs& a, const std::string& command) {
  po::options_description d("biaslab " + command + " PIPELINE.toml [options]");
  d.add_options()("help,h", po::bool_switch(&a.help), "show this help")(
      "set", po::value(&a.overrides)->composing(), "override a value: --set nodes.int8.engine=qnnpack, "
                                                   "--set grid.step=[1000,2000], --set pipeline.seed=3 (repeatable)");
  if (command == "run" || command == "plan")
    d.add_options()("force", po::value(&a.force)->composing(), "re-run NODE (and what depends on it) even if cached")(
        "force-all", po::bool_switch(&a.force_all), "re-run every node")(
        "shard", po::value(&a.shard_text), "K/N: only the cells with index % N == K and the tasks they need "
                                           "(Slurm array jobs; results in <run-dir>/shards/K-of-N)");
  if (command == "run")
    d.add_options()("jobs,j", po::value(&a.jobs)->default_value(1), "tasks run in parallel")(
        "no-report", po::bool_switch(&a.no_report),
        "do not write report.html / report.md at the end (biaslab report RUN_DIR writes them later)")(
        "strict", po::bool_switch(&a.strict),
        "a node that ran without its data (if_missing = \"skip\", crows data = \"auto\", corpus.text "
        "skip), now or in a cached result, fails the run");
  if (command == "plan")
    d.add_options()("dot", po::bool_switch(&a.dot), "print the DAG as Graphviz DOT")(
        "summary", po::bool_switch(&a.quiet), "only the summary, not every cell");
  if (command == "validate")
    d.add_options()("print", po::bool_switch(&a.dump), "print the resolved pipeline (defaults filled in)")(
        "all-cells", po::bool_switch(&a.all_cells), "with --print: every grid cell, not only the first");
  return d;
}

// Parses arguments; returns an exit code to stop with, or -1 to continue.
int parse_args(const Args& args, const std::string& command, PipelineArgs& a) {
  auto desc = pipeline_options(a, command);
  try {
    const auto vm = parse_with_operand(args, desc, "pipeline", a.file);
    if (vm.count("shard")) {
      try {
        a.shard = parse_shard(a.shard_text);
      } catch (const std::invalid_argument& e) {
        std::cerr << "biaslab " << command << ": " << e.what() << "\n";
        return 2;
      }
    }
  } catch (const po::error& e) {
    std::cerr << "biaslab " << command << ": " << e.what() << "\n" << desc;
    return 2;
  }
  if (a.help) {
    std::cout << desc;
    return 0;
  }
  if (a.file.empty()) {
    std::cerr << "biaslab " << command << ": missing PIPELINE file\n" << desc;
    return 2;
  }
  if (a.jobs < 1) {
    std::cerr << "biaslab " << command << ": --jobs must be at least 1\n";
    return 2;
  }
  return -1;
}

// A shard's results go to <run-dir>/shards/K-of-N, so shards never share a database; the
// collecting run over the whole grid writes <run-dir> itself.
std::filesystem::path run_dir_for(const GlobalOptions& g, const Pipeline& p, const std::optional<ShardSpec>& shard) {
  std::filesystem::path dir = g.run_dir.empty() ? std::filesystem::path("runs") / p.name : g.run_dir;
  if (shard) dir = dir / "shards" / (std::to_string(shard->index) + "-of-" + std::to_string(shard->count));
  return dir;
}

struct Loaded {
  PluginRegistry plugins;
  std::unique_ptr<Cache> cache;
  std::optional<Plan> plan;
};

// Parses, discovers plugins, plans. Prints diagnostics and returns 2 on invalid input.
int load_and_plan(const PipelineArgs& a, const GlobalOptions& g, Loaded& out) {
  Pipeline p;
  try {
    p = parse_pipeline(a.file, a.overrides);
  } catch (const DiagnosticError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  out.plugins.discover();
  for (const auto& err : out.plugins.load_errors()) spdlog::warn("plugin not loaded: {}", err.message);
  out.cache = std::make_unique<Cache>(g.cache_dir.empty() ? default_cache_root() : g.cache_dir);
  PlanOptions opts;
  opts.force.insert(a.force.begin(), a.force.end());
  opts.force_all = a.force_all;
  opts.previous_state = run_dir_for(g, p, a.shard) / "state.json";
  opts.shard = a.shard;
  try {
    out.plan.emplace(make_plan(std::move(p), out.plugins, *out.cache, opts));
    if (a.shard) restrict_to_shard(*out.plan, *a.shard);
  } catch (const DiagnosticError& e) {
    std::cerr << e.what() << "\n";
    std::cerr << e.diagnostics().size() << (e.diagnostics().size() == 1 ? " error" : " errors") << " in "
              << a.file << "\n";
    return 2;
  }
  for (const auto& f : a.force)
    if (std::find(out.plan->node_order.begin(), out.plan->node_order.end(), f) == out.plan->node_order.end()) {
      std::cerr << "biaslab: --force " << f << ": no such node in " << a.file << "\n";
      return 2;
    }
  return -1;
}

std::string new_run_id();

// node -> the data it ran without, over every task that finished (ran or cached) without failing.
std::map<std::string, std::set<std::string>> data_missing_by_node(const Plan& plan, const RunOutcome& outcome) {
  std::map<std::string, std::set<std::string>> by_node;
  for (std::size_t t = 0; t < outcome.tasks.size(); ++t) {
    const TaskOutcome& o = outcome.tasks[t];
    if (o.missing_data.empty() || (o.state != TaskState::ok && o.state != TaskState::cached)) continue;
    for (const auto& [cell, node] : plan.tasks[t].uses) {
      (void)cell;
      by_node[node].insert(o.missing_data.begin(), o.missing_data.end());
    }
  }
  return by_node;
}

// "; 2 nodes ran without data: crows (crows_pairs/crows_pairs_anonymized.csv), ..." in node order,
// or "" when every node had its data.
std::string missing_data_clause(const Plan& plan, const std::map<std::string, std::set<std::string>>& by_node) {
  if (by_node.empty()) return {};
  std::string text;
  for (const auto& node : plan.node_order) {
    auto it = by_node.find(node);
    if (it == by_node.end()) continue;
    std::string files;
    for (const auto& spec : it->second) files += (files.empty() ? "" : ", ") + spec;
    text += (text.empty() ? "" : ", ") + node + " (" + files + ")";
  }
  return "; " + std::to_string(by_node.size()) + (by_node.size() == 1 ? " node" : " nodes") +
         " ran without data: " + text;
}

// A run directory's database describes one pipeline expansion. When the pipeline (or its
// overrides) changed, the old database moves to history/ and a fresh one is built: cached nodes
// replay their rows, so the new database is complete for the new plan.
void archive_if_pipeline_changed(const std::filesystem::path& run_dir, const std::string& hash, spdlog::logger& log) {
  const auto db_path = results::database_path(run_dir);
  if (!std::filesystem::exists(db_path)) return;
  std::string previous_hash;
  {
    results::ResultsDatabase old(db_path, results::ResultsDatabase::Mode::read_only);
    auto runs = old.runs();
    if (runs.empty()) return;
    previous_hash = runs.back().pipeline_hash;
    if (previous_hash == hash) return;
  }
  const auto history = run_dir / "history";
  std::filesystem::create_directories(history);
  const auto dest = history / ("results-" + previous_hash.substr(0, 12) + "-" + new_run_id() + ".sqlite");
  std::filesystem::rename(db_path, dest);
  for (const char* suffix : {"-wal", "-shm"}) {  // normally gone once the database is closed
    std::error_code ec;
    if (std::filesystem::exists(db_path.string() + suffix))
      std::filesystem::rename(db_path.string() + suffix, dest.string() + suffix, ec);
  }
  log.info("the pipeline changed since the last run in {}; previous results moved to {}", run_dir.string(), dest.string());
}

std::string new_run_id() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + "-" +
         std::to_string(::getpid());
}

}  // namespace

int cmd_validate(const Args& args, const GlobalOptions& g) {
  PipelineArgs a;
  if (int rc = parse_args(args, "validate", a); rc >= 0) return rc;
  Loaded l;
  if (int rc = load_and_plan(a, g, l); rc >= 0) return rc;
  if (a.dump) std::cout << l.plan->canonical(a.all_cells);
  else
    std::cout << a.file << ": ok (" << l.plan->cells.size() << " cells, " << l.plan->node_order.size() << " nodes, "
              << l.plan->tasks.size() << " unique tasks)\n";
  return 0;
}

int cmd_plan(const Args& args, const GlobalOptions& g) {
  PipelineArgs a;
  if (int rc = parse_args(args, "plan", a); rc >= 0) return rc;
  Loaded l;
  if (int rc = load_and_plan(a, g, l); rc >= 0) return rc;
  if (a.dot) std::cout << l.plan->dot();
  else std::cout << l.plan->describe(!a.quiet);
  return 0;
}

int cmd_run(const Args& args, const GlobalOptions& g) {
  PipelineArgs a;
  if (int rc = parse_args(args, "run", a); rc >= 0) return rc;
  Loaded l;
  if (int rc = load_and_plan(a, g, l); rc >= 0) return rc;
  const Plan& plan = *l.plan;
  const auto run_dir = run_dir_for(g, plan.pipeline, a.shard);
  std::filesystem::create_directories(run_dir);

  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>((run_dir / "biaslab.log").string());
  file->set_level(spdlog::level::debug);
  auto logger = std::make_shared<spdlog::logger>("biaslab", spdlog::sinks_init_list{console, file});
  logger->set_level(std::min(spdlog::get_level(), spdlog::level::debug));
  console->set_level(spdlog::get_level());
  logger->flush_on(spdlog::level::info);

  const int jobs = a.jobs;
  const int threads = configure_runtime_threads(g.threads, jobs);
  logger->info("pipeline {}: {} cells, {} unique tasks, {} to run; run dir {}; cache {}", plan.pipeline.name,
               plan.cells.size(), plan.tasks.size(), plan.tasks_to_run(), run_dir.string(), l.cache->root().string());

  results::RunRecord run;
  run.run_id = new_run_id();
  run.pipeline_name = plan.pipeline.name;
  run.pipeline_hash = pipeline_hash(plan.pipeline);
  archive_if_pipeline_changed(run_dir, run.pipeline_hash, *logger);
  results::ResultsDatabase db(results::database_path(run_dir));
  for (const auto& ax : plan.pipeline.grid.product) run.grid_variables.push_back(ax.name);
  for (const auto& grp : plan.pipeline.grid.zipped)
    for (const auto& ax : grp) run.grid_variables.push_back(ax.name);
  run.started_at = results::iso8601_utc_now();
  db.begin_run(run);
  for (const auto& cell : plan.cells) db.upsert_cell(cell.index, cell.values);

  results::ProvenanceInfo prov;
  prov.pipeline_name = plan.pipeline.name;
  prov.pipeline_hash = run.pipeline_hash;
  prov.pipeline_hash_algorithm = "xxh3_128";
  prov.pipeline_path = std::filesystem::absolute(a.file);
  prov.pipeline_text = plan.pipeline.text;
  prov.pipeline_overrides = plan.pipeline.overrides;
  prov.biaslab_version = BIASLAB_VERSION;
  prov.biaslab_git_sha = biaslab_git_sha();
  std::set<std::string> seen_plugins;
  for (const auto& t : plan.tasks)
    if (seen_plugins.insert(t.plugin->name()).second)
      prov.plugins.push_back({t.plugin->name(), t.plugin->descriptor->version, t.plugin->path, t.plugin->code_hash});
  prov.key_inputs = plan.key_inputs();
  prov.library_versions = runtime_library_versions();
  prov.host = results::collect_host_info();
  prov.environment = results::collect_environment();
  prov.seeds["pipeline"] = plan.tasks.empty() ? 0 : plan.tasks.front().seed;
  for (const auto& t : plan.tasks) prov.seeds["node." + t.node] = t.seed;
  prov.started_at = run.started_at;
  prov.command_line = {"biaslab", "run"};
  prov.command_line.insert(prov.command_line.end(), args.begin(), args.end());
  prov.extra["threads"] = threads;
  prov.extra["jobs"] = jobs;
  prov.extra["device"] = g.device;
  prov.extra["cache_dir"] = l.cache->root().string();
  results::write_provenance(run_dir / results::kProvenanceFileName, prov);

  // Ingest each task's rows for every (cell, node) it serves, as soon as it finishes, so an
  // interrupted run keeps what it completed.
  std::mutex db_mu;
  ExecOptions opts;
  opts.jobs = jobs;
  opts.threads = threads;
  opts.device = g.device;
  opts.logger = logger;
  opts.cancel = &g_interrupted;
  opts.progress_line = ::isatty(STDERR_FILENO) && spdlog::get_level() <= spdlog::level::info;
  opts.strict_data = a.strict;
  opts.on_task_done = [&](std::size_t t, const TaskOutcome& o) {
    const Task& task = plan.tasks[t];
    results::NodeRecord rec;
    rec.plugin = task.plugin->name();
    rec.plugin_version = task.plugin->descriptor->version;
    rec.cache_key = task.key;
    rec.seconds = o.seconds;
    rec.error = o.error;
    switch (o.state) {
      case TaskState::ok: rec.status = results::NodeStatus::ok; break;
      case TaskState::cached: rec.status = results::NodeStatus::cached; break;
      case TaskState::failed: rec.status = results::NodeStatus::failed; break;
      default: rec.status = results::NodeStatus::skipped; break;
    }
    std::lock_guard lock(db_mu);
    for (const auto& [cell, node] : task.uses) {
      rec.node = node;
      try {
        if (node == task.node) {
          db.record_node(cell, rec, o.rows, o.examples);
        } else {  // an identical node deduplicated into this task reports its own name (executor.hpp)
          auto rows = o.rows;
          auto examples = o.examples;
          relabel_rows(rows, examples, task.node, node);
          db.record_node(cell, rec, rows, examples);
        }
      } catch (const std::exception& e) {
        logger->error("{}: cannot record results of node {} in cell {}: {}", db.path().string(), node, cell, e.what());
      }
    }
  };
  auto previous_handler = std::signal(SIGINT, on_sigint);
  RunOutcome outcome = execute(plan, *l.cache, opts);
  std::signal(SIGINT, previous_handler);

  write_file_atomic(run_dir / "state.json", plan.state().dump(2) + "\n");
  const bool interrupted = g_interrupted.load();
  auto status = outcome.ok() ? results::RunStatus::ok
                             : (interrupted ? results::RunStatus::interrupted : results::RunStatus::failed);
  prov.finished_at = results::iso8601_utc_now();
  const auto missing_data = data_missing_by_node(plan, outcome);
  prov.extra["strict"] = a.strict;
  // Read by the report's header (docs/artifacts.md: missing_data.json).
  prov.extra["missing_data"] = nlohmann::json::object();
  for (const auto& [node, specs] : missing_data) prov.extra["missing_data"][node] = specs;
  db.finish_run(run.run_id, status, prov.finished_at);
  results::write_provenance(run_dir / results::kProvenanceFileName, prov);
  export_results(db, run_dir);

  std::size_t ran = outcome.count(TaskState::ok), cached = outcome.count(TaskState::cached);
  std::size_t failed = outcome.count(TaskState::failed), skipped = outcome.count(TaskState::skipped);
  std::cerr << "\n" << plan.pipeline.name << ": " << ran << " ran, " << cached << " cached, " << failed << " failed, "
            << skipped << " skipped" << missing_data_clause(plan, missing_data)
            << (interrupted ? " (interrupted; run again to resume)" : "") << "\n";
  if (!missing_data.empty())
    std::cerr << "  results computed without that data are partial; put it in the data mirror (BIASLAB_DATA_MIRROR) "
                 "or run `biaslab data fetch`, then run again (biaslab run --strict makes this an error)\n";
  for (std::size_t t = 0; t < outcome.tasks.size(); ++t)
    if (outcome.tasks[t].state == TaskState::failed)
      std::cerr << "  failed: " << plan.tasks[t].node << " (" << plan.tasks[t].plugin->name()
                << "): " << outcome.tasks[t].error << "\n";
  std::cerr << "results: " << db.path().string() << "  (biaslab results " << run_dir.string() << ")\n";
  // A finished study gets its report and headline numbers; a shard's partial results do not (the
  // collect run over the whole grid writes them). Reporting never changes the run's exit status.
  if (!interrupted && !a.shard && !a.no_report) {
    try {
      report::ReportOptions report_options;
      report_options.run_dir = run_dir;
      const auto summary = report::write_report(report_options);
      const auto headline = report::headline_table(run_dir);
      if (!headline.empty()) std::cout << "\n" << headline;
      for (const auto& file : summary.written)
        if (file.extension() == ".html") std::cerr << "report: " << file.string() << "\n";
      if (!summary.plots_available) std::cerr << "report: gnuplot not found, report.html has no plots\n";
    } catch (const std::exception& e) {
      logger->warn("report not written: {}", e.what());
    }
  }
  if (interrupted) return 130;
  return outcome.ok() ? 0 : 1;
}

}  // namespace biaslab::cli
