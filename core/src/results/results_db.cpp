#include "biaslab/results_db.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "biaslab/provenance.hpp"
#include "results/schema.hpp"
#include "results/sqlite.hpp"

namespace biaslab::results {

using sqlite::Query;
using sqlite::Statement;

std::filesystem::path database_path(const std::filesystem::path& run_dir) {
  return run_dir / kDatabaseFileName;
}

ResultsDbError::~ResultsDbError() = default;

SchemaVersionError::SchemaVersionError(const std::filesystem::path& file, int found)
    : ResultsDbError("results database " + file.string() + " has schema version " +
                     std::to_string(found) + ", but this biaslab reads schema version " +
                     std::to_string(kSchemaVersion) +
                     ": use the biaslab version that wrote it, or run the pipeline into a new run "
                     "directory"),
      found_(found) {}

SchemaVersionError::~SchemaVersionError() = default;

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::running: return "running";
    case RunStatus::ok: return "ok";
    case RunStatus::failed: return "failed";
    case RunStatus::interrupted: return "interrupted";
  }
  return "?";
}

std::string_view to_string(NodeStatus s) {
  switch (s) {
    case NodeStatus::ok: return "ok";
    case NodeStatus::cached: return "cached";
    case NodeStatus::failed: return "failed";
    case NodeStatus::skipped: return "skipped";
  }
  return "?";
}

RunStatus run_status_from_string(std::string_view s) {
  for (RunStatus v : {RunStatus::running, RunStatus::ok, RunStatus::failed, RunStatus::interrupted})
    if (to_string(v) == s) return v;
  throw std::invalid_argument("unknown run status '" + std::string(s) +
                              "' (expected running, ok, failed or interrupted)");
}

NodeStatus node_status_from_string(std::string_view s) {
  for (NodeStatus v : {NodeStatus::ok, NodeStatus::cached, NodeStatus::failed, NodeStatus::skipped})
    if (to_string(v) == s) return v;
  throw std::invalid_argument("unknown node status '" + std::string(s) +
                              "' (expected ok, cached, failed or skipped)");
}

namespace {

void flatten_into(const std::string& prefix, const nlohmann::json& v,
                  std::vector<std::pair<std::string, nlohmann::json>>& out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [key, child] : v.items()) flatten_into(prefix + "." + key, child, out);
  } else {
    out.emplace_back(prefix, v);
  }
}

}  // namespace

std::vector<std::pair<std::string, nlohmann::json>> flatten_grid(const nlohmann::json& grid) {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  if (!grid.is_object()) return out;
  for (const auto& [key, value] : grid.items()) flatten_into(key, value, out);
  return out;
}

