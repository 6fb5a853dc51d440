// biaslab command-line entry point: global options, then a sub-command.
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/commands.hpp"

namespace {

using biaslab::cli::Args;
using biaslab::cli::GlobalOptions;

struct Command {
  int (*fn)(const Args&, const GlobalOptions&);
  const char* summary;
};

const std::map<std::string, Command>& commands() {
  static const std::map<std::string, Command> table = {
      {"run", {biaslab::cli::cmd_run, "run a pipeline (cached nodes are reused; interrupted runs resume)"}},
      {"plan", {biaslab::cli::cmd_plan, "show the expanded grid, the DAG and what will run and why"}},
      {"validate", {biaslab::cli::cmd_validate, "check a pipeline file and print it back canonically"}},
      {"plugins", {biaslab::cli::cmd_plugins, "list plugins, or `plugins describe NAME`"}},
      {"results", {biaslab::cli::cmd_results, "print a run's results (table, csv, json, md)"}},
      {"report", {biaslab::cli::cmd_report, "write a run's study report (report.html, report.md, tables.tex)"}},
      {"data", {biaslab::cli::cmd_data, "benchmark data: list, fetch, verify, path NAME"}},
      {"tokenize", {biaslab::cli::cmd_tokenize, "tokenize stdin lines with a tokenizer (JSON per line)"}},
      {"score", {biaslab::cli::cmd_score, "score stdin sentences with a model (JSON per line)"}},
      {"model", {biaslab::cli::cmd_model, "`model info PATH`: architecture, parameters, layers"}},
      {"slurm", {biaslab::cli::cmd_slurm, "write (and --submit) Slurm array + collect jobs for a pipeline's grid"}},
  };
  return table;
}

void usage(std::ostream& os) {
  os << "usage: biaslab [global options] <command> [args]\n\ncommands:\n";
  for (const auto& [name, c] : commands()) os << "  " << name << std::string(10 - name.size(), ' ') << c.summary << "\n";
  os << "  version   print version information\n\n"
        "global options (anywhere on the line):\n"
        "  --threads N        intra-op threads for libtorch/BLAS/OpenMP (default: all cores)\n"
        "  --log-level L      trace|debug|info|warn|error|off (default info)\n"
        "  --run-dir DIR      run directory (default runs/<pipeline name>)\n"
        "  --cache-dir DIR    cache root (default $XDG_CACHE_HOME/biaslab)\n"
        "  --device D         cpu or cuda[:N] (default cpu)\n"
        "\n`biaslab <command> --help` describes each command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  GlobalOptions g;
  Args rest;
  // Global options may appear before or after the sub-command.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (a == name) {
        if (i + 1 >= argc) {
          std::cerr << "biaslab: " << name << " needs a value\n";
          std::exit(2);
        }
        return std::string(argv[++i]);
      }
      if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
      return std::nullopt;
    };
    if (auto v = value("--threads")) {
      try {
        g.threads = std::stoi(*v);
      } catch (...) {
        std::cerr << "biaslab: --threads expects a number, got '" << *v << "'\n";
        return 2;
      }
    } else if (auto v = value("--log-level")) g.log_level = *v;
    else if (auto v = value("--run-dir")) g.run_dir = *v;
    else if (auto v = value("--cache-dir")) g.cache_dir = *v;
    else if (auto v = value("--device")) g.device = *v;
    else rest.push_back(a);
  }
  auto level = spdlog::level::from_str(g.log_level);
  if (level == spdlog::level::off && g.log_level != "off") {
    std::cerr << "biaslab: unknown --log-level '" << g.log_level << "'\n";
    return 2;
  }
  spdlog::set_level(level);
  if (rest.empty() || rest[0] == "--help" || rest[0] == "-h" || rest[0] == "help") {
    usage(rest.empty() ? std::cerr : std::cout);
    return rest.empty() ? 2 : 0;
  }
  std::string name = rest[0];
  if (name == "version" || name == "--version") return biaslab::cli::cmd_version(Args(rest.begin() + 1, rest.end()), g);
  auto it = commands().find(name);
  if (it == commands().end()) {
    std::cerr << "biaslab: unknown command '" << name << "'\n";
    usage(std::cerr);
    return 2;
  }
  try {
    return it->second.fn(Args(rest.begin() + 1, rest.end()), g);
  } catch (const std::exception& e) {
    std::cerr << "biaslab " << name << ": error: " << e.what() << "\n";
    return 1;
  }
}
