#pragma once
// Runs the biaslab binary in a scratch workspace (own cache and run dir), capturing its output.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace biaslab::testing {

namespace fs = std::filesystem;

inline fs::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (!v) throw std::runtime_error(std::string(name) + " is not set (run via ctest)");
  return v;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Result {
  int code;
  std::string out, err;
};

struct Workspace {
  fs::path dir;
  Workspace() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("biaslab-cli-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(dir);
    setenv("BIASLAB_PLUGIN_PATH", env_path("BIASLAB_TEST_PLUGIN_DIR").c_str(), 1);
    setenv("BIASLAB_TEST_LOG", (dir / "executions.log").c_str(), 1);
    unsetenv("BIASLAB_TEST_CRASH_NODE");
  }
  ~Workspace() {
    std::error_code ec;
    fs::remove_all(dir, ec);
    unsetenv("BIASLAB_TEST_LOG");
  }
  // Runs biaslab with the workspace's cache and run dir; captures stdout and stderr.
  Result biaslab(const std::string& args, const std::string& env = "") const {
    std::string cmd = env + " '" + env_path("BIASLAB_CLI").string() + "' --cache-dir '" + (dir / "cache").string() +
                      "' --run-dir '" + (dir / "run").string() + "' " + args + " > '" + (dir / "out.txt").string() +
                      "' 2> '" + (dir / "err.txt").string() + "' < /dev/null";
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), read_file(dir / "out.txt"),
            read_file(dir / "err.txt")};
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
  }
  std::vector<std::string> executions() const {
    std::vector<std::string> out;
    std::ifstream in(dir / "executions.log");
    for (std::string l; std::getline(in, l);) out.push_back(l.substr(0, l.find(' ')));
    return out;
  }
};

}  // namespace biaslab::testing