namespace {

// Connection plus the statements prepared once the schema is known to match.
struct Statements {
  explicit Statements(sqlite::Connection& db)
      : insert_run(db, R"sql(
          INSERT INTO runs (run_id, pipeline_name, pipeline_hash, grid_variables, started_at,
                            finished_at, status)
          VALUES (?1, ?2, ?3, ?4, ?5, NULLIF(?6, ''), ?7)
          ON CONFLICT (run_id) DO UPDATE SET
            pipeline_name = excluded.pipeline_name, pipeline_hash = excluded.pipeline_hash,
            grid_variables = excluded.grid_variables, started_at = excluded.started_at,
            finished_at = excluded.finished_at, status = excluded.status)sql"),
        finish_run(db, "UPDATE runs SET status = ?2, finished_at = ?3 WHERE run_id = ?1"),
        select_cell(db, "SELECT cell_id, grid FROM cells WHERE cell_index = ?1"),
        insert_cell(db, "INSERT INTO cells (cell_index, grid) VALUES (?1, ?2)"),
        upsert_node(db, R"sql(
          INSERT INTO nodes (cell_id, node, plugin, plugin_version, cache_key, status, seconds,
                             error, run_id, recorded_at)
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
          ON CONFLICT (cell_id, node) DO UPDATE SET
            plugin = excluded.plugin, plugin_version = excluded.plugin_version,
            cache_key = excluded.cache_key, status = excluded.status, seconds = excluded.seconds,
            error = excluded.error, run_id = excluded.run_id, recorded_at = excluded.recorded_at
          RETURNING node_id)sql"),
        delete_results(db, "DELETE FROM results WHERE node_id = ?1"),
        delete_examples(db, "DELETE FROM examples WHERE node_id = ?1"),
        insert_result(db, R"sql(
          INSERT INTO results (node_id, model, metric, category, value, ci_low, ci_high, n, extra)
          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql"),
        insert_example(db, R"sql(
          INSERT INTO examples (node_id, model, metric, example_id, values_json)
          VALUES (?1, ?2, ?3, ?4, ?5))sql"),
        select_runs(db, R"sql(
          SELECT run_id, pipeline_name, pipeline_hash, grid_variables, started_at,
                 coalesce(finished_at, ''), status
          FROM runs ORDER BY started_at, rowid)sql"),
        select_cells(db, "SELECT cell_index, grid FROM cells ORDER BY cell_index"),
        select_nodes(db, R"sql(
          SELECT c.cell_index, n.node, n.plugin, n.plugin_version, n.cache_key, n.status,
                 n.seconds, n.error, coalesce(n.run_id, ''), n.recorded_at
          FROM nodes n JOIN cells c ON c.cell_id = n.cell_id
          ORDER BY c.cell_index, n.node)sql"),
        select_results(db, R"sql(
          SELECT c.cell_index, c.grid, n.node, n.plugin, r.model, r.metric, r.category, r.value,
                 r.ci_low, r.ci_high, r.n, r.extra
          FROM results r JOIN nodes n ON n.node_id = r.node_id JOIN cells c ON c.cell_id = n.cell_id
          WHERE (?1 IS NULL OR r.metric GLOB ?1) AND (?2 IS NULL OR n.node = ?2)
          ORDER BY c.cell_index, n.node, r.result_id)sql"),
        select_examples(db, R"sql(
          SELECT c.cell_index, c.grid, n.node, n.plugin, e.model, e.metric, e.example_id,
                 e.values_json
          FROM examples e JOIN nodes n ON n.node_id = e.node_id JOIN cells c ON c.cell_id = n.cell_id
          WHERE (?1 IS NULL OR e.metric GLOB ?1) AND (?2 IS NULL OR n.node = ?2)
          ORDER BY c.cell_index, n.node, e.example_row_id)sql"),
        latest_grid_variables(
            db, "SELECT grid_variables FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1") {}

  Statement insert_run, finish_run, select_cell, insert_cell, upsert_node, delete_results,
      delete_examples, insert_result, insert_example, select_runs, select_cells, select_nodes,
      select_results, select_examples, latest_grid_variables;
};

bool has_table(sqlite::Connection& db, std::string_view name) {
  Statement s(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  Query q(s);
  q.bind(1, name);
  return q.step();
}

int object_count(sqlite::Connection& db) {
  Statement s(db, "SELECT count(*) FROM sqlite_master");
  Query q(s);
  q.step();
  return static_cast<int>(q.integer(0));
}

void create_schema_if_empty(sqlite::Connection& db) {
  sqlite::Transaction tx(db);
  if (object_count(db) == 0) {
    db.exec(kSchemaSql);
    db.exec("INSERT INTO schema_version (version) VALUES (" + std::to_string(kSchemaVersion) +
            ")");
  }
  tx.commit();
}

void check_schema(sqlite::Connection& db) {
  const std::string file = db.file().string();
  if (object_count(db) == 0)
    throw ResultsDbError("results database " + file + " is empty (no biaslab results schema)");
  if (!has_table(db, "schema_version"))
    throw ResultsDbError(file + " is not a biaslab results database (no schema_version table)");
  Statement s(db, "SELECT version FROM schema_version");
  Query q(s);
  if (!q.step())
    throw ResultsDbError("results database " + file + ": schema_version table is empty");
  const std::int64_t version = q.integer(0);
  if (q.step())
    throw ResultsDbError("results database " + file + ": schema_version has more than one row");
  if (version != kSchemaVersion) throw SchemaVersionError(db.file(), static_cast<int>(version));
}

nlohmann::json parse_stored_json(const std::string& text, const sqlite::Connection& db,
                                 std::string_view what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ResultsDbError("results database " + db.file().string() + ": invalid JSON in " +
                         std::string(what) + ": " + e.what());
  }
}

double stored_double(const Query& q, int col) {
  return q.is_null(col) ? std::numeric_limits<double>::quiet_NaN() : q.real(col);
}

std::optional<double> stored_optional_double(const Query& q, int col) {
  if (q.is_null(col)) return std::nullopt;
  return q.real(col);
}

// Grid JSON is parsed once per cell, not once per row.
class GridCache {
 public:
  explicit GridCache(const sqlite::Connection& db) : db_(db) {}
  const nlohmann::json& get(std::size_t cell_index, const std::string& text) {
    auto it = cache_.find(cell_index);
    if (it == cache_.end())
      it = cache_.emplace(cell_index, parse_stored_json(text, db_, "cells.grid")).first;
    return it->second;
  }

