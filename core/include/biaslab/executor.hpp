#pragma once
// Runs a Plan: every task whose output is not cached, in dependency order, `jobs` at a time.
// Tasks are independent processes of thought: each sees only its inputs' artifacts, so results
// do not depend on the number of jobs or on scheduling order.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "biaslab/cache.hpp"
#include "biaslab/export.hpp"
#include "biaslab/plan.hpp"
#include "biaslab/results.hpp"

namespace spdlog {
class logger;
}

namespace biaslab {

enum class TaskState { pending, cached, ok, failed, skipped, cancelled };
BIASLAB_API std::string_view to_string(TaskState s);

struct TaskOutcome {
  TaskState state = TaskState::pending;
  double seconds = 0;
  std::string error;
  std::vector<ResultRow> rows;
  std::vector<ExampleRow> examples;
  // Data the task ran without (its artifact's missing_data.json; see biaslab/data/missing_data.hpp).
  std::vector<std::string> missing_data;
};

struct ExecOptions {
  int jobs = 1;
  int threads = 0;                 // total intra-op threads, divided among jobs (0: hardware)
  std::string device = "cpu";
  std::shared_ptr<spdlog::logger> logger;  // node loggers are clones named after the node
  const std::atomic<bool>* cancel = nullptr;
  bool progress_line = false;      // redraw a progress line on stderr (interactive terminals)
  // `biaslab run --strict`: a task whose artifact records missing data (if_missing = "skip", crows
  // data = "auto", ...) fails, whether it ran now or comes from the cache.
  bool strict_data = false;
  // Called (from worker threads, serialized) when a task finishes, fails or is skipped.
  std::function<void(std::size_t task, const TaskOutcome&)> on_task_done;
};

struct RunOutcome {
  std::vector<TaskOutcome> tasks;  // indexed like Plan::tasks
  std::size_t count(TaskState s) const;
  bool ok() const { return count(TaskState::failed) == 0 && count(TaskState::skipped) == 0 && count(TaskState::cancelled) == 0; }
};

BIASLAB_API RunOutcome execute(const Plan& plan, const Cache& cache, const ExecOptions& options);

// Rows name the node that made them (a source reports model = its node name). A task serves
// every (cell, node) in Task::uses and its cached rows outlive renames, so the cache stores that
// name as this placeholder; TaskOutcome rows carry Task::node, and relabel_rows() gives the rows
// of another node the task serves (an identical node deduplicated into it).
inline constexpr std::string_view kProducingNodePlaceholder = "@node";

// Replaces the node name `from` (a row's model equal to it, or "<from>:<member>") by `to`.
BIASLAB_API void relabel_rows(std::vector<ResultRow>& rows, std::vector<ExampleRow>& examples,
                              std::string_view from, std::string_view to);

// The artifacts bound to one task's inputs (paths into the cache), as a NodeContext sees them.
BIASLAB_API std::vector<std::pair<std::string, Artifact>> task_inputs(const Plan& plan, const Cache& cache,
                                                                      std::size_t task);

}  // namespace biaslab
