#pragma once
// The results database of a run: <run_dir>/results.sqlite (SQLite, WAL). Every node of every
// grid cell reports its ResultRow/ExampleRow lists here; exports (results.csv, results.json) and
// `biaslab results` read it back. The schema is documented in docs/results-schema.md.
//
// Thread-safe: one connection guarded by an internal mutex, so executor threads may report
// concurrently. Re-recording the same (cell, node) replaces that node's rows, so a resumed run
// never duplicates results.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/results.hpp"

namespace biaslab::results {

// Bumped on any change to the tables or their meaning. A database written with another version
// is refused (SchemaVersionError), never silently misread.
inline constexpr int kSchemaVersion = 1;

inline constexpr std::string_view kDatabaseFileName = "results.sqlite";

// <run_dir>/results.sqlite
BIASLAB_API std::filesystem::path database_path(const std::filesystem::path& run_dir);

// Any failure to open, read or write the database; the message names the file.
class BIASLAB_API ResultsDbError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~ResultsDbError() override;
};

// The file holds a biaslab results database of another schema version.
class BIASLAB_API SchemaVersionError : public ResultsDbError {
 public:
  SchemaVersionError(const std::filesystem::path& file, int found);
  ~SchemaVersionError() override;
  int found() const { return found_; }

 private:
  int found_;
};

enum class RunStatus { running, ok, failed, interrupted };
enum class NodeStatus { ok, cached, failed, skipped };

BIASLAB_API std::string_view to_string(RunStatus s);
BIASLAB_API std::string_view to_string(NodeStatus s);
// Throw std::invalid_argument on an unknown name.
BIASLAB_API RunStatus run_status_from_string(std::string_view s);
BIASLAB_API NodeStatus node_status_from_string(std::string_view s);

// One invocation of `biaslab run` on this run directory (a resumed run adds another).
struct RunRecord {
  std::string run_id;                       // chosen by the caller, unique per invocation
  std::string pipeline_name;
  std::string pipeline_hash;
  std::vector<std::string> grid_variables;  // declared order; exports order grid columns by it
  std::string started_at;                   // ISO 8601 UTC (iso8601_utc_now() in provenance.hpp)
  std::string finished_at;                  // empty while running
  RunStatus status = RunStatus::running;
};

struct CellRecord {
  std::size_t index = 0;
  nlohmann::json grid = nlohmann::json::object();  // grid variable -> value
};

// What happened to one node in one cell.
struct NodeRecord {
  std::string node;            // pipeline node name
  std::string plugin;
  std::string plugin_version;
  std::string cache_key;
  NodeStatus status = NodeStatus::ok;
  double seconds = 0.0;        // wall time of the run (0 for cached/skipped)
  std::string error;           // failure message, empty otherwise
};

// A NodeRecord as stored, with its cell and the run that recorded it last.
struct StoredNode {
  std::size_t cell_index = 0;
  NodeRecord record;
  std::string run_id;          // empty when recorded outside begin_run()
  std::string recorded_at;     // ISO 8601 UTC
};

struct StoredResult {
  std::size_t cell_index = 0;
  nlohmann::json grid;         // the cell's grid values
  std::string node;
  std::string plugin;
  ResultRow row;               // value NaN where a NaN was recorded (SQLite stores it as NULL)
};

struct StoredExample {
  std::size_t cell_index = 0;
  nlohmann::json grid;
  std::string node;
  std::string plugin;
  ExampleRow row;
};

// Selects rows; empty fields select everything.
struct ResultFilter {
  std::string metric_glob;  // shell-style, case-sensitive (SQLite GLOB): "crows_pairs.*"
  std::string node;         // exact node name
};

class BIASLAB_API ResultsDatabase {
 public:
  enum class Mode {
    read_write,  // create the file and schema when missing
    read_only    // the file must exist and hold a biaslab results schema
  };

  // Opens (or creates) the database file. Throws SchemaVersionError when the file has another
  // schema version, ResultsDbError for anything else (missing file in read_only mode, not a
  // SQLite file, not a biaslab database, I/O errors).
  explicit ResultsDatabase(const std::filesystem::path& file, Mode mode = Mode::read_write);
  ~ResultsDatabase();
  ResultsDatabase(ResultsDatabase&&) noexcept;
  ResultsDatabase& operator=(ResultsDatabase&&) noexcept;
  ResultsDatabase(const ResultsDatabase&) = delete;
  ResultsDatabase& operator=(const ResultsDatabase&) = delete;

  const std::filesystem::path& path() const;

  // Records (or updates) a run and makes it the current one: nodes recorded afterwards carry
  // its id.
  void begin_run(const RunRecord& run);
  void finish_run(const std::string& run_id, RunStatus status, const std::string& finished_at);

  // Registers a cell. Recording the same index again with the same grid is a no-op; another
  // grid for an existing index throws ResultsDbError (the run directory belongs to another
  // pipeline expansion).
  void upsert_cell(std::size_t index, const nlohmann::json& grid);

  // Stores what a node did in a cell, replacing everything previously recorded for that
  // (cell, node) in one transaction. The cell must be registered. Two rows with the same
  // (model, metric, category) throw ResultsDbError and leave the database unchanged.
  void record_node(std::size_t cell_index, const NodeRecord& node,
                   std::span<const ResultRow> rows = {},
                   std::span<const ExampleRow> examples = {});

  // Reads, in a deterministic order: cells by index; nodes/results/examples by cell index, then
  // node name, then the order the node emitted them.
  std::vector<RunRecord> runs() const;
  std::vector<CellRecord> cells() const;
  std::vector<StoredNode> nodes() const;
  std::vector<StoredResult> results(const ResultFilter& filter = {}) const;
  std::vector<StoredExample> examples(const ResultFilter& filter = {}) const;

  // Flattened grid column names (nested tables become "var.field"): the declared order of the
  // most recent run first, then any other names found in the cells, sorted.
  std::vector<std::string> grid_columns() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Flattens a cell's grid values: {"size":"70m","q":{"bits":4}} -> [("size","70m"),("q.bits",4)].
// Arrays and scalars are leaves.
BIASLAB_API std::vector<std::pair<std::string, nlohmann::json>> flatten_grid(
    const nlohmann::json& grid);

}  // namespace biaslab::results
