#pragma once
// Planning: validate a pipeline against the plugins, expand its grid, order each cell's nodes
// (Boost.Graph), compute every node's cache key and deduplicate identical work across cells.
// A Plan is everything `biaslab plan` prints and everything the executor needs.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/cache.hpp"
#include "biaslab/export.hpp"
#include "biaslab/pipeline.hpp"
#include "biaslab/plugin_registry.hpp"

namespace biaslab {

struct TaskInput {
  std::string port;
  std::size_t task;        // producing task
  std::string producer;    // node name in the pipeline (label for metrics)
  std::string member;      // "" or the member of a collection artifact
};

// A unique unit of work (one cache key). Identical nodes of different cells share one task.
struct Task {
  std::string key;
  std::string node;                      // node name (of the first cell using it)
  const LoadedPlugin* plugin = nullptr;
  nlohmann::json params;                 // validated, defaults filled
  std::uint64_t seed = 0;
  std::vector<TaskInput> inputs;
  std::vector<std::size_t> deps;         // tasks this one needs, deduplicated
  // What the plugin's key_inputs hook said the output depends on (null without a hook), e.g.
  // {"weights": {...}} for a local model folder; part of the key, recorded in provenance.
  nlohmann::json key_inputs;
  bool cached = false;
  bool will_run = false;
  std::string reason;                    // why it runs (or "cached")
  std::vector<std::pair<std::size_t, std::string>> uses;  // (cell, node) pairs served
};

// One slice of a grid for array jobs (`--shard K/N`): the cells whose index % count == index.
struct ShardSpec {
  std::size_t index = 0;
  std::size_t count = 1;
  std::string text() const { return std::to_string(index) + "/" + std::to_string(count); }
};

struct PlanOptions {
  std::set<std::string> force;   // node names to re-run even if cached
  bool force_all = false;
  std::filesystem::path previous_state;  // <run_dir>/state.json of an earlier run, for "why"
  // Plan only this shard's cells (as restrict_to_shard), so a Slurm array task does not fingerprint
  // the model folders of every other cell.
  std::optional<ShardSpec> shard;
};

struct Plan {
  Pipeline pipeline;
  std::vector<Cell> cells;                             // with a shard: only the shard's cells
  std::size_t grid_cells = 0;                          // cells of the whole grid
  std::optional<ShardSpec> shard;
  std::vector<std::string> node_order;                 // topological order (first cell)
  std::vector<Task> tasks;                             // dependencies precede dependents
  // [cell index][node in node_order] -> task; sized for the whole grid, empty for cells outside
  // the shard, so Cell::index keeps its meaning (results of shards merge by cell index).
  std::vector<std::vector<std::size_t>> cell_tasks;
  // Things the user should know that do not stop the run, e.g. grid cells whose checkpoints are
  // byte-identical. Also logged (spdlog warn) when the plan is made.
  std::vector<std::string> warnings;

  std::size_t tasks_to_run() const;
  // Graphviz DOT of the node graph (plugin names, input ports on the edges).
  std::string dot() const;
  // Human-readable plan: grid, order, per cell x node status and why.
  std::string describe(bool verbose = true) const;
  // Canonical pipeline: every node of every cell with resolved params and defaults (like MLIR's
  // -dump-pass-pipeline), as TOML text of the first cell, or of all cells with `all_cells`.
  std::string canonical(bool all_cells = false) const;
  // node -> key/params/code hash/key inputs per cell, saved with a run so the next plan can say
  // why things re-run.
  nlohmann::json state() const;
  // {"<cell label>": {"<node>": key_inputs}} of the nodes whose plugin has a key_inputs hook.
  nlohmann::json key_inputs() const;
};

BIASLAB_API Plan make_plan(Pipeline pipeline, const PluginRegistry& plugins, const Cache& cache,
                           const PlanOptions& options = {});

// Parses "K/N" (0 <= K < N). Throws std::invalid_argument with a message naming the spec.
BIASLAB_API ShardSpec parse_shard(const std::string& text);

// Keeps only the cells of `shard` and the tasks they need (their upstream tasks included),
// renumbering tasks; Task::uses keeps only the shard's cells. A shard with no cells (N larger
// than the grid) leaves an empty plan, which runs nothing.
BIASLAB_API void restrict_to_shard(Plan& plan, const ShardSpec& shard);

}  // namespace biaslab
