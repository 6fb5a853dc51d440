#include "biaslab/executor.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "biaslab/data/missing_data.hpp"

namespace biaslab {

namespace fs = std::filesystem;

std::string_view to_string(TaskState s) {
  switch (s) {
    case TaskState::pending: return "pending";
    case TaskState::cached: return "cached";
    case TaskState::ok: return "ok";
    case TaskState::failed: return "failed";
    case TaskState::skipped: return "skipped";
    case TaskState::cancelled: return "cancelled";
  }
  return "?";
}

std::size_t RunOutcome::count(TaskState s) const {
  return static_cast<std::size_t>(std::count_if(tasks.begin(), tasks.end(), [s](auto& t) { return t.state == s; }));
}

void relabel_rows(std::vector<ResultRow>& rows, std::vector<ExampleRow>& examples, std::string_view from,
                  std::string_view to) {
  if (from == to) return;
  auto relabel = [&](std::string& model) {
    if (model.starts_with(from) && (model.size() == from.size() || model[from.size()] == ':'))
      model = std::string(to) + model.substr(from.size());
  };
  for (auto& r : rows) relabel(r.model);
  for (auto& e : examples) relabel(e.model);
}

std::vector<std::pair<std::string, Artifact>> task_inputs(const Plan& plan, const Cache& cache, std::size_t task) {
  std::vector<std::pair<std::string, Artifact>> out;
  for (const auto& in : plan.tasks[task].inputs) {
    const Task& producer = plan.tasks[in.task];
    Artifact a;
    a.type = producer.plugin->descriptor->output_type ? producer.plugin->descriptor->output_type : "";
    a.path = cache.artifact_dir(producer.key);
    if (!in.member.empty()) a.path /= in.member;
    a.key = in.member.empty() ? producer.key : producer.key + ":" + in.member;
    a.producer = in.member.empty() ? in.producer : in.producer + ":" + in.member;
    if (std::ifstream f(a.path / "artifact.json"); f) {
      try {
        a.meta = nlohmann::json::parse(f);
      } catch (...) {
        a.meta = nlohmann::json::object();
      }
    }
    out.emplace_back(in.port, std::move(a));
  }
  return out;
}

namespace {

class TaskContext final : public NodeContext {
 public:
  TaskContext(const Task& task, std::vector<std::pair<std::string, Artifact>> inputs, fs::path out, fs::path scratch,
              int threads, std::string device, std::shared_ptr<spdlog::logger> log, const std::atomic<bool>* cancel,
              std::function<void(double, std::string_view)> progress)
      : task_(task), out_(std::move(out)), scratch_(std::move(scratch)), threads_(threads), device_(std::move(device)),
        log_(std::move(log)), cancel_(cancel), progress_(std::move(progress)) {
    for (auto& [port, a] : inputs) by_port_[port].push_back(std::move(a));
  }
  const std::string& node_name() const override { return task_.node; }
  const nlohmann::json& params() const override { return task_.params; }
  std::span<const Artifact> inputs(std::string_view port) const override {
    auto it = by_port_.find(std::string(port));
    if (it == by_port_.end()) return {};
    return it->second;
  }
  const fs::path& output_dir() const override { return out_; }
  const fs::path& scratch_dir() const override {
    fs::create_directories(scratch_);
    return scratch_;
  }
  std::uint64_t seed() const override { return task_.seed; }
  int threads() const override { return threads_; }
  const std::string& device() const override { return device_; }
  spdlog::logger& log() const override { return *log_; }
  void emit(ResultRow row) override {
    std::lock_guard lock(mu_);
    rows_.push_back(std::move(row));
  }
  void emit_example(ExampleRow row) override {
    std::lock_guard lock(mu_);
    examples_.push_back(std::move(row));
  }
  void progress(double fraction, std::string_view what) override { progress_(fraction, what); }
  bool cancelled() const override { return cancel_ && cancel_->load(); }

  std::vector<ResultRow> rows_;
  std::vector<ExampleRow> examples_;

 private:
  const Task& task_;
  std::map<std::string, std::vector<Artifact>> by_port_;
  fs::path out_, scratch_;
  int threads_;
  std::string device_;
  std::shared_ptr<spdlog::logger> log_;
  const std::atomic<bool>* cancel_;
  std::function<void(double, std::string_view)> progress_;
  std::mutex mu_;
};

// An exclusive advisory lock on <cache>/locks/<key>.lock, held while one process computes a task.
// Other processes (e.g. Slurm array shards sharing an upstream task) wait for it and then find
// the entry published. flock locks die with their process, so a killed run leaves none behind.
class TaskLock {
 public:
  TaskLock(const fs::path& cache_root, const std::string& key) {
    const fs::path dir = cache_root / "locks";
    std::error_code ec;
    fs::create_directories(dir, ec);
    fd_ = ::open((dir / (key + ".lock")).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) return;  // read-only or lock-less file system: computing twice is still correct
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) {
        ::close(fd_);
        fd_ = -1;
        return;
      }
  }
  ~TaskLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race)
  }
  TaskLock(const TaskLock&) = delete;
  TaskLock& operator=(const TaskLock&) = delete;

 private:
  int fd_ = -1;
};

