// Planning: per cell, resolve and validate every node, order them with Boost.Graph, compute
// cache keys, and merge identical work across cells into tasks.
#include "biaslab/plan.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/missing_data.hpp"
#include "param_validation.hpp"

namespace biaslab {

namespace {

struct ResolvedNode {
  const NodeSpec* spec = nullptr;
  const LoadedPlugin* plugin = nullptr;
  nlohmann::json params = nlohmann::json::object();
  std::vector<std::pair<std::string, std::vector<InputRef>>> inputs;  // port -> refs
  std::uint64_t seed = 0;
  bool ok = true;
  bool input_errors = false;  // already reported; count checks would only echo them
};

std::string join_quoted(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "'" : ", '") + item + "'";
  return out;
}

InputRef parse_ref(const nlohmann::json& text, const SourceLocation& where) {
  InputRef r;
  r.where = where;
  std::string s = text.is_string() ? text.get<std::string>() : text.dump();
  auto colon = s.find(':');
  r.node = s.substr(0, colon);
  if (colon != std::string::npos) r.member = s.substr(colon + 1);
  return r;
}

std::string short_key(const std::string& key) { return key.substr(0, 12); }

std::string value_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::optional<std::uint64_t> as_seed(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      auto x = std::stoull(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return x;
    } catch (...) {
    }
  }
  return std::nullopt;
}

// Why a task whose key changed since the previous run re-runs: what differs between the key
// material recorded in the previous run's state.json and now.
std::string explain_change(const nlohmann::json& prev, const nlohmann::json& now, const std::string& node) {
  std::vector<std::string> why;
  if (prev.value("plugin", "") != now.value("plugin", ""))
    why.push_back("plugin " + prev.value("plugin", "") + " -> " + now.value("plugin", ""));
  else if (prev.value("version", "") != now.value("version", ""))
    why.push_back("plugin version " + prev.value("version", "") + " -> " + now.value("version", ""));
  else if (prev.value("code", "") != now.value("code", ""))
    why.push_back("code of " + now.value("plugin", "") + " changed");
  auto pi = prev.value("key_inputs", nlohmann::json::object()), ni = now.value("key_inputs", nlohmann::json::object());
  if (!pi.is_object()) pi = nlohmann::json::object();
  if (!ni.is_object()) ni = nlohmann::json::object();
  std::set<std::string> members;
  for (auto& [k, _] : pi.items()) members.insert(k);
  for (auto& [k, _] : ni.items()) members.insert(k);
  for (const auto& m : members)
    if (pi.value(m, nlohmann::json()) != ni.value(m, nlohmann::json())) why.push_back(m + " of '" + node + "' changed");
  auto pp = prev.value("params", nlohmann::json::object()), np = now.value("params", nlohmann::json::object());
  std::set<std::string> keys;
  for (auto& [k, _] : pp.items()) keys.insert(k);
  for (auto& [k, _] : np.items()) keys.insert(k);
  for (const auto& k : keys) {
    auto a = pp.contains(k) ? pp[k].dump() : std::string("(unset)");
    auto b = np.contains(k) ? np[k].dump() : std::string("(unset)");
    if (a != b) why.push_back(k + ": " + a + " -> " + b);
  }
  if (prev.value("seed", nlohmann::json()) != now.value("seed", nlohmann::json())) why.push_back("seed changed");
  // inputs: [port, producer, member, key] rows
  auto prev_inputs = prev.value("inputs", nlohmann::json::array()), now_inputs = now.value("inputs", nlohmann::json::array());
  if (prev_inputs.size() != now_inputs.size()) why.push_back("inputs changed");
  else
    for (std::size_t i = 0; i < now_inputs.size(); ++i)
      if (prev_inputs[i] != now_inputs[i]) why.push_back("input '" + now_inputs[i][1].get<std::string>() + "' changed");
  if (why.empty()) return "not in cache";
  std::string out = "changed since last run: ";
  for (std::size_t i = 0; i < why.size(); ++i) out += (i ? ", " : "") + why[i];
  return out;
}

