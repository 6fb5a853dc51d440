#pragma once
// A NodeContext for running one plugin operator outside the engine (the plugin tests): parameters
// (defaults already filled in), artifacts per input port, output and scratch directories, seed,
// threads and device as given; result rows and per-example rows are collected; cancelled() can be
// made to turn true after a number of calls (Ctrl-C in the middle of a loop).
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/node_context.hpp"

namespace biaslab::testing {

struct NodeContextOptions {
  std::string node = "node-under-test";
  nlohmann::json params = nlohmann::json::object();
  std::map<std::string, std::vector<Artifact>> inputs;  // port -> artifacts
  std::filesystem::path output_dir;                      // created
  std::filesystem::path scratch_dir;                     // created on first use
  std::uint64_t seed = 0;
  int threads = 1;
  std::string device = "cpu";
  std::shared_ptr<spdlog::logger> logger;                // null: spdlog's default logger
};

class NodeContextStub : public NodeContext {
 public:
  explicit NodeContextStub(NodeContextOptions options) : o_(std::move(options)) {
    std::filesystem::create_directories(o_.output_dir);
    if (!o_.logger) o_.logger = spdlog::default_logger();
  }

  void add_input(const std::string& port, Artifact artifact) { o_.inputs[port].push_back(std::move(artifact)); }

  const std::string& node_name() const override { return o_.node; }
  const nlohmann::json& params() const override { return o_.params; }
  std::span<const Artifact> inputs(std::string_view port) const override {
    const auto it = o_.inputs.find(std::string(port));
    if (it == o_.inputs.end()) return {};
    return it->second;
  }
  const std::filesystem::path& output_dir() const override { return o_.output_dir; }
  const std::filesystem::path& scratch_dir() const override {
    std::filesystem::create_directories(o_.scratch_dir);
    return o_.scratch_dir;
  }
  std::uint64_t seed() const override { return o_.seed; }
  int threads() const override { return o_.threads; }
  const std::string& device() const override { return o_.device; }
  spdlog::logger& log() const override { return *o_.logger; }
  void emit(ResultRow row) override { rows.push_back(std::move(row)); }
  void emit_example(ExampleRow row) override { examples.push_back(std::move(row)); }
  void progress(double, std::string_view) override {}
  // Simulates Ctrl-C: turns true on its (cancel_after + 1)-th call; never with cancel_after < 0.
  bool cancelled() const override { return cancel_after >= 0 && cancel_calls_++ >= cancel_after; }

  std::vector<ResultRow> rows;
  std::vector<ExampleRow> examples;
  std::int64_t cancel_after = -1;

 private:
  NodeContextOptions o_;
  mutable std::int64_t cancel_calls_ = 0;
};

}  // namespace biaslab::testing