// Records the data a finished task ran without (its artifact's missing_data.json) and, under
// --strict, turns that skip into a failure -- for fresh and cached entries alike, so every plugin
// (out-of-tree ones included) is covered by the one record they all write.
void check_missing_data(const Task& task, const Cache& cache, bool strict, TaskOutcome& out) {
  if (out.state != TaskState::ok && out.state != TaskState::cached) return;
  out.missing_data = data::recorded_missing_data(cache.artifact_dir(task.key));
  if (!strict || out.missing_data.empty()) return;
  std::string files;
  for (const auto& spec : out.missing_data) files += (files.empty() ? "" : ", ") + spec;
  out.error = "ran without data (" + files + ")" + (out.state == TaskState::cached ? " [cached result]" : "") +
              ": --strict does not accept skipped benchmarks; put the file in the data mirror named by "
              "BIASLAB_DATA_MIRROR (or `biaslab data fetch`), or run without --strict";
  out.state = TaskState::failed;
  out.rows.clear();  // computed without the data: not results of this run
  out.examples.clear();
}

std::string format_duration(double seconds) {
  char buf[32];
  if (seconds < 60) std::snprintf(buf, sizeof buf, "%.0fs", seconds);
  else if (seconds < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(seconds) / 3600, (int(seconds) % 3600) / 60);
  return buf;
}

}  // namespace

