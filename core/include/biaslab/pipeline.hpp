#pragma once
// A pipeline file, parsed: metadata, grid, variables and the nodes of the DAG, each value still
// carrying its source position so later stages can point at it. See docs/pipelines.md.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/diagnostics.hpp"
#include "biaslab/export.hpp"

namespace biaslab {

// A value from the pipeline file as JSON, plus the position of every value inside it (keyed by
// JSON pointer, "" = the value itself), so errors about nested parameters point at them.
struct LocatedValue {
  nlohmann::json value;
  std::map<std::string, SourceLocation> locations;
  SourceLocation where() const;
};

struct GridAxis {
  std::string name;
  std::vector<nlohmann::json> values;
  SourceLocation where;
};

struct GridSpec {
  std::vector<GridAxis> product;               // cartesian axes, in file order
  std::vector<std::vector<GridAxis>> zipped;   // groups of axes that vary together
  std::vector<std::pair<nlohmann::json, SourceLocation>> exclude;  // tables var -> value(s)
  bool empty() const { return product.empty() && zipped.empty(); }
};

// An input reference: "node" or "node:member" (a member of a collection artifact, e.g. one
// checkpoint of a training run).
struct InputRef {
  std::string node;
  std::string member;
  SourceLocation where;
  std::string text() const { return member.empty() ? node : node + ":" + member; }
};

struct NodeSpec {
  std::string name;
  LocatedValue plugin;                          // string, may contain ${...}
  std::map<std::string, LocatedValue> params;   // every other key of the node table
  // Port name -> references; "" is the plugin's primary (first) port.
  std::vector<std::pair<std::string, std::vector<LocatedValue>>> inputs;
  std::optional<LocatedValue> seed;
  SourceLocation where;
};

struct Pipeline {
  std::filesystem::path path;
  std::string text;                   // file contents, for hashing and provenance
  std::string name;
  std::string description;
  LocatedValue seed;                  // integer, may be interpolated from the grid
  std::map<std::string, LocatedValue> vars;
  GridSpec grid;
  std::vector<NodeSpec> nodes;        // in name order (TOML tables are unordered)
  std::vector<std::string> overrides; // --set arguments applied, for provenance
  SourceLocation where;
  // Structural problems found while parsing. make_plan reports them together with everything
  // it finds itself, so a user sees every problem of a file at once.
  std::vector<Diagnostic> problems;
};

// Parses a pipeline file. `overrides` are "dotted.key=value" strings (value in TOML syntax, or
// a bare string), applied before validation like Hydra's command-line overrides. Throws
// DiagnosticError for TOML syntax errors; other problems are collected in Pipeline::problems
// (see also throw_if_problems).
BIASLAB_API Pipeline parse_pipeline(const std::filesystem::path& file,
                                    const std::vector<std::string>& overrides = {});
BIASLAB_API Pipeline parse_pipeline_text(const std::string& text, const std::string& display_name,
                                         const std::vector<std::string>& overrides = {});

inline void throw_if_problems(const Pipeline& p) {
  if (!p.problems.empty()) throw DiagnosticError(p.problems);
}

// One combination of grid values.
struct Cell {
  std::size_t index = 0;
  nlohmann::json values = nlohmann::json::object();  // var -> value
  std::vector<std::string> names;                     // grid variables in declaration order
  std::string label() const;                          // "size=70m step=1000", "(single cell)"
};

BIASLAB_API std::vector<Cell> expand_grid(const Pipeline& p, DiagnosticSink& sink);

// Replaces ${name} / ${name.field} using the cell's grid values, then [vars], then built-ins
// (pipeline.name, pipeline.seed). A string that is exactly "${x}" takes x's type (number,
// table, array); "$${" escapes a literal "${". Unknown names are reported at their position.
BIASLAB_API nlohmann::json interpolate(const LocatedValue& v, const nlohmann::json& scope,
                                       DiagnosticSink& sink);

BIASLAB_API std::string pipeline_hash(const Pipeline& p);

}  // namespace biaslab
