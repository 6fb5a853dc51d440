#pragma once
// CLI sub-commands. Each command parses its own arguments (Boost.Program_options), prints its
// own --help, and returns the process exit code: 0 ok, 1 run failure, 2 usage/validation error.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace biaslab::cli {

struct GlobalOptions {
  int threads = 0;                       // 0: library default (all cores)
  std::string log_level = "info";
  std::filesystem::path run_dir;         // empty: runs/<pipeline name>
  std::filesystem::path cache_dir;       // empty: $XDG_CACHE_HOME/biaslab
  std::string device = "cpu";
};

using Args = std::vector<std::string>;  // arguments after the sub-command name

int cmd_run(const Args& args, const GlobalOptions& g);
int cmd_plan(const Args& args, const GlobalOptions& g);
int cmd_validate(const Args& args, const GlobalOptions& g);
int cmd_plugins(const Args& args, const GlobalOptions& g);
int cmd_results(const Args& args, const GlobalOptions& g);   // results database (results/)
int cmd_report(const Args& args, const GlobalOptions& g);    // study report (report/)
int cmd_data(const Args& args, const GlobalOptions& g);      // data manager (data/)
int cmd_tokenize(const Args& args, const GlobalOptions& g);  // runtime tokenizers
int cmd_score(const Args& args, const GlobalOptions& g);     // runtime scoring
int cmd_model(const Args& args, const GlobalOptions& g);     // `model info PATH`
int cmd_slurm(const Args& args, const GlobalOptions& g);    // Slurm array + collect scripts
int cmd_version(const Args& args, const GlobalOptions& g);

}  // namespace biaslab::cli
