#include "biaslab/provenance.hpp"

#include <ctime>

#include "biaslab/atomic_file.hpp"

namespace biaslab::results {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string iso8601_utc_now() { return iso8601_utc(std::chrono::system_clock::now()); }

nlohmann::json provenance_to_json(const ProvenanceInfo& info) {
  using nlohmann::json;
  json plugins = json::array();
  for (const PluginProvenance& p : info.plugins)
    plugins.push_back({{"name", p.name}, {"version", p.version}, {"path", p.path.string()}, {"code_hash", p.code_hash}});

  std::map<std::string, std::string> libraries = builtin_library_versions();
  for (const auto& [name, version] : info.library_versions) libraries[name] = version;

  const HostInfo& h = info.host;
  return json{
      {"format_version", kProvenanceFormatVersion},
      {"biaslab", {{"version", info.biaslab_version}, {"git_sha", info.biaslab_git_sha}}},
      {"pipeline",
       {{"name", info.pipeline_name},
        {"hash", info.pipeline_hash},
        {"hash_algorithm", info.pipeline_hash_algorithm},
        {"path", info.pipeline_path.string()},
        {"text", info.pipeline_text},
        {"overrides", info.pipeline_overrides}}},
      {"plugins", plugins},
      {"key_inputs", info.key_inputs},
      {"libraries", libraries},
      {"host",
       {{"hostname", h.hostname},
        {"os",
         {{"sysname", h.os_sysname},
          {"release", h.os_release},
          {"version", h.os_version},
          {"machine", h.machine},
          {"pretty_name", h.os_pretty_name}}},
        {"cpu_model", h.cpu_model},
        {"cpu_cores", h.cpu_cores},
        {"memory_bytes", h.memory_bytes}}},
      {"environment", info.environment},
      {"seeds", info.seeds},
      {"timestamps",
       {{"started_at", info.started_at},
        {"finished_at", info.finished_at.empty() ? json() : json(info.finished_at)},
        {"written_at", iso8601_utc_now()}}},
      {"command_line", info.command_line},
      {"extra", info.extra},
  };
}

void write_provenance(const std::filesystem::path& path, const ProvenanceInfo& info) {
  // Environment values and pipeline text are not guaranteed UTF-8; replace rather than fail.
  write_file_atomic(path, provenance_to_json(info).dump(
                              2, ' ', false, nlohmann::json::error_handler_t::replace) +
                              "\n");
}

}  // namespace biaslab::results