// Runs a plugin's key_inputs hook once per distinct parameter set (a grid repeats them).
class KeyInputs {
 public:
  // Null when the plugin has no hook. A hook's error is returned as `error` (once per distinct
  // parameter set, so a grid does not repeat it per cell; `repeated` is set on later calls).
  const nlohmann::json& of(const LoadedPlugin& plugin, const nlohmann::json& params, std::string& error,
                           bool& repeated) {
    static const nlohmann::json none;
    repeated = false;
    if (!plugin.descriptor->key_inputs) return none;
    auto [it, inserted] = memo_.try_emplace(plugin.name() + "\n" + params.dump());
    if (inserted) {
      try {
        it->second.value = plugin.descriptor->key_inputs(params);
      } catch (const std::exception& e) {
        it->second.error = e.what();
      }
    } else {
      repeated = !it->second.error.empty();
    }
    error = it->second.error;
    return it->second.value;
  }

 private:
  struct Result {
    nlohmann::json value;
    std::string error;
  };
  std::map<std::string, Result> memo_;
};

// Tasks of one plugin whose key inputs are identical although their parameters differ (e.g. two
// checkpoints of a series with byte-identical weights) compute the same thing: say so.
std::vector<std::string> identical_input_warnings(const Plan& plan) {
  std::map<std::string, std::vector<std::size_t>> by_inputs;
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    const Task& task = plan.tasks[t];
    if (!task.key_inputs.is_object() || task.key_inputs.empty()) continue;
    // A null member is content not known yet (a Hub revision not resolvable offline): nothing to compare.
    if (std::any_of(task.key_inputs.begin(), task.key_inputs.end(), [](const auto& v) { return v.is_null(); })) continue;
    by_inputs[task.plugin->name() + "\n" + task.key_inputs.dump()].push_back(t);
  }
  std::vector<std::string> out;
  for (const auto& [_, tasks] : by_inputs) {
    std::set<std::string> distinct_params;
    for (auto t : tasks) distinct_params.insert(plan.tasks[t].params.dump());
    if (distinct_params.size() < 2) continue;
    std::string who;
    for (auto t : tasks)
      for (const auto& [cell, node] : plan.tasks[t].uses)
        who += (who.empty() ? "" : "; ") + std::string("cell ") + std::to_string(cell) + " '" + node + "' (" +
               plan.tasks[t].params.dump() + ")";
    std::string members;
    for (auto& [k, _] : plan.tasks[tasks.front()].key_inputs.items()) members += (members.empty() ? "" : ", ") + k;
    out.push_back(plan.tasks[tasks.front()].plugin->name() + ": these nodes have identical content (same " + members +
                  ") although their parameters differ, so their results will be identical: " + who);
  }
  return out;
}

// TOML text of a JSON value: basic strings (JSON escapes are valid TOML), inline tables.
std::string toml_key(const std::string& k) {
  bool bare = !k.empty() && std::all_of(k.begin(), k.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-';
  });
  return bare ? k : nlohmann::json(k).dump();
}

std::string toml_value(const nlohmann::json& j) {
  if (j.is_object()) {
    std::string out = "{ ";
    bool first = true;
    for (auto& [k, v] : j.items()) {
      out += (first ? "" : ", ") + toml_key(k) + " = " + toml_value(v);
      first = false;
    }
    return j.empty() ? "{}" : out + " }";
  }
  if (j.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + toml_value(j[i]);
    return out + "]";
  }
  if (j.is_number_float()) {
    std::string s = j.dump();
    if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos && s.find("nan") == std::string::npos) s += ".0";
    return s;
  }
  return j.dump();
}

}  // namespace