RunOutcome execute(const Plan& plan, const Cache& cache, const ExecOptions& options) {
  using clock = std::chrono::steady_clock;
  const std::size_t n = plan.tasks.size();
  RunOutcome outcome;
  outcome.tasks.resize(n);
  auto logger = options.logger ? options.logger : spdlog::default_logger();
  const int jobs = std::max(1, options.jobs);
  const int hw = std::max(1u, std::thread::hardware_concurrency());
  const int threads_per_job = std::max(1, (options.threads > 0 ? options.threads : hw) / jobs);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::size_t> remaining_deps(n, 0);
  std::vector<std::vector<std::size_t>> dependents(n);
  std::deque<std::size_t> ready;
  std::size_t finished = 0, to_run = 0, done_run = 0, running = 0;
  double run_seconds = 0;
  std::vector<double> task_progress(n, 0.0);
  auto started = clock::now();

  for (std::size_t i = 0; i < n; ++i) {
    for (auto d : plan.tasks[i].deps) dependents[d].push_back(i);
    remaining_deps[i] = plan.tasks[i].deps.size();
    if (plan.tasks[i].will_run) ++to_run;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (remaining_deps[i] == 0) ready.push_back(i);

  auto draw_progress = [&] {  // mu held
    if (!options.progress_line) return;
    double partial = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (outcome.tasks[i].state == TaskState::pending && plan.tasks[i].will_run) partial += task_progress[i];
    double done = done_run + partial;
    double elapsed = std::chrono::duration<double>(clock::now() - started).count();
    std::string eta = done > 0.05 ? format_duration(elapsed / done * (to_run - done)) : "?";
    std::fprintf(stderr, "\r\033[K[%zu/%zu tasks run, %zu running, %zu failed] elapsed %s, ETA %s", done_run, to_run,
                 running, outcome.count(TaskState::failed), format_duration(elapsed).c_str(), eta.c_str());
    std::fflush(stderr);
  };

  // Marks a task finished and releases its dependents; mu held.
  std::function<void(std::size_t)> finish = [&](std::size_t t) {
    ++finished;
    check_missing_data(plan.tasks[t], cache, options.strict_data, outcome.tasks[t]);
    if (outcome.tasks[t].state == TaskState::failed && options.strict_data && !outcome.tasks[t].missing_data.empty())
      logger->error("{}: {}", plan.tasks[t].node, outcome.tasks[t].error);
    if (options.on_task_done) options.on_task_done(t, outcome.tasks[t]);
    bool good = outcome.tasks[t].state == TaskState::ok || outcome.tasks[t].state == TaskState::cached;
    for (auto d : dependents[t]) {
      if (!good && outcome.tasks[d].state == TaskState::pending) {
        outcome.tasks[d].state = outcome.tasks[t].state == TaskState::cancelled ? TaskState::cancelled : TaskState::skipped;
        outcome.tasks[d].error = "input '" + plan.tasks[t].node + "' " + std::string(to_string(outcome.tasks[t].state));
      }
      if (--remaining_deps[d] == 0) ready.push_back(d);
    }
    cv.notify_all();
  };

  auto run_task = [&](std::size_t t) {
    const Task& task = plan.tasks[t];
    TaskOutcome result;
    auto t0 = clock::now();
    auto node_log = logger->clone(task.node);
    Cache::Staging staging;
    bool staged = false;
    try {
      staging = cache.begin(task.key);
      staged = true;
      TaskContext ctx(task, task_inputs(plan, cache, t), staging.artifact, cache.scratch_dir(task.key), threads_per_job,
                      options.device, node_log, options.cancel, [&, t](double f, std::string_view) {
                        std::lock_guard lock(mu);
                        task_progress[t] = std::clamp(f, 0.0, 1.0);
                        draw_progress();
                      });
      auto op = task.plugin->create();
      op->run(ctx);
      if (options.cancel && options.cancel->load()) throw std::runtime_error("interrupted");
      nlohmann::json inputs = nlohmann::json::array();
      for (const auto& in : task.inputs) inputs.push_back({in.port, in.producer, in.member, plan.tasks[in.task].key});
      nlohmann::json info = {{"key", task.key},         {"node", task.node},
                             {"plugin", task.plugin->name()}, {"version", task.plugin->descriptor->version},
                             {"params", task.params},   {"seed", task.seed},
                             {"inputs", inputs},        {"output_type", task.plugin->descriptor->output_type},
                             {"seconds", std::chrono::duration<double>(clock::now() - t0).count()}};
      // A task cached at plan time runs only because it must be redone: its entry is replaced.
      auto stored_rows = ctx.rows_;
      auto stored_examples = ctx.examples_;
      relabel_rows(stored_rows, stored_examples, task.node, kProducingNodePlaceholder);
      cache.commit(staging, info, stored_rows, stored_examples,
                   task.cached ? Cache::Replace::existing : Cache::Replace::keep_existing);
      result.state = TaskState::ok;
      result.rows = std::move(ctx.rows_);
      result.examples = std::move(ctx.examples_);
    } catch (const std::exception& e) {
      if (staged) cache.abandon(staging);
      bool interrupted = options.cancel && options.cancel->load();
      result.state = interrupted ? TaskState::cancelled : TaskState::failed;
      result.error = e.what();
      if (!interrupted) node_log->error("failed: {}", e.what());
    }
    result.seconds = std::chrono::duration<double>(clock::now() - t0).count();
    return result;
  };

  auto worker = [&] {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return !ready.empty() || finished == n; });
      if (finished == n) return;
      std::size_t t = ready.front();
      ready.pop_front();
      const Task& task = plan.tasks[t];
      TaskOutcome& out = outcome.tasks[t];
      if (out.state != TaskState::pending) {  // skipped because an input failed
        if (task.will_run) ++done_run;
        finish(t);
        continue;
      }
      if (!task.will_run) {
        try {
          out.rows = cache.rows(task.key);
          out.examples = cache.examples(task.key);
          relabel_rows(out.rows, out.examples, kProducingNodePlaceholder, task.node);
          out.state = TaskState::cached;
        } catch (const std::exception& e) {
          out.state = TaskState::failed;
          out.error = e.what();
        }
        finish(t);
        continue;
      }
      if (options.cancel && options.cancel->load()) {
        out.state = TaskState::cancelled;
        out.error = "interrupted before it started";
        ++done_run;
        finish(t);
        continue;
      }
      ++running;
      draw_progress();
      lock.unlock();
      TaskOutcome result;
      {
        TaskLock task_lock(cache.root(), task.key);
        // Another process (a concurrent shard) may have published it while we waited; its entry
        // is identical by construction. Forced tasks were cached at plan time and run anyway.
        if (!task.cached && cache.contains(task.key)) {
          logger->info("{} [{}] was computed by another process meanwhile; using it", task.node, task.key.substr(0, 12));
          try {
            result.rows = cache.rows(task.key);
            result.examples = cache.examples(task.key);
            relabel_rows(result.rows, result.examples, kProducingNodePlaceholder, task.node);
            result.state = TaskState::cached;
          } catch (const std::exception& e) {
            result.state = TaskState::failed;
            result.error = e.what();
          }
        } else {
          logger->info("running {} ({}) [{}]", task.node, task.plugin->name(), task.key.substr(0, 12));
          result = run_task(t);
        }
      }
      lock.lock();
      --running;
      ++done_run;
      run_seconds += result.seconds;
      outcome.tasks[t] = std::move(result);
      if (outcome.tasks[t].state == TaskState::ok)
        logger->info("done {} in {}", task.node, format_duration(outcome.tasks[t].seconds));
      finish(t);
      draw_progress();
    }
  };

  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (options.progress_line) std::fprintf(stderr, "\r\033[K"), std::fflush(stderr);
  return outcome;
}

}  // namespace biaslab
