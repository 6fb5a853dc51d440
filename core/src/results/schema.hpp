#pragma once
// The results database schema, version kSchemaVersion (results_db.hpp). Keep
// docs/results-schema.md in step with this text, and bump kSchemaVersion on any change.
//
//   schema_version  one row: the version number.
//   runs            one row per `biaslab run` invocation on the run directory.
//   cells           one row per grid cell; grid values as a JSON object (flattened into
//                   grid.<var> columns by the exports; in SQL use json_extract(grid, '$.var')).
//   nodes           one row per (cell, node): plugin, version, cache key, status, time, error.
//   results         one row per (cell, node, model, metric, category). value NULL means NaN
//                   (SQLite stores NaN as NULL); ci_low/ci_high/n NULL when not reported.
//   examples        per-item scores of a node, values as a JSON object.
//   results_view, examples_view  the rows joined with their node and cell, for ad-hoc SQL.
//
// results/examples reference nodes with ON DELETE CASCADE, but re-recording a node keeps its
// node_id and deletes its rows explicitly (results_db.cpp), in one transaction.
#include <string_view>

namespace biaslab::results {

inline constexpr std::string_view kSchemaSql = R"sql(
CREATE TABLE schema_version (
  version INTEGER NOT NULL
);

CREATE TABLE runs (
  run_id          TEXT PRIMARY KEY,
  pipeline_name   TEXT NOT NULL,
  pipeline_hash   TEXT NOT NULL,
  grid_variables  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(grid_variables)),
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  status          TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted'))
);

CREATE TABLE cells (
  cell_id     INTEGER PRIMARY KEY,
  cell_index  INTEGER NOT NULL UNIQUE,
  grid        TEXT NOT NULL CHECK (json_valid(grid))
);

CREATE TABLE nodes (
  node_id         INTEGER PRIMARY KEY,
  cell_id         INTEGER NOT NULL REFERENCES cells (cell_id) ON DELETE CASCADE,
  node            TEXT NOT NULL,
  plugin          TEXT NOT NULL,
  plugin_version  TEXT NOT NULL,
  cache_key       TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('ok', 'cached', 'failed', 'skipped')),
  seconds         REAL NOT NULL,
  error           TEXT NOT NULL DEFAULT '',
  run_id          TEXT REFERENCES runs (run_id),
  recorded_at     TEXT NOT NULL,
  UNIQUE (cell_id, node)
);

CREATE TABLE results (
  result_id  INTEGER PRIMARY KEY,
  node_id    INTEGER NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
  model      TEXT NOT NULL,
  metric     TEXT NOT NULL,
  category   TEXT NOT NULL,
  value      REAL,
  ci_low     REAL,
  ci_high    REAL,
  n          INTEGER,
  extra      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
  UNIQUE (node_id, model, metric, category)
);
CREATE INDEX results_by_metric ON results (metric);

CREATE TABLE examples (
  example_row_id  INTEGER PRIMARY KEY,
  node_id         INTEGER NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
  model           TEXT NOT NULL,
  metric          TEXT NOT NULL,
  example_id      TEXT NOT NULL,
  values_json     TEXT NOT NULL CHECK (json_valid(values_json))
);
CREATE INDEX examples_by_node ON examples (node_id);

CREATE VIEW results_view AS
  SELECT c.cell_index, c.grid, n.node, n.plugin, n.plugin_version, n.status AS node_status,
         r.model, r.metric, r.category, r.value, r.ci_low, r.ci_high, r.n, r.extra
  FROM results r JOIN nodes n ON n.node_id = r.node_id JOIN cells c ON c.cell_id = n.cell_id;

CREATE VIEW examples_view AS
  SELECT c.cell_index, c.grid, n.node, n.plugin, e.model, e.metric, e.example_id, e.values_json
  FROM examples e JOIN nodes n ON n.node_id = e.node_id JOIN cells c ON c.cell_id = n.cell_id;
)sql";

}  // namespace biaslab::results
