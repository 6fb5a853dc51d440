#pragma once
// <run_dir>/provenance.json: everything needed to say where a run's numbers came from: the
// pipeline (name, hash, full text), biaslab and plugin versions, library versions, compiler,
// host, relevant environment, seeds, timestamps and the command line.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab::results {

inline constexpr std::string_view kProvenanceFileName = "provenance.json";
// Bumped when the layout of provenance.json changes.
inline constexpr int kProvenanceFormatVersion = 1;

struct HostInfo {
  std::string hostname;
  std::string os_sysname;      // uname: "Linux"
  std::string os_release;      // uname: kernel release
  std::string os_version;      // uname: kernel build
  std::string machine;         // uname: "x86_64"
  std::string os_pretty_name;  // /etc/os-release PRETTY_NAME, "" when absent
  std::string cpu_model;       // /proc/cpuinfo "model name" (or "Hardware"/"cpu model"), "" if unknown
  unsigned cpu_cores = 0;      // logical CPUs (std::thread::hardware_concurrency)
  std::uint64_t memory_bytes = 0;  // /proc/meminfo MemTotal
};

struct PluginProvenance {
  std::string name;
  std::string version;
  std::filesystem::path path;  // the loaded shared library
  std::string code_hash;       // LoadedPlugin::code_hash: the code behind its cache keys
};

struct ProvenanceInfo {
  std::string pipeline_name;
  std::string pipeline_hash;
  std::string pipeline_hash_algorithm;   // e.g. "sha256", "xxh3_64"
  std::filesystem::path pipeline_path;
  std::string pipeline_text;             // full file contents
  std::vector<std::string> pipeline_overrides;  // --set arguments applied

  std::string biaslab_version;
  std::string biaslab_git_sha;
  std::vector<PluginProvenance> plugins;
  // Plan::key_inputs(): per cell and node, what the content-keyed nodes read (the Hub commit of a
  // model, the fingerprint of a local model folder).
  nlohmann::json key_inputs = nlohmann::json::object();

  // Added to (and overriding) builtin_library_versions(): the engine/runtime add "libcurl",
  // "libtorch", ... which this library does not link.
  std::map<std::string, std::string> library_versions;

  HostInfo host;                                   // collect_host_info()
  std::map<std::string, std::string> environment;  // collect_environment()
  std::map<std::string, std::uint64_t> seeds;      // "pipeline" and per-node overrides
  std::string started_at;                          // ISO 8601 UTC; finished_at "" while running
  std::string finished_at;
  std::vector<std::string> command_line;           // argv
  nlohmann::json extra = nlohmann::json::object(); // anything else the caller wants recorded
};

BIASLAB_API HostInfo collect_host_info();

// BIASLAB_* variables and the thread-count variables (OMP_NUM_THREADS, MKL_NUM_THREADS,
// CUDA_VISIBLE_DEVICES). Values of variables whose names look secret (TOKEN, SECRET, PASSWORD,
// KEY) are replaced by "<redacted>".
BIASLAB_API std::map<std::string, std::string> collect_environment();

// Versions of what biaslab_core is built against: "sqlite" (runtime sqlite3_libversion()),
// "boost", "tomlplusplus", "spdlog", "nlohmann_json" (compile time), "compiler" and
// "cxx_standard" (e.g. "gcc 12.2.0", "202002").
BIASLAB_API std::map<std::string, std::string> builtin_library_versions();

// "2024-05-01T12:34:56Z"
BIASLAB_API std::string iso8601_utc(std::chrono::system_clock::time_point t);
BIASLAB_API std::string iso8601_utc_now();

// The document written by write_provenance (adds "written_at").
BIASLAB_API nlohmann::json provenance_to_json(const ProvenanceInfo& info);

// Writes provenance_to_json(info) to `path` (normally <run_dir>/provenance.json) atomically.
BIASLAB_API void write_provenance(const std::filesystem::path& path, const ProvenanceInfo& info);

}  // namespace biaslab::results