Plan make_plan(Pipeline pipeline, const PluginRegistry& plugins, const Cache& cache, const PlanOptions& options) {
  DiagnosticSink sink;
  for (const auto& d : pipeline.problems) sink.error(d.where, d.message);
  Plan plan;
  plan.cells = expand_grid(pipeline, sink);
  plan.grid_cells = plan.cells.size();
  std::map<std::string, std::size_t> node_index;
  for (std::size_t i = 0; i < pipeline.nodes.size(); ++i) node_index[pipeline.nodes[i].name] = i;
  std::vector<std::string> node_names;
  for (const auto& n : pipeline.nodes) node_names.push_back(n.name);

  std::unique_ptr<data::DataManager> data_manager_;  // only when a cached entry recorded missing data
  auto data_manager = [&]() -> const data::DataManager& {
    if (!data_manager_) data_manager_ = std::make_unique<data::DataManager>();
    return *data_manager_;
  };
  std::map<const LoadedPlugin*, std::unique_ptr<engine::SchemaValidator>> validators;
  auto validator_for = [&](const LoadedPlugin* p) -> const engine::SchemaValidator& {
    auto& v = validators[p];
    if (!v) v = std::make_unique<engine::SchemaValidator>(p->params_schema);
    return *v;
  };
  nlohmann::json previous;
  if (!options.previous_state.empty() && std::filesystem::exists(options.previous_state)) {
    try {
      std::ifstream in(options.previous_state);
      previous = nlohmann::json::parse(in);
    } catch (...) {
      previous = nlohmann::json();
    }
  }
  std::map<std::string, std::size_t> task_by_key;
  KeyInputs key_inputs_memo;
  plan.cell_tasks.assign(plan.cells.size(), {});

  for (const auto& cell : plan.cells) {
    if (options.shard && cell.index % options.shard->count != options.shard->index) continue;
    nlohmann::json scope = cell.values;
    scope["pipeline.name"] = pipeline.name;
    for (const auto& [name, v] : pipeline.vars)
      if (!scope.contains(name)) scope[name] = interpolate(v, scope, sink);
    nlohmann::json seed_value = interpolate(pipeline.seed, scope, sink);
    auto pipeline_seed = as_seed(seed_value);
    if (!pipeline_seed) {
      sink.error(pipeline.seed.where(), "pipeline.seed must be a non-negative integer, got " + seed_value.dump());
      pipeline_seed = 0;
    }
    scope["pipeline.seed"] = *pipeline_seed;

    // 1. Resolve plugin, parameters, inputs and seed of every node.
    std::vector<ResolvedNode> nodes(pipeline.nodes.size());
    for (std::size_t i = 0; i < pipeline.nodes.size(); ++i) {
      const NodeSpec& spec = pipeline.nodes[i];
      ResolvedNode& r = nodes[i];
      r.spec = &spec;
      nlohmann::json plugin_name = interpolate(spec.plugin, scope, sink);
      if (!plugin_name.is_string()) {
        r.ok = false;
        continue;
      }
      r.plugin = plugins.find(plugin_name.get<std::string>());
      if (!r.plugin) {
        std::string hint = closest_match(plugin_name.get<std::string>(), plugins.names());
        sink.error(spec.plugin.where(), "node '" + spec.name + "': unknown plugin '" + plugin_name.get<std::string>() +
                                            "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                                            "; `biaslab plugins` lists the installed ones");
        r.ok = false;
        continue;
      }
      if (!r.plugin->unsupported_reason.empty())
        sink.error(spec.plugin.where(), "node '" + spec.name + "': plugin " + r.plugin->name() +
                                            " cannot run here: " + r.plugin->unsupported_reason);
      // A `params` table (often "${axis}" of a table-valued grid axis) is merged under the
      // node's explicit keys, unless the plugin has a parameter of that name.
      const bool merge_params_table = !r.plugin->params_schema.value("properties", nlohmann::json::object()).contains("params");
      const std::size_t errors_before_params = sink.diagnostics().size();
      std::map<std::string, const LocatedValue*> origin;
      if (auto it = spec.params.find("params"); merge_params_table && it != spec.params.end()) {
        nlohmann::json table = interpolate(it->second, scope, sink);
        if (!table.is_object()) sink.error(it->second.where(), "node '" + spec.name + "': 'params' must be a table");
        else
          for (auto& [k, v] : table.items()) r.params[k] = v, origin[k] = &it->second;
      }
      for (const auto& [k, v] : spec.params) {
        if (k == "params" && merge_params_table) continue;
        r.params[k] = interpolate(v, scope, sink);
        origin[k] = &v;
      }
      auto where = [&](const std::string& pointer, bool key) -> SourceLocation {
        if (pointer.empty()) return spec.where;
        std::string top = pointer.substr(1, pointer.find('/', 1) == std::string::npos ? std::string::npos
                                                                                      : pointer.find('/', 1) - 1);
        auto o = origin.find(top);
        if (o == origin.end()) return spec.where;
        const LocatedValue& lv = *o->second;
        std::string rest = pointer.substr(1 + top.size());
        if (key && rest.empty()) {
          if (auto it = lv.locations.find("#key"); it != lv.locations.end()) return it->second;
        }
        if (auto it = lv.locations.find(rest); it != lv.locations.end()) return it->second;
        return lv.where();
      };
      // A value that failed to interpolate was already reported; validating it would only echo.
      if (sink.diagnostics().size() == errors_before_params)
        validator_for(r.plugin).validate(spec.name, r.plugin->name(), r.params, where, sink);
      apply_schema_defaults(r.plugin->params_schema, r.params);

      r.seed = *pipeline_seed;
      if (spec.seed) {
        auto s = as_seed(interpolate(*spec.seed, scope, sink));
        if (!s) sink.error(spec.seed->where(), "node '" + spec.name + "': seed must be a non-negative integer");
        else r.seed = *s;
      }
      const std::size_t errors_before_inputs = sink.diagnostics().size();
      for (const auto& [port_name, refs] : spec.inputs) {
        std::string port = port_name.empty() ? r.plugin->primary_port() : port_name;
        if (port.empty()) {
          sink.error(refs.empty() ? spec.where : refs.front().where(),
                     "node '" + spec.name + "': plugin " + r.plugin->name() + " takes no inputs");
          continue;
        }
        if (!r.plugin->port(port)) {
          std::vector<std::string> ports;
          for (std::size_t k = 0; k < r.plugin->descriptor->num_inputs; ++k) ports.push_back(r.plugin->descriptor->inputs[k].name);
          std::string hint = closest_match(port, ports);
          sink.error(refs.empty() ? spec.where : refs.front().where(),
                     "node '" + spec.name + "': plugin " + r.plugin->name() + " has no input '" + port + "'" +
                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
          continue;
        }
        std::vector<InputRef> bound;
        for (const auto& ref : refs) {
          InputRef in = parse_ref(interpolate(ref, scope, sink), ref.where());
          if (!node_index.count(in.node)) {
            std::string hint = closest_match(in.node, node_names);
            sink.error(in.where, "node '" + spec.name + "': input '" + in.node + "' is not a node of this pipeline" +
                                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
            continue;
          }
          bound.push_back(std::move(in));
        }
        auto existing = std::find_if(r.inputs.begin(), r.inputs.end(), [&](auto& e) { return e.first == port; });
        if (existing != r.inputs.end()) existing->second.insert(existing->second.end(), bound.begin(), bound.end());
        else r.inputs.emplace_back(port, std::move(bound));
      }
      r.input_errors = sink.diagnostics().size() != errors_before_inputs;
    }

    // 2. Order the nodes (Boost.Graph); a cycle is reported with the nodes in it.
    using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
    Graph g(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
      for (const auto& [port, refs] : nodes[i].inputs)
        for (const auto& ref : refs) boost::add_edge(node_index[ref.node], i, g);
    std::vector<std::size_t> order;
    try {
      std::vector<Graph::vertex_descriptor> reversed;
      boost::topological_sort(g, std::back_inserter(reversed));
      order.assign(reversed.rbegin(), reversed.rend());
    } catch (const boost::not_a_dag&) {
      std::vector<int> component(nodes.size());
      int n = boost::strong_components(g, boost::make_iterator_property_map(component.begin(),
                                                                            boost::get(boost::vertex_index, g)));
      for (int c = 0; c < n; ++c) {
        std::vector<std::size_t> members;
        for (std::size_t i = 0; i < nodes.size(); ++i)
          if (component[i] == c) members.push_back(i);
        bool self_loop = members.size() == 1 && boost::edge(members[0], members[0], g).second;
        if (members.size() < 2 && !self_loop) continue;
        std::string cycle;
        for (auto m : members) cycle += nodes[m].spec->name + " -> ";
        cycle += nodes[members.front()].spec->name;
        sink.error(nodes[members.front()].spec->where, "the pipeline has a cycle: " + cycle);
      }
      continue;
    }
    if (plan.node_order.empty())
      for (auto i : order) plan.node_order.push_back(nodes[i].spec->name);

    // 3. Check input types and counts, compute keys, merge into tasks.
    std::vector<std::size_t> task_of(nodes.size(), SIZE_MAX);
    bool cell_ok = true;
    for (auto i : order) {
      ResolvedNode& r = nodes[i];
      if (!r.ok || !r.plugin) {
        cell_ok = false;
        continue;
      }
      const auto* d = r.plugin->descriptor;
      for (std::size_t k = 0; k < d->num_inputs; ++k) {
        const InputPort& port = d->inputs[k];
        auto it = std::find_if(r.inputs.begin(), r.inputs.end(), [&](auto& e) { return e.first == port.name; });
        int count = it == r.inputs.end() ? 0 : static_cast<int>(it->second.size());
        if (count < port.min && !r.input_errors)
          sink.error(r.spec->where, "node '" + r.spec->name + "': plugin " + r.plugin->name() + " needs " +
                                        (port.min == 1 ? "an input" : std::to_string(port.min) + " inputs") + " on '" +
                                        port.name + "' (" + port.type + ")" +
                                        (k == 0 ? "; add input = \"<node>\"" : "; add inputs = { " + std::string(port.name) + " = \"<node>\" }"));
        if (port.max >= 0 && count > port.max)
          sink.error(it->second[port.max].where, "node '" + r.spec->name + "': input '" + port.name + "' takes at most " +
                                                     std::to_string(port.max) + ", got " + std::to_string(count));
        if (it == r.inputs.end()) continue;
        for (const auto& ref : it->second) {
          const ResolvedNode& producer = nodes[node_index[ref.node]];
          if (!producer.plugin) continue;
          std::string produced = producer.plugin->descriptor->output_type ? producer.plugin->descriptor->output_type : "";
          if (produced.empty())
            sink.error(ref.where, "node '" + r.spec->name + "': input '" + ref.node + "' (" + producer.plugin->name() +
                                      ") produces no artifact");
          else if (!artifact_types_compatible(produced, port.type))
            sink.error(ref.where, "node '" + r.spec->name + "': input '" + port.name + "' expects " + port.type +
                                      " but node '" + ref.node + "' (" + producer.plugin->name() + ") produces " + produced);
        }
      }
      bool inputs_ok = true;
      nlohmann::json input_material = nlohmann::json::array();
      std::vector<TaskInput> task_inputs;
      for (const auto& [port, refs] : r.inputs)
        for (const auto& ref : refs) {
          std::size_t t = task_of[node_index[ref.node]];
          if (t == SIZE_MAX) {
            inputs_ok = false;
            continue;
          }
          input_material.push_back({port, ref.node, ref.member, plan.tasks[t].key});
          task_inputs.push_back({port, t, ref.node, ref.member});
        }
      if (!inputs_ok) {
        cell_ok = false;
        continue;
      }
      std::string key_error;
      bool repeated_error = false;
      nlohmann::json key_inputs = key_inputs_memo.of(*r.plugin, r.params, key_error, repeated_error);
      if (!key_error.empty()) {
        if (!repeated_error) sink.error(r.spec->where, "node '" + r.spec->name + "' (" + r.plugin->name() + "): " + key_error);
        cell_ok = false;
        continue;
      }
      // The engine's own code is deliberately not in the key (docs/pipelines.md, "Caching, resuming, forcing").
      nlohmann::json material = {{"plugin", r.plugin->name()}, {"version", r.plugin->descriptor->version},
                                 {"code", r.plugin->code_hash}, {"params", r.params}, {"seed", r.seed},
                                 {"inputs", input_material}};
      if (!key_inputs.is_null()) material["key_inputs"] = key_inputs;
      std::string key = content_key(material);
      auto [it, inserted] = task_by_key.emplace(key, plan.tasks.size());
      if (inserted) {
        Task t;
        t.key = key;
        t.node = r.spec->name;
        t.plugin = r.plugin;
        t.params = r.params;
        t.key_inputs = key_inputs;
        t.seed = r.seed;
        t.inputs = std::move(task_inputs);
        for (const auto& in : t.inputs)
          if (std::find(t.deps.begin(), t.deps.end(), in.task) == t.deps.end()) t.deps.push_back(in.task);
        t.cached = cache.contains(key);
        const bool forced = options.force_all || options.force.count(r.spec->name);
        // A cached entry computed while some data was absent is stale once the data is here.
        std::vector<std::string> appeared;
        if (t.cached && !data::recorded_missing_data(cache.artifact_dir(key)).empty())
          appeared = data::missing_data_now_available(cache.artifact_dir(key), data_manager());
        // An input that re-runs although cached may change, so this task re-runs too (same key).
        std::string rerun_input;
        for (auto dep : t.deps)
          if (plan.tasks[dep].cached && plan.tasks[dep].will_run) rerun_input = plan.tasks[dep].node;
        t.will_run = !t.cached || forced || !appeared.empty() || !rerun_input.empty();
        if (forced) t.reason = "forced (--force)";
        else if (!appeared.empty()) t.reason = "cached result was computed without " + join_quoted(appeared) + ", now available";
        else if (!rerun_input.empty()) t.reason = "input '" + rerun_input + "' re-runs";
        else if (t.cached) t.reason = "cached";
        else if (previous.contains(cell.label()) && previous[cell.label()].contains(r.spec->name))
          t.reason = previous[cell.label()][r.spec->name].value("key", "") == key
                         ? "not in cache (removed since the last run)"
                         : explain_change(previous[cell.label()][r.spec->name], material, r.spec->name);
        else t.reason = "not in cache";
        plan.tasks.push_back(std::move(t));
      }
      plan.tasks[it->second].uses.emplace_back(cell.index, r.spec->name);
      task_of[i] = it->second;
    }
    if (cell_ok) {
      auto& ct = plan.cell_tasks[cell.index];
      for (const auto& name : plan.node_order) ct.push_back(task_of[node_index[name]]);
    }
  }
  sink.throw_if_any();
  plan.pipeline = std::move(pipeline);
  if (options.shard) restrict_to_shard(plan, *options.shard);
  plan.warnings = identical_input_warnings(plan);
  for (const auto& w : plan.warnings) spdlog::warn("{}", w);
  return plan;
}

std::size_t Plan::tasks_to_run() const {
  return static_cast<std::size_t>(std::count_if(tasks.begin(), tasks.end(), [](const Task& t) { return t.will_run; }));
}

std::string Plan::dot() const {
  std::ostringstream os;
  os << "digraph \"" << pipeline.name << "\" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  if (cells.empty() || cell_tasks[cells.front().index].empty()) return os.str() + "}\n";
  const auto& first = cell_tasks[cells.front().index];
  for (std::size_t i = 0; i < node_order.size(); ++i) {
    const Task& t = tasks[first[i]];
    os << "  \"" << node_order[i] << "\" [label=\"" << node_order[i] << "\\n" << t.plugin->name() << "\"];\n";
  }
  for (std::size_t i = 0; i < node_order.size(); ++i)
    for (const auto& in : tasks[first[i]].inputs)
      os << "  \"" << in.producer << "\" -> \"" << node_order[i] << "\" [label=\"" << in.port
         << (in.member.empty() ? "" : ":" + in.member) << "\"];\n";
  os << "}\n";
  return os.str();
}

std::string Plan::describe(bool verbose) const {
  std::ostringstream os;
  std::size_t cached = std::count_if(tasks.begin(), tasks.end(), [](const Task& t) { return !t.will_run; });
  os << "pipeline " << pipeline.name << " (" << pipeline_hash(pipeline).substr(0, 12) << ")\n";
  os << "grid: " << grid_cells << (grid_cells == 1 ? " cell" : " cells");
  for (const auto& a : pipeline.grid.product) os << "; " << a.name << " x" << a.values.size();
  for (const auto& g : pipeline.grid.zipped) {
    os << "; (";
    for (std::size_t i = 0; i < g.size(); ++i) os << (i ? ", " : "") << g[i].name;
    os << ") x" << g.front().values.size() << " zipped";
  }
  if (!pipeline.grid.exclude.empty()) os << "; " << pipeline.grid.exclude.size() << " exclusion rule(s)";
  if (shard)
    os << "\nshard " << shard->text() << ": " << cells.size() << (cells.size() == 1 ? " cell" : " cells")
       << " (cell index % " << shard->count << " == " << shard->index << ")";
  os << "\norder: ";
  for (std::size_t i = 0; i < node_order.size(); ++i) os << (i ? " -> " : "") << node_order[i];
  os << "\ntasks: " << cells.size() * node_order.size() << " node runs, " << tasks.size() << " unique, " << cached
     << " cached, " << tasks_to_run() << " to run\n";
  for (const auto& w : warnings) os << "warning: " << w << "\n";
  if (!verbose) return os.str();
  std::size_t width = 4;
  for (const auto& n : node_order) width = std::max(width, n.size());
  std::size_t pwidth = 6;
  for (const auto& t : tasks) pwidth = std::max(pwidth, t.plugin->name().size());
  for (const auto& cell : cells) {
    os << "\ncell " << cell.index << ": " << cell.label() << "\n";
    const auto& ct = cell_tasks[cell.index];
    for (std::size_t i = 0; i < ct.size(); ++i) {
      const Task& t = tasks[ct[i]];
      std::string status = t.will_run ? "run" : "cached";
      os << "  " << node_order[i] << std::string(width - node_order[i].size() + 2, ' ') << t.plugin->name()
         << std::string(pwidth - t.plugin->name().size() + 2, ' ') << short_key(t.key) << "  " << status;
      if (t.will_run) os << "  (" << t.reason << ")";
      if (t.uses.size() > 1 && t.uses.front().first != cell.index) os << "  [shared with cell " << t.uses.front().first << "]";
      os << "\n";
    }
  }
  return os.str();
}

std::string Plan::canonical(bool all_cells) const {
  std::ostringstream os;
  os << "[pipeline]\nname = " << toml_value(pipeline.name) << "\n";
  if (!pipeline.description.empty()) os << "description = " << toml_value(pipeline.description) << "\n";
  for (const auto& cell : cells) {
    if (!all_cells && cell.index != cells.front().index) break;
    os << "\n# cell " << cell.index << ": " << cell.label() << "\n";
    const auto& ct = cell_tasks[cell.index];
    for (std::size_t i = 0; i < ct.size(); ++i) {
      const Task& t = tasks[ct[i]];
      os << "\n[nodes." << toml_key(node_order[i]) << "]\nplugin = " << toml_value(t.plugin->name()) << "\n";
      if (!t.inputs.empty()) {
        nlohmann::json ports = nlohmann::json::object();
        for (const auto& in : t.inputs) ports[in.port].push_back(in.member.empty() ? in.producer : in.producer + ":" + in.member);
        os << "inputs = " << toml_value(ports) << "\n";
      }
      os << "seed = " << t.seed << "\n";
      for (auto& [k, v] : t.params.items()) os << toml_key(k) << " = " << toml_value(v) << "\n";
    }
  }
  return os.str();
}

nlohmann::json Plan::state() const {
  nlohmann::json s = nlohmann::json::object();
  for (const auto& cell : cells) {
    nlohmann::json c = nlohmann::json::object();
    const auto& ct = cell_tasks[cell.index];
    for (std::size_t i = 0; i < ct.size(); ++i) {
      const Task& t = tasks[ct[i]];
      nlohmann::json inputs = nlohmann::json::array();
      for (const auto& in : t.inputs) inputs.push_back({in.port, in.producer, in.member, tasks[in.task].key});
      c[node_order[i]] = {{"key", t.key}, {"plugin", t.plugin->name()}, {"version", t.plugin->descriptor->version},
                          {"code", t.plugin->code_hash}, {"params", t.params}, {"seed", t.seed}, {"inputs", inputs}};
      if (!t.key_inputs.is_null()) c[node_order[i]]["key_inputs"] = t.key_inputs;
    }
    s[cell.label()] = c;
  }
  return s;
}

nlohmann::json Plan::key_inputs() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& cell : cells) {
    const auto& ct = cell_tasks[cell.index];
    for (std::size_t i = 0; i < ct.size(); ++i)
      if (!tasks[ct[i]].key_inputs.is_null()) out[cell.label()][node_order[i]] = tasks[ct[i]].key_inputs;
  }
  return out;
}

ShardSpec parse_shard(const std::string& text) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("--shard '" + text + "': " + why + " (expected K/N with 0 <= K < N, e.g. 0/4)");
  };
  auto slash = text.find('/');
  if (slash == std::string::npos) throw fail("no '/'");
  auto number = [&](const std::string& part, const char* what) -> std::size_t {
    if (part.empty() || part.size() > 9 || !std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw fail(std::string(what) + " is not a non-negative integer");
    return std::stoul(part);
  };
  ShardSpec s;
  s.index = number(text.substr(0, slash), "K");
  s.count = number(text.substr(slash + 1), "N");
  if (s.count == 0) throw fail("N must be at least 1");
  if (s.index >= s.count) throw fail("K must be smaller than N");
  return s;
}

