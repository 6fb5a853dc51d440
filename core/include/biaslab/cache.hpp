#pragma once
// Content-addressed store of node outputs. Layout under the cache root:
//   objects/<k0k1>/<key>/artifact/        the artifact directory handed to consumers
//   objects/<k0k1>/<key>/node.json        what produced it (plugin, version, params, inputs, seed)
//   objects/<k0k1>/<key>/results.jsonl    rows the node reported (replayed when cached)
//   objects/<k0k1>/<key>/examples.jsonl
//   staging/<key>.<pid>.<n>/              work in progress, renamed into objects/ when complete
//   scratch/<key>/                        resumable state of an interrupted node
// An entry exists only once complete: publication is a single rename, so a killed run never
// leaves a half-written entry and simply resumes.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"
#include "biaslab/results.hpp"

namespace biaslab {

// $BIASLAB_CACHE_DIR, else $XDG_CACHE_HOME/biaslab, else ~/.cache/biaslab.
BIASLAB_API std::filesystem::path default_cache_root();

class BIASLAB_API Cache {
 public:
  explicit Cache(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  bool contains(const std::string& key) const;
  std::filesystem::path entry_dir(const std::string& key) const;
  std::filesystem::path artifact_dir(const std::string& key) const { return entry_dir(key) / "artifact"; }
  std::filesystem::path scratch_dir(const std::string& key) const;

  struct Staging {
    std::string key;
    std::filesystem::path dir;       // staging/<key>.<unique>
    std::filesystem::path artifact;  // dir/artifact (created, empty)
  };
  Staging begin(const std::string& key) const;
  // Writes node.json and the row files into the staging dir, then renames it into place.
  // keep_existing: if another process published the same key meanwhile, keeps theirs (same content
  // by key). existing: a re-run of a cached entry (--force, data that appeared) replaces it.
  enum class Replace { keep_existing, existing };
  void commit(const Staging& s, const nlohmann::json& node_info, const std::vector<ResultRow>& rows,
              const std::vector<ExampleRow>& examples, Replace replace = Replace::keep_existing) const;
  void abandon(const Staging& s) const;
  void remove(const std::string& key) const;

  nlohmann::json node_info(const std::string& key) const;
  std::vector<ResultRow> rows(const std::string& key) const;
  std::vector<ExampleRow> examples(const std::string& key) const;

 private:
  std::filesystem::path root_;
};

// Hex xxh3-128 of a canonical JSON document (object keys sorted, as nlohmann dumps them).
BIASLAB_API std::string content_key(const nlohmann::json& material);

}  // namespace biaslab
