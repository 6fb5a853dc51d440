// TOML pipeline files -> Pipeline. Every value keeps its source position (toml++ source regions)
// so validation errors point at the exact key or value the user wrote.
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "biaslab/pipeline.hpp"

namespace biaslab {

namespace {

constexpr const char* kCommandLine = "<command line>";

SourceLocation location_of(const toml::source_region& r, const std::string& file) {
  if (r.begin.line == 0) return {kCommandLine, 0, 0};  // inserted by --set
  return {file, static_cast<std::uint32_t>(r.begin.line), static_cast<std::uint32_t>(r.begin.column)};
}

std::string escape_pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

nlohmann::json to_json(const toml::node& node, const std::string& file, const std::string& pointer,
                       std::map<std::string, SourceLocation>& locations) {
  locations[pointer] = location_of(node.source(), file);
  switch (node.type()) {
    case toml::node_type::table: {
      nlohmann::json obj = nlohmann::json::object();
      for (auto&& [k, v] : *node.as_table()) {
        std::string key(k.str());
        std::string child = pointer + "/" + escape_pointer_token(key);
        obj[key] = to_json(v, file, child, locations);
        // Errors about a key (unknown parameter) point at the key itself.
        locations[child + "#key"] = location_of(k.source(), file);
      }
      return obj;
    }
    case toml::node_type::array: {
      nlohmann::json arr = nlohmann::json::array();
      std::size_t i = 0;
      for (auto&& v : *node.as_array()) arr.push_back(to_json(v, file, pointer + "/" + std::to_string(i++), locations));
      return arr;
    }
    case toml::node_type::string: return node.as_string()->get();
    case toml::node_type::integer: return node.as_integer()->get();
    case toml::node_type::floating_point: return node.as_floating_point()->get();
    case toml::node_type::boolean: return node.as_boolean()->get();
    default: {
      std::ostringstream os;
      if (auto* d = node.as_date()) os << d->get();
      else if (auto* t = node.as_time()) os << t->get();
      else if (auto* dt = node.as_date_time()) os << dt->get();
      return os.str();
    }
  }
}

LocatedValue located(const toml::node& node, const std::string& file) {
  LocatedValue v;
  v.value = to_json(node, file, "", v.locations);
  return v;
}

// --set a.b.c=value: value parsed as TOML if it is a valid TOML value, else taken as a string.
void apply_override(toml::table& root, const std::string& text, DiagnosticSink& sink) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    sink.error({kCommandLine, 0, 0}, "--set expects key=value, got '" + text + "'");
    return;
  }
  std::string path = text.substr(0, eq), raw = text.substr(eq + 1);
  toml::node_view<toml::node> parsed_value;
  toml::table holder;
  try {
    holder = toml::parse("v = " + raw);
  } catch (const toml::parse_error&) {
    holder = toml::table{};
    holder.insert("v", raw);
  }
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  toml::table* tbl = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* next = tbl->get(parts[i]);
    if (!next) {
      tbl->insert(parts[i], toml::table{});
      next = tbl->get(parts[i]);
    }
    if (!next->is_table()) {
      sink.error({kCommandLine, 0, 0}, "--set " + path + ": '" + parts[i] + "' is not a table");
      return;
    }
    tbl = next->as_table();
  }
  // Re-create the value so it carries no source position (it came from the command line).
  const toml::node* v = holder.get("v");
  toml::table fresh;
  v->visit([&](auto&& x) { fresh.insert("v", x); });
  tbl->insert_or_assign(parts.back(), std::move(*fresh.get("v")));
}

const std::set<std::string> kTopLevel = {"pipeline", "vars", "grid", "nodes"};
const std::set<std::string> kPipelineKeys = {"name", "description", "seed"};