 private:
  const sqlite::Connection& db_;
  std::map<std::size_t, nlohmann::json> cache_;
};

void bind_filter(Query& q, const ResultFilter& f) {
  if (f.metric_glob.empty()) q.bind_null(1); else q.bind(1, f.metric_glob);
  if (f.node.empty()) q.bind_null(2); else q.bind(2, f.node);
}

}  // namespace

struct ResultsDatabase::Impl {
  Impl(const std::filesystem::path& file, Mode mode)
      : db(open(file, mode)), stmts((prepare(db, mode), db)) {}

  static sqlite::Connection open(const std::filesystem::path& file, Mode mode) {
    if (mode == Mode::read_only) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec))
        throw ResultsDbError("no results database at " + file.string());
      return sqlite::Connection(file, SQLITE_OPEN_READONLY);
    }
    return sqlite::Connection(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  }

  // Runs before any statement is prepared, since statements fail to compile on another schema.
  static void prepare(sqlite::Connection& db, Mode mode) {
    db.exec("PRAGMA foreign_keys = ON");
    if (mode == Mode::read_write) {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      create_schema_if_empty(db);
    }
    check_schema(db);
  }

  sqlite::Connection db;
  Statements stmts;
  mutable std::mutex mutex;
  std::string current_run_id;
};

ResultsDatabase::ResultsDatabase(const std::filesystem::path& file, Mode mode)
    : impl_(std::make_unique<Impl>(file, mode)) {}

ResultsDatabase::~ResultsDatabase() = default;
ResultsDatabase::ResultsDatabase(ResultsDatabase&&) noexcept = default;
ResultsDatabase& ResultsDatabase::operator=(ResultsDatabase&&) noexcept = default;

const std::filesystem::path& ResultsDatabase::path() const { return impl_->db.file(); }

void ResultsDatabase::begin_run(const RunRecord& run) {
  std::lock_guard lock(impl_->mutex);
  Query q(impl_->stmts.insert_run);
  q.bind(1, run.run_id)
      .bind(2, run.pipeline_name)
      .bind(3, run.pipeline_hash)
      .bind(4, nlohmann::json(run.grid_variables).dump())
      .bind(5, run.started_at)
      .bind(6, run.finished_at)
      .bind(7, to_string(run.status));
  q.run();
  impl_->current_run_id = run.run_id;
}

void ResultsDatabase::finish_run(const std::string& run_id, RunStatus status,
                                 const std::string& finished_at) {
  std::lock_guard lock(impl_->mutex);
  Query q(impl_->stmts.finish_run);
  q.bind(1, run_id).bind(2, to_string(status)).bind(3, finished_at);
  q.run();
  if (sqlite3_changes(impl_->db.get()) == 0)
    throw ResultsDbError("results database " + path().string() + ": no run '" + run_id +
                         "' to finish (begin_run was not called)");
}

