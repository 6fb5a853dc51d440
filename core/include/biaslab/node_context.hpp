#pragma once
// What a plugin's operator sees while it runs: its resolved parameters, typed inputs, an empty
// output directory that the engine publishes atomically on success, a seed, a thread budget and
// a logger. Implemented by the engine; plugins only call it.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "biaslab/artifact.hpp"
#include "biaslab/export.hpp"
#include "biaslab/results.hpp"

namespace spdlog {
class logger;
}

namespace biaslab {

class BIASLAB_API NodeContext {
 public:
  virtual ~NodeContext();

  virtual const std::string& node_name() const = 0;
  // Parameters validated against the plugin's JSON Schema, defaults filled in.
  virtual const nlohmann::json& params() const = 0;
  // Artifacts bound to an input port, in the order the pipeline lists them.
  virtual std::span<const Artifact> inputs(std::string_view port) const = 0;
  // Empty directory for this node's artifact. Write everything here; the engine renames it into
  // the cache only when run() returns normally, so a crash never leaves a half-written artifact.
  virtual const std::filesystem::path& output_dir() const = 0;
  // Directory that survives an interrupted run of this same node (same cache key): put
  // resumable state here (training checkpoints). Removed when the node completes.
  virtual const std::filesystem::path& scratch_dir() const = 0;
  // Seed for this node (pipeline seed unless the node overrides it).
  virtual std::uint64_t seed() const = 0;
  // Intra-op thread budget for this node (the engine divides --threads among parallel jobs).
  virtual int threads() const = 0;
  // Device requested for the run ("cpu" or "cuda[:N]"); plugins may override with a param.
  virtual const std::string& device() const = 0;
  virtual spdlog::logger& log() const = 0;

  virtual void emit(ResultRow row) = 0;
  virtual void emit_example(ExampleRow row) = 0;
  // Progress of this node in [0, 1]; feeds the run's progress line.
  virtual void progress(double fraction, std::string_view what = {}) = 0;
  // True once the user interrupted the run; long loops should return (throwing is fine).
  virtual bool cancelled() const = 0;
};

}  // namespace biaslab
