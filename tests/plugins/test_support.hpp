#pragma once
// Shared by the test plugins: an append-only log of executions, so tests can tell which nodes
// really ran and which came from the cache, and a crash switch to simulate a killed run.
#include <cstdlib>
#include <fstream>
#include <string>

#include "biaslab/node_context.hpp"

namespace biaslab::test {

inline void record_execution(const NodeContext& ctx) {
  if (const char* log = std::getenv("BIASLAB_TEST_LOG")) {
    std::ofstream out(log, std::ios::app);
    out << ctx.node_name() << " " << ctx.params().dump() << "\n";
  }
  if (const char* crash = std::getenv("BIASLAB_TEST_CRASH_NODE"); crash && ctx.node_name() == crash)
    std::_Exit(137);  // like SIGKILL: no unwinding, no cleanup
}

inline double read_value(const std::filesystem::path& artifact) {
  std::ifstream in(artifact / "value.txt");
  double v = 0;
  if (!(in >> v)) throw std::runtime_error("no value.txt in " + artifact.string());
  return v;
}

inline void write_value(const std::filesystem::path& artifact, double v) {
  std::ofstream out(artifact / "value.txt");
  out.precision(17);
  out << v << "\n";
}

}  // namespace biaslab::test
