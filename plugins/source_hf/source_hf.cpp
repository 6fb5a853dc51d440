// source.hf: a Hugging Face model, from a local directory or the Hub (any revision, e.g. a
// Pythia checkpoint "step1000"), as a "model" artifact. The artifact links to the files instead
// of copying them, so a 7B checkpoint costs nothing to register; Hub downloads go to the standard
// HF cache (shared with Python tools).
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "biaslab/data/hub.hpp"
#include "biaslab/plugin.hpp"

namespace fs = std::filesystem;

namespace {

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
        "path": {"type": "string", "default": "", "description": "Local model directory (config.json + safetensors or pytorch_model.bin + tokenizer files). Treated as immutable: the cache key does not see file changes."},
        "repo": {"type": "string", "default": "", "description": "Hub model id, e.g. EleutherAI/pythia-70m-deduped (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE and the HF cache are honoured)."},
        "revision": {"type": "string", "default": "main", "description": "Branch, tag or commit on the Hub, e.g. step143000 for a Pythia checkpoint."},
        "files": {"type": "array", "items": {"type": "string"}, "default": [], "description": "Hub file patterns to download (fnmatch); empty: config, weights, tokenizer files."}
      }
    })",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "model",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new SourceHf); }};

}  // namespace

BIASLAB_PLUGIN(kDescriptor)
