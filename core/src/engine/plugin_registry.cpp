#include "biaslab/plugin_registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

namespace biaslab {

Operator::~Operator() = default;
NodeContext::~NodeContext() = default;

std::string_view to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::source: return "source";
    case PluginKind::transform: return "transform";
    case PluginKind::metric: return "metric";
    case PluginKind::sink: return "sink";
  }
  return "unknown";
}

bool artifact_types_compatible(std::string_view produced, std::string_view accepted) {
  return accepted == artifact_type::any || produced == accepted;
}

std::shared_ptr<Operator> LoadedPlugin::create() const {
  std::unique_ptr<Operator> op = descriptor->create();
  if (!op) throw std::runtime_error("plugin " + name() + " returned no operator");
  // The deleter owns a reference to the library: the code behind op's vtable stays mapped.
  auto lib = library;
  return std::shared_ptr<Operator>(op.release(), [lib](Operator* p) { delete p; });
}

std::string LoadedPlugin::primary_port() const {
  return descriptor->num_inputs > 0 ? descriptor->inputs[0].name : "";
}

const InputPort* LoadedPlugin::port(const std::string& port_name) const {
  for (std::size_t i = 0; i < descriptor->num_inputs; ++i)
    if (port_name == descriptor->inputs[i].name) return &descriptor->inputs[i];
  return nullptr;
}

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

std::vector<std::filesystem::path> PluginRegistry::search_path(const std::vector<std::filesystem::path>& extra_dirs) {
  std::vector<std::filesystem::path> dirs(extra_dirs);
  if (const char* env = std::getenv("BIASLAB_PLUGIN_PATH")) {
    std::stringstream ss(env);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.emplace_back(d);
  }
  boost::system::error_code ec;
  auto exe = boost::dll::program_location(ec);
  if (!ec) {
    std::filesystem::path bin = exe.parent_path().string();
    dirs.push_back(bin.parent_path() / "lib" / "biaslab" / "plugins");
#ifdef BIASLAB_PLUGIN_ABI_LIBDIR
    dirs.push_back(bin.parent_path() / BIASLAB_PLUGIN_ABI_LIBDIR / "biaslab" / "plugins");
#endif
  }
  // Deduplicate while keeping order.
  std::vector<std::filesystem::path> unique;
  for (auto& d : dirs) {
    std::error_code e;
    auto canon = std::filesystem::weakly_canonical(d, e);
    if (std::find(unique.begin(), unique.end(), canon) == unique.end()) unique.push_back(canon);
  }
  return unique;
}

const LoadedPlugin& PluginRegistry::load(const std::filesystem::path& file) {
  auto lib = std::make_shared<boost::dll::shared_library>();
  boost::system::error_code ec;
  lib->load(file.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) {
    // dlerror() clears its message when read: read it once (it may already be gone).
    const char* why = dlerror();
    throw std::runtime_error(file.string() + ": cannot load plugin: " + ec.message() +
                             (why != nullptr ? std::string(" (") + why + ")" : std::string()));
  }
  if (!lib->has("biaslab_plugin"))
    throw std::runtime_error(file.string() + ": not a biaslab plugin (no 'biaslab_plugin' entry point; "
                                             "use BIASLAB_PLUGIN(descriptor))");
  auto& entry = lib->get_alias<const PluginDescriptor*()>("biaslab_plugin");
  const PluginDescriptor* d = entry();
  if (!d) throw std::runtime_error(file.string() + ": plugin entry point returned no descriptor");
  // Only abi_version may be read before the check: the rest of the layout may differ.
  if (d->abi_version != kPluginAbiVersion)
    throw std::runtime_error(file.string() + ": plugin ABI version " + std::to_string(d->abi_version) +
                             " does not match this biaslab's plugin ABI version " +
                             std::to_string(kPluginAbiVersion) + "; rebuild the plugin against this biaslab");
  if (!d->name || !*d->name || !d->version || !d->create)
    throw std::runtime_error(file.string() + ": plugin descriptor lacks a name, version or factory");
  LoadedPlugin p;
  p.descriptor = d;
  p.path = file;
  p.library = lib;
  try {
    p.params_schema = nlohmann::json::parse(d->params_schema && *d->params_schema ? d->params_schema
                                                                                  : R"({"type":"object"})");
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(file.string() + ": plugin " + d->name + " has an invalid parameter schema: " + e.what());
  }
  // Written by the build (biaslab_add_plugin), not by the plugin's author.
  if (lib->has("biaslab_plugin_code_hash")) p.code_hash = &lib->get<const char>("biaslab_plugin_code_hash");
  if (lib->has("biaslab_plugin_code_manifest")) p.code_manifest = &lib->get<const char>("biaslab_plugin_code_manifest");
  if (d->unsupported_reason)
    if (const char* why = d->unsupported_reason()) p.unsupported_reason = why;
  std::string name = d->name;
  if (auto it = plugins_.find(name); it != plugins_.end()) {
    spdlog::warn("plugin {} found in {} and {}; using the first", name, it->second.path.string(), file.string());
    return it->second;
  }
  return plugins_.emplace(name, std::move(p)).first->second;
}

void PluginRegistry::discover(const std::vector<std::filesystem::path>& extra_dirs) {
  for (const auto& dir : search_path(extra_dirs)) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.is_regular_file() && e.path().extension() == ".so") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      try {
        load(f);
      } catch (const std::exception& e) {
        // Errors raised inside the library (e.g. by its static initialisers) do not name it.
        std::string message = e.what();
        if (message.find(f.string()) == std::string::npos) message = "cannot load plugin " + f.string() + ": " + message;
        errors_.push_back({f, message});
      }
    }
  }
}

const LoadedPlugin* PluginRegistry::find(const std::string& name) const {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : &it->second;
}

std::vector<const LoadedPlugin*> PluginRegistry::all() const {
  std::vector<const LoadedPlugin*> out;
  for (const auto& [n, p] : plugins_) out.push_back(&p);
  return out;
}

std::vector<std::string> PluginRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, p] : plugins_) out.push_back(n);
  return out;
}

void apply_schema_defaults(const nlohmann::json& schema, nlohmann::json& params) {
  if (!schema.is_object() || !params.is_object()) return;
  auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return;
  for (auto& [k, sub] : props->items()) {
    if (!params.contains(k)) {
      if (sub.contains("default")) params[k] = sub["default"];
      else if (sub.value("type", "") == "object" && sub.contains("properties")) {
        nlohmann::json child = nlohmann::json::object();
        apply_schema_defaults(sub, child);
        if (!child.empty()) params[k] = child;
      }
    } else if (params[k].is_object()) {
      apply_schema_defaults(sub, params[k]);
    }
  }
}

}  // namespace biaslab