void restrict_to_shard(Plan& plan, const ShardSpec& shard) {
  std::vector<Cell> kept;
  for (auto& c : plan.cells)
    if (c.index % shard.count == shard.index) kept.push_back(std::move(c));
  std::set<std::size_t> kept_cells;
  for (const auto& c : kept) kept_cells.insert(c.index);
  // Tasks the shard's cells use, plus everything upstream of them (deps precede dependents, so
  // one backward sweep closes the set).
  std::vector<bool> needed(plan.tasks.size(), false);
  for (std::size_t ci = 0; ci < plan.cell_tasks.size(); ++ci) {
    if (!kept_cells.count(ci)) {
      plan.cell_tasks[ci].clear();
      continue;
    }
    for (auto t : plan.cell_tasks[ci]) needed[t] = true;
  }
  for (std::size_t t = plan.tasks.size(); t-- > 0;)
    if (needed[t])
      for (auto d : plan.tasks[t].deps) needed[d] = true;
  std::vector<std::size_t> renumber(plan.tasks.size(), SIZE_MAX);
  std::vector<Task> tasks;
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    if (!needed[t]) continue;
    renumber[t] = tasks.size();
    tasks.push_back(std::move(plan.tasks[t]));
  }
  for (auto& t : tasks) {
    for (auto& in : t.inputs) in.task = renumber[in.task];
    for (auto& d : t.deps) d = renumber[d];
    std::erase_if(t.uses, [&](const auto& use) { return !kept_cells.count(use.first); });
  }
  for (auto& ct : plan.cell_tasks)
    for (auto& t : ct) t = renumber[t];
  plan.tasks = std::move(tasks);
  plan.cells = std::move(kept);
  plan.shard = shard;
}

}  // namespace biaslab
