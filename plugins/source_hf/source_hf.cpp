// source.hf: a Hugging Face model, from a local directory or the Hub (any revision, e.g. a
// Pythia checkpoint "step1000"), as a "model" artifact. The artifact links to the files instead
// of copying them, so a 7B checkpoint costs nothing to register; Hub downloads go to the standard
// HF cache (shared with Python tools).
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include "biaslab/data/hub.hpp"
#include "biaslab/plugin.hpp"

namespace fs = std::filesystem;

namespace {

// --- cache key: what the model is, not what it is called (docs/pipelines.md, "Caching") ---

bool is_weight_file(const std::string& name) {
  for (const char* ext : {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack"})
    if (name.ends_with(ext)) return true;
  return false;
}

// Documentation and VCS files are linked too but do not change what the model computes.
bool is_model_file(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  if (name.ends_with(".md") || name.starts_with("LICENSE") || name.starts_with("README")) return false;
  return true;
}

// XXH3-64 of a whole file, memoised per (file, inode, size, mtime, ctime) for the life of the
// process: a grid that names one checkpoint in 147 cells reads it once, and a rewrite of the file
// (which moves ctime even when mtime is restored) is read again.
std::string file_content_hash(const fs::path& file) {
  struct ::stat st {};
  if (::stat(file.c_str(), &st) != 0) throw std::runtime_error("source.hf: cannot stat " + file.string());
  const std::string memo_key = file.string() + "|" + std::to_string(st.st_ino) + "|" + std::to_string(st.st_size) + "|" +
                               std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "|" +
                               std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
  static std::mutex mu;
  static std::map<std::string, std::string> memo;
  {
    std::lock_guard lock(mu);
    if (auto it = memo.find(memo_key); it != memo.end()) return it->second;
  }
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("source.hf: cannot read " + file.string());
  std::vector<char> buffer(8 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH3_64bits_update(state.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw std::runtime_error("source.hf: error reading " + file.string());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(state.get())));
  std::lock_guard lock(mu);
  return memo[memo_key] = hex;
}

// {"weights": {file: {bytes, xxh3_64}}, "config_and_tokenizer": {...}} over the top-level files
// of a local model folder (the files the artifact links).
nlohmann::json folder_fingerprint(const std::string& path) {
  const fs::path dir = fs::absolute(path);
  if (!fs::exists(dir)) throw std::runtime_error("model folder '" + dir.string() + "' does not exist");
  if (!fs::is_directory(dir)) throw std::runtime_error("'" + dir.string() + "' is not a directory");
  if (!fs::exists(dir / "config.json"))
    throw std::runtime_error("model folder '" + dir.string() + "' has no config.json (not a Hugging Face model directory)");
  nlohmann::json weights = nlohmann::json::object(), other = nlohmann::json::object();
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!fs::is_regular_file(e.path()) || !is_model_file(name)) continue;  // follows symlinks
    nlohmann::json entry = {{"bytes", fs::file_size(e.path())}, {"xxh3_64", file_content_hash(e.path())}};
    (is_weight_file(name) ? weights : other)[name] = std::move(entry);
  }
  if (weights.empty()) throw std::runtime_error("model folder '" + dir.string() + "' has no weight files");
  return {{"weights", weights}, {"config_and_tokenizer", other}};
}

// The commit a Hub revision names: the revision itself when it is a sha; else online the commit
// the Hub reports now (a moved branch changes the key), offline the HF cache's refs/<revision>.
// "" when neither knows it (offline, not downloaded yet): then the node cannot run either, and
// planning (validate, slurm scripts) still works. Not memoised: a branch may move while a process
// lives; the engine asks once per distinct parameter set and plan.
std::string hub_commit(const std::string& repo, const std::string& revision) {
  static const std::regex sha("[0-9a-f]{40}");
  if (std::regex_match(revision, sha)) return revision;
  biaslab::data::HubClient hub;
  std::string commit;
  // After one failed request the process stops asking (a grid of 147 revisions on a machine
  // without network would otherwise wait out 147 timeouts).
  static std::atomic<bool> hub_unreachable{false};
  if (!hub.options().offline && !hub_unreachable) {
    try {
      commit = hub.file_metadata(repo, "config.json", revision).commit;
    } catch (const std::exception& e) {
      hub_unreachable = true;
      spdlog::warn("source.hf: cannot ask the Hub which commit {}@{} is ({}); using the HF cache's records "
                   "for every revision of this run", repo, revision, e.what());
    }
  }
  if (commit.empty()) commit = hub.cached_commit(repo, revision).value_or("");
  return commit;
}

nlohmann::json key_inputs(const nlohmann::json& p) {
  const std::string path = p.value("path", ""), repo = p.value("repo", "");
  if (path.empty() == repo.empty())
    throw std::invalid_argument("give exactly one of 'path' (a local model directory) or 'repo' (a Hub id)");
  if (!path.empty()) return folder_fingerprint(path);
  const std::string revision = p.value("revision", "main");
  const std::string commit = hub_commit(repo, revision);
  // Keyed on the name until it can be resolved; null: content unknown (no identical-content check).
  if (commit.empty()) return {{"commit", nullptr}, {"unresolved_revision", revision}};
  return {{"commit", commit}};
}

class SourceHf final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const std::string path = p.value("path", "");
    const std::string repo = p.value("repo", "");
    if (path.empty() == repo.empty())
      throw std::invalid_argument("source.hf: give exactly one of 'path' (a local model directory) or 'repo' (a Hub id)");
    fs::path dir;
    nlohmann::json info = {{"source", "hf"}};
    if (!path.empty()) {
      dir = fs::absolute(path);
      if (!fs::is_directory(dir)) throw std::runtime_error("source.hf: '" + path + "' is not a directory");
      info["path"] = dir.string();
    } else {
      std::vector<std::string> patterns = p["files"].get<std::vector<std::string>>();
      if (patterns.empty()) patterns = biaslab::data::default_model_patterns();
      const std::string revision = p["revision"].get<std::string>();
      biaslab::data::HubClient hub;
      ctx.log().info("resolving {}@{}", repo, revision);
      dir = hub.snapshot_download(repo, revision, patterns);
      info["repo"] = repo;
      info["revision"] = revision;
      info["commit"] = hub.cached_commit(repo, revision).value_or("");
      info["path"] = dir.string();
    }
    if (!fs::exists(dir / "config.json"))
      throw std::runtime_error("source.hf: " + dir.string() + " has no config.json (not a Hugging Face model directory)");
    // Link every top-level file; sub-folders (e.g. golden outputs, onnx exports) are not part of
    // the model.
    std::uintmax_t weight_bytes = 0;
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!fs::is_regular_file(e.path())) continue;  // follows symlinks (HF snapshots)
      const std::string name = e.path().filename().string();
      fs::create_symlink(fs::canonical(e.path()), ctx.output_dir() / name);
      files.push_back(name);
      if (name.ends_with(".safetensors") || name.ends_with(".bin")) weight_bytes += fs::file_size(e.path());
    }
    std::sort(files.begin(), files.end());
    info["files"] = files;
    std::ofstream(ctx.output_dir() / "artifact.json") << info.dump(2) << "\n";
    ctx.emit({.model = ctx.node_name(), .metric = "model.checkpoint_bytes", .value = static_cast<double>(weight_bytes)});
  }
};

const biaslab::PluginDescriptor kDescriptor = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "source.hf",
    .version = "1.0.0",
    .kind = biaslab::PluginKind::source,
    .summary = "Hugging Face model from a local directory or the Hub (any revision)",
    .params_schema = R"({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "path": {"type": "string", "default": "", "description": "Local model directory (config.json + safetensors or pytorch_model.bin + tokenizer files). The cache key holds the names, sizes and XXH3-64 content hashes of its files, so replaced weights re-run the node and everything downstream."},
        "repo": {"type": "string", "default": "", "description": "Hub model id, e.g. EleutherAI/pythia-70m-deduped (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the HF cache are honoured)."},
        "revision": {"type": "string", "default": "main", "description": "Branch, tag or commit on the Hub, e.g. step143000 for a Pythia checkpoint. The cache key holds the commit it resolves to (online: asked at plan time; offline: the HF cache's refs), so a moved branch re-runs."},
        "files": {"type": "array", "items": {"type": "string"}, "default": [], "description": "Hub file patterns to download (fnmatch); empty: config, weights, tokenizer files."}
      }
    })",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new SourceHf); },
    .key_inputs = key_inputs};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