void ResultsDatabase::upsert_cell(std::size_t index, const nlohmann::json& grid) {
  if (!grid.is_object())
    throw std::invalid_argument("grid values of cell " + std::to_string(index) +
                                " must be a JSON object, got " + grid.dump());
  std::lock_guard lock(impl_->mutex);
  sqlite::Transaction tx(impl_->db);
  {
    Query q(impl_->stmts.select_cell);
    q.bind(1, static_cast<std::int64_t>(index));
    if (q.step()) {
      nlohmann::json stored = parse_stored_json(q.text(1), impl_->db, "cells.grid");
      if (stored != grid)
        throw ResultsDbError("results database " + path().string() + ": cell " +
                             std::to_string(index) + " is recorded with grid " + stored.dump() +
                             ", not " + grid.dump() +
                             ": the run directory belongs to another pipeline or grid");
      return;
    }
  }
  Query ins(impl_->stmts.insert_cell);
  ins.bind(1, static_cast<std::int64_t>(index)).bind(2, grid.dump());
  ins.run();
  tx.commit();
}

void ResultsDatabase::record_node(std::size_t cell_index, const NodeRecord& node,
                                  std::span<const ResultRow> rows,
                                  std::span<const ExampleRow> examples) {
  std::lock_guard lock(impl_->mutex);
  auto& st = impl_->stmts;
  sqlite::Transaction tx(impl_->db);

  std::int64_t cell_id = 0;
  {
    Query q(st.select_cell);
    q.bind(1, static_cast<std::int64_t>(cell_index));
    if (!q.step())
      throw ResultsDbError("results database " + path().string() + ": node '" + node.node +
                           "' reported for cell " + std::to_string(cell_index) +
                           ", which was never registered (call upsert_cell first)");
    cell_id = q.integer(0);
  }

  std::int64_t node_id = 0;
  {
    Query q(st.upsert_node);
    q.bind(1, cell_id)
        .bind(2, node.node)
        .bind(3, node.plugin)
        .bind(4, node.plugin_version)
        .bind(5, node.cache_key)
        .bind(6, to_string(node.status))
        .bind(7, node.seconds)
        .bind(8, node.error)
        .bind(10, iso8601_utc_now());
    if (impl_->current_run_id.empty()) q.bind_null(9); else q.bind(9, impl_->current_run_id);
    if (!q.step()) impl_->db.fail("cannot record node '" + node.node + "'");
    node_id = q.integer(0);
    q.run();
  }
  {
    Query q(st.delete_results);
    q.bind(1, node_id);
    q.run();
  }
  {
    Query q(st.delete_examples);
    q.bind(1, node_id);
    q.run();
  }

  for (const ResultRow& r : rows) {
    Query q(st.insert_result);
    q.bind(1, node_id)
        .bind(2, r.model)
        .bind(3, r.metric)
        .bind(4, r.category)
        .bind(5, r.value)
        .bind(6, r.ci_low)
        .bind(7, r.ci_high)
        .bind(8, r.n)
        .bind(9, r.extra.dump());
    const int rc = sqlite3_step(st.insert_result.get());
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
      throw ResultsDbError("node '" + node.node + "' in cell " + std::to_string(cell_index) +
                           " reported result (model '" + r.model + "', metric '" + r.metric +
                           "', category '" + r.category + "') twice; results database " +
                           path().string() + " left unchanged");
    if (rc != SQLITE_DONE)
      impl_->db.fail("cannot record results of node '" + node.node + "'");
  }
  for (const ExampleRow& e : examples) {
    Query q(st.insert_example);
    q.bind(1, node_id)
        .bind(2, e.model)
        .bind(3, e.metric)
        .bind(4, e.example_id)
        .bind(5, e.values.dump());
    q.run();
  }
  tx.commit();
}