void parse_grid(const toml::table& grid, const std::string& file, Pipeline& p, DiagnosticSink& sink) {
  auto axis_from = [&](const std::string& name, const toml::node& node) -> std::optional<GridAxis> {
    GridAxis axis{name, {}, location_of(node.source(), file)};
    const auto* arr = node.as_array();
    if (!arr) {
      sink.error(axis.where, "grid axis '" + name + "' must be an array of values");
      return std::nullopt;
    }
    if (arr->empty()) {
      sink.error(axis.where, "grid axis '" + name + "' has no values");
      return std::nullopt;
    }
    std::map<std::string, SourceLocation> ignored;
    for (auto&& v : *arr) axis.values.push_back(to_json(v, file, "", ignored));
    return axis;
  };
  std::set<std::string> seen;
  auto note_name = [&](const std::string& name, const SourceLocation& where) {
    if (!seen.insert(name).second) sink.error(where, "grid variable '" + name + "' is defined twice");
  };
  for (auto&& [k, v] : grid) {
    std::string key(k.str());
    if (key == "zip") {
      const auto* groups = v.as_array();
      if (!groups) {
        sink.error(location_of(v.source(), file), "grid.zip must be an array of tables ([[grid.zip]])");
        continue;
      }
      for (auto&& g : *groups) {
        const auto* t = g.as_table();
        if (!t) {
          sink.error(location_of(g.source(), file), "each [[grid.zip]] entry must be a table of arrays");
          continue;
        }
        std::vector<GridAxis> group;
        for (auto&& [zk, zv] : *t) {
          note_name(std::string(zk.str()), location_of(zk.source(), file));
          if (auto a = axis_from(std::string(zk.str()), zv)) group.push_back(std::move(*a));
        }
        for (const auto& a : group)
          if (a.values.size() != group.front().values.size())
            sink.error(a.where, "zipped axes must have the same length: '" + a.name + "' has " +
                                    std::to_string(a.values.size()) + " values, '" + group.front().name +
                                    "' has " + std::to_string(group.front().values.size()));
        if (!group.empty()) p.grid.zipped.push_back(std::move(group));
      }
    } else if (key == "exclude") {
      const auto* rules = v.as_array();
      if (!rules) {
        sink.error(location_of(v.source(), file), "grid.exclude must be an array of tables ([[grid.exclude]])");
        continue;
      }
      for (auto&& r : *rules) {
        if (!r.is_table()) {
          sink.error(location_of(r.source(), file), "each [[grid.exclude]] entry must be a table var = value");
          continue;
        }
        std::map<std::string, SourceLocation> ignored;
        p.grid.exclude.emplace_back(to_json(r, file, "", ignored), location_of(r.source(), file));
      }
    } else {
      note_name(key, location_of(k.source(), file));
      if (auto a = axis_from(key, v)) p.grid.product.push_back(std::move(*a));
    }
  }
}

void parse_node(const std::string& name, const toml::node& node, const std::string& file, Pipeline& p,
                DiagnosticSink& sink) {
  NodeSpec spec;
  spec.name = name;
  spec.where = location_of(node.source(), file);
  const auto* t = node.as_table();
  if (!t) {
    sink.error(spec.where, "node '" + name + "' must be a table ([nodes." + name + "])");
    return;
  }
  bool has_plugin = false;
  for (auto&& [k, v] : *t) {
    std::string key(k.str());
    auto where = location_of(v.source(), file);
    if (key == "plugin") {
      has_plugin = true;
      spec.plugin = located(v, file);
      if (!v.is_string()) sink.error(where, "node '" + name + "': 'plugin' must be a string");
    } else if (key == "input" || key == "inputs") {
      if (v.is_string()) {
        spec.inputs.push_back({"", {located(v, file)}});
      } else if (const auto* arr = v.as_array()) {
        std::vector<LocatedValue> refs;
        for (auto&& e : *arr) {
          if (!e.is_string()) sink.error(location_of(e.source(), file), "node '" + name + "': inputs must be node names");
          else refs.push_back(located(e, file));
        }
        spec.inputs.push_back({"", std::move(refs)});
      } else if (const auto* ports = v.as_table()) {
        for (auto&& [pk, pv] : *ports) {
          std::vector<LocatedValue> refs;
          if (pv.is_string()) refs.push_back(located(pv, file));
          else if (const auto* parr = pv.as_array()) {
            for (auto&& e : *parr) {
              if (!e.is_string()) sink.error(location_of(e.source(), file), "node '" + name + "': inputs must be node names");
              else refs.push_back(located(e, file));
            }
          } else {
            sink.error(location_of(pv.source(), file), "node '" + name + "': input port '" +
                                                          std::string(pk.str()) + "' must name a node or a list of nodes");
          }
          spec.inputs.push_back({std::string(pk.str()), std::move(refs)});
        }
      } else {
        sink.error(where, "node '" + name + "': '" + key + "' must be a node name, a list of names, or a table port = names");
      }
    } else if (key == "seed") {
      spec.seed = located(v, file);
    } else {
      LocatedValue lv = located(v, file);
      lv.locations["#key"] = location_of(k.source(), file);
      spec.params.emplace(key, std::move(lv));
    }
  }
  if (!has_plugin) sink.error(spec.where, "node '" + name + "' has no 'plugin'");
  p.nodes.push_back(std::move(spec));
}

