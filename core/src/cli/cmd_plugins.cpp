// `biaslab plugins [describe NAME | schema NAME]` and `biaslab version`.
#include <iomanip>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "biaslab/diagnostics.hpp"
#include "biaslab/plugin_registry.hpp"
#include "biaslab/version.hpp"
#include "cli/commands.hpp"
#include "cli/runtime_setup.hpp"

namespace po = boost::program_options;

namespace biaslab::cli {

namespace {

std::string type_of(const nlohmann::json& prop) {
  if (!prop.contains("type")) return prop.contains("enum") ? "enum" : "any";
  const auto& t = prop["type"];
  if (t.is_string()) {
    std::string s = t;
    if (s == "array" && prop.contains("items") && prop["items"].contains("type") && prop["items"]["type"].is_string())
      return "array<" + prop["items"]["type"].get<std::string>() + ">";
    return s;
  }
  std::string out;
  for (const auto& x : t) out += (out.empty() ? "" : "|") + x.get<std::string>();
  return out;
}

std::string constraints_of(const nlohmann::json& prop) {
  std::vector<std::string> c;
  if (prop.contains("enum")) {
    std::string e;
    for (const auto& x : prop["enum"]) e += (e.empty() ? "" : ", ") + x.dump();
    c.push_back("one of " + e);
  }
  if (prop.contains("minimum")) c.push_back(">= " + prop["minimum"].dump());
  if (prop.contains("exclusiveMinimum")) c.push_back("> " + prop["exclusiveMinimum"].dump());
  if (prop.contains("maximum")) c.push_back("<= " + prop["maximum"].dump());
  if (prop.contains("exclusiveMaximum")) c.push_back("< " + prop["exclusiveMaximum"].dump());
  if (prop.contains("pattern")) c.push_back("matches " + prop["pattern"].get<std::string>());
  std::string out;
  for (const auto& s : c) out += (out.empty() ? "" : "; ") + s;
  return out;
}

void describe(const LoadedPlugin& p, std::ostream& os) {
  const auto* d = p.descriptor;
  os << d->name << " " << d->version << " (" << to_string(d->kind) << ")\n  " << (d->summary ? d->summary : "") << "\n";
  os << "  library: " << p.path.string() << "\n";
  if (!p.unsupported_reason.empty()) os << "  NOT AVAILABLE HERE: " << p.unsupported_reason << "\n";
  os << "\ninputs:\n";
  if (d->num_inputs == 0) os << "  (none)\n";
  for (std::size_t i = 0; i < d->num_inputs; ++i) {
    const auto& in = d->inputs[i];
    std::string count = in.max < 0 ? std::to_string(in.min) + "+" : in.min == in.max ? std::to_string(in.min)
                                                                                      : std::to_string(in.min) + ".." + std::to_string(in.max);
    os << "  " << in.name << (i == 0 ? " (primary)" : "") << ": " << in.type << " x " << count << "  "
       << (in.description ? in.description : "") << "\n";
  }
  os << "output: " << (d->output_type && *d->output_type ? d->output_type : "(none)") << "\n\nparameters:\n";
  const auto props = p.params_schema.value("properties", nlohmann::json::object());
  if (props.empty()) os << "  (none)\n";
  std::set<std::string> required;
  for (const auto& r : p.params_schema.value("required", nlohmann::json::array())) required.insert(r.get<std::string>());
  for (const auto& [name, prop] : props.items()) {
    os << "  " << name << " : " << type_of(prop);
    if (prop.contains("default")) os << " = " << prop["default"].dump();
    else if (required.count(name)) os << " (required)";
    os << "\n";
    if (prop.contains("description")) os << "      " << prop["description"].get<std::string>() << "\n";
    if (auto c = constraints_of(prop); !c.empty()) os << "      " << c << "\n";
  }
}

}  // namespace

int cmd_plugins(const Args& args, const GlobalOptions&) {
  bool help = false, json = false;
  std::vector<std::string> positional;
  po::options_description desc("biaslab plugins [describe NAME | schema NAME] [options]");
  desc.add_options()("help,h", po::bool_switch(&help), "show this help")("json", po::bool_switch(&json),
                                                                         "machine-readable list");
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional));
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("args", -1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "biaslab plugins: " << e.what() << "\n" << desc;
    return 2;
  }
  if (help) {
    std::cout << desc << "\n  (no argument)    list every plugin found\n  describe NAME    parameters with types, "
                         "defaults and descriptions; inputs and output\n  schema NAME      the parameter JSON Schema\n";
    return 0;
  }
  PluginRegistry reg;
  reg.discover();
  if (positional.empty()) {
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto* p : reg.all())
        out.push_back({{"name", p->name()}, {"version", p->descriptor->version},
                       {"kind", std::string(to_string(p->descriptor->kind))}, {"path", p->path.string()},
                       {"summary", p->descriptor->summary ? p->descriptor->summary : ""},
                       {"available", p->unsupported_reason.empty()}});
      std::cout << out.dump(2) << "\n";
    } else {
      std::size_t w = 6;
      for (const auto* p : reg.all()) w = std::max(w, p->name().size());
      for (const auto* p : reg.all())
        std::cout << std::left << std::setw(static_cast<int>(w) + 2) << p->name() << std::setw(10)
                  << to_string(p->descriptor->kind) << std::setw(9) << p->descriptor->version
                  << (p->descriptor->summary ? p->descriptor->summary : "")
                  << (p->unsupported_reason.empty() ? "" : "  [unavailable: " + p->unsupported_reason + "]") << "\n";
      if (reg.all().empty()) std::cout << "no plugins found; searched:\n";
      if (reg.all().empty())
        for (const auto& d : PluginRegistry::search_path({})) std::cout << "  " << d.string() << "\n";
    }
    for (const auto& e : reg.load_errors()) std::cerr << "warning: " << e.message << "\n";
    return 0;
  }
  if (positional.size() != 2 || (positional[0] != "describe" && positional[0] != "schema")) {
    std::cerr << "biaslab plugins: expected `describe NAME` or `schema NAME`\n" << desc;
    return 2;
  }
  const auto* p = reg.find(positional[1]);
  if (!p) {
    std::string hint = closest_match(positional[1], reg.names());
    std::cerr << "biaslab plugins: no plugin named '" << positional[1] << "'"
              << (hint.empty() ? "" : " (did you mean '" + hint + "'?)") << "\n";
    return 2;
  }
  if (positional[0] == "schema") std::cout << p->params_schema.dump(2) << "\n";
  else describe(*p, std::cout);
  return 0;
}

int cmd_version(const Args&, const GlobalOptions&) {
  std::cout << "biaslab " << version() << " (git " << git_sha() << ", plugin ABI " << kPluginAbiVersion << ")\n";
  for (const auto& [k, v] : runtime_library_versions()) std::cout << "  " << k << " " << v.substr(0, 60) << "\n";
  return 0;
}

}  // namespace biaslab::cli