std::vector<RunRecord> ResultsDatabase::runs() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<RunRecord> out;
  Query q(impl_->stmts.select_runs);
  while (q.step()) {
    RunRecord r;
    r.run_id = q.text(0);
    r.pipeline_name = q.text(1);
    r.pipeline_hash = q.text(2);
    r.grid_variables = parse_stored_json(q.text(3), impl_->db, "runs.grid_variables")
                           .get<std::vector<std::string>>();
    r.started_at = q.text(4);
    r.finished_at = q.text(5);
    r.status = run_status_from_string(q.text(6));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<CellRecord> ResultsDatabase::cells() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<CellRecord> out;
  Query q(impl_->stmts.select_cells);
  while (q.step())
    out.push_back({static_cast<std::size_t>(q.integer(0)),
                   parse_stored_json(q.text(1), impl_->db, "cells.grid")});
  return out;
}

std::vector<StoredNode> ResultsDatabase::nodes() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<StoredNode> out;
  Query q(impl_->stmts.select_nodes);
  while (q.step()) {
    StoredNode n;
    n.cell_index = static_cast<std::size_t>(q.integer(0));
    n.record.node = q.text(1);
    n.record.plugin = q.text(2);
    n.record.plugin_version = q.text(3);
    n.record.cache_key = q.text(4);
    n.record.status = node_status_from_string(q.text(5));
    n.record.seconds = q.real(6);
    n.record.error = q.text(7);
    n.run_id = q.text(8);
    n.recorded_at = q.text(9);
    out.push_back(std::move(n));
  }
  return out;
}

std::vector<StoredResult> ResultsDatabase::results(const ResultFilter& filter) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<StoredResult> out;
  GridCache grids(impl_->db);
  Query q(impl_->stmts.select_results);
  bind_filter(q, filter);
  while (q.step()) {
    StoredResult r;
    r.cell_index = static_cast<std::size_t>(q.integer(0));
    r.grid = grids.get(r.cell_index, q.text(1));
    r.node = q.text(2);
    r.plugin = q.text(3);
    r.row.model = q.text(4);
    r.row.metric = q.text(5);
    r.row.category = q.text(6);
    r.row.value = stored_double(q, 7);
    r.row.ci_low = stored_optional_double(q, 8);
    r.row.ci_high = stored_optional_double(q, 9);
    if (!q.is_null(10)) r.row.n = q.integer(10);
    r.row.extra = parse_stored_json(q.text(11), impl_->db, "results.extra");
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<StoredExample> ResultsDatabase::examples(const ResultFilter& filter) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<StoredExample> out;
  GridCache grids(impl_->db);
  Query q(impl_->stmts.select_examples);
  bind_filter(q, filter);
  while (q.step()) {
    StoredExample e;
    e.cell_index = static_cast<std::size_t>(q.integer(0));
    e.grid = grids.get(e.cell_index, q.text(1));
    e.node = q.text(2);
    e.plugin = q.text(3);
    e.row.model = q.text(4);
    e.row.metric = q.text(5);
    e.row.example_id = q.text(6);
    e.row.values = parse_stored_json(q.text(7), impl_->db, "examples.values_json");
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> ResultsDatabase::grid_columns() const {
  std::vector<std::string> declared;
  {
    std::lock_guard lock(impl_->mutex);
    Query q(impl_->stmts.latest_grid_variables);
    if (q.step())
      declared = parse_stored_json(q.text(0), impl_->db, "runs.grid_variables")
                     .get<std::vector<std::string>>();
  }
  std::set<std::string> found;
  for (const CellRecord& c : cells())
    for (auto& [name, value] : flatten_grid(c.grid)) found.insert(name);

  std::vector<std::string> out;
  for (const std::string& var : declared) {
    for (auto it = found.begin(); it != found.end();) {
      if (*it == var || it->starts_with(var + ".")) {
        out.push_back(*it);
        it = found.erase(it);
      } else {
        ++it;
      }
    }
  }
  out.insert(out.end(), found.begin(), found.end());
  return out;
}

}  // namespace biaslab::results