Pipeline parse_table(toml::table root, const std::string& text, const std::string& file,
                     const std::vector<std::string>& overrides) {
  DiagnosticSink sink;
  Pipeline p;
  p.text = text;
  p.overrides = overrides;
  p.where = {file, 1, 1};
  for (const auto& o : overrides) apply_override(root, o, sink);

  for (auto&& [k, v] : root) {
    std::string key(k.str());
    if (!kTopLevel.count(key)) {
      std::vector<std::string> c(kTopLevel.begin(), kTopLevel.end());
      std::string hint = closest_match(key, c);
      sink.error(location_of(k.source(), file), "unknown top-level table '" + key + "'" +
                                                    (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                                                    "; expected [pipeline], [vars], [grid] or [nodes.<name>]");
    }
  }
  const auto* meta = root.get("pipeline");
  if (!meta || !meta->is_table()) {
    sink.error({file, 1, 1}, "missing [pipeline] table with at least name = \"...\"");
  } else {
    for (auto&& [k, v] : *meta->as_table()) {
      std::string key(k.str());
      if (!kPipelineKeys.count(key)) {
        std::vector<std::string> c(kPipelineKeys.begin(), kPipelineKeys.end());
        std::string hint = closest_match(key, c);
        sink.error(location_of(k.source(), file), "unknown key 'pipeline." + key + "'" +
                                                      (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
    }
    const auto& t = *meta->as_table();
    if (auto n = t["name"].value<std::string>()) p.name = *n;
    else sink.error(location_of(meta->source(), file), "[pipeline] needs name = \"...\" (a string)");
    if (auto d = t["description"].value<std::string>()) p.description = *d;
    if (const auto* s = t.get("seed")) {
      p.seed = located(*s, file);
      if (!s->is_integer() && !s->is_string()) sink.error(location_of(s->source(), file), "pipeline.seed must be an integer");
    } else {
      p.seed.value = 0;
    }
  }
  if (const auto* vars = root.get("vars")) {
    if (!vars->is_table()) sink.error(location_of(vars->source(), file), "[vars] must be a table");
    else
      for (auto&& [k, v] : *vars->as_table()) p.vars.emplace(std::string(k.str()), located(v, file));
  }
  if (const auto* grid = root.get("grid")) {
    if (!grid->is_table()) sink.error(location_of(grid->source(), file), "[grid] must be a table");
    else parse_grid(*grid->as_table(), file, p, sink);
  }
  const auto* nodes = root.get("nodes");
  if (!nodes || !nodes->is_table() || nodes->as_table()->empty()) {
    sink.error({file, 1, 1}, "the pipeline has no nodes; add at least one [nodes.<name>] table");
  } else {
    for (auto&& [k, v] : *nodes->as_table()) parse_node(std::string(k.str()), v, file, p, sink);
  }
  p.problems = sink.diagnostics();
  return p;
}

}  // namespace

SourceLocation LocatedValue::where() const {
  auto it = locations.find("");
  return it == locations.end() ? SourceLocation{} : it->second;
}

Pipeline parse_pipeline_text(const std::string& text, const std::string& display_name,
                             const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, display_name);
  } catch (const toml::parse_error& e) {
    throw DiagnosticError({{{display_name, static_cast<std::uint32_t>(e.source().begin.line),
                             static_cast<std::uint32_t>(e.source().begin.column)},
                            std::string(e.description())}});
  }
  return parse_table(std::move(root), text, display_name, overrides);
}

Pipeline parse_pipeline(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DiagnosticError({{{file.string(), 0, 0}, "cannot open pipeline file"}});
  std::stringstream ss;
  ss << in.rdbuf();
  Pipeline p = parse_pipeline_text(ss.str(), file.string(), overrides);
  p.path = file;
  return p;
}

}  // namespace biaslab
