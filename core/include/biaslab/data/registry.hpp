#pragma once
// The registry of benchmark data sets: for every file its path inside the data set's folder,
// sha256, size and canonical URL pinned to a commit (empty for "mirror-only" files that were
// reconstructed or written locally and exist only in a data mirror). The built-in registry is
// core/src/data/registry.json, generated from shared/data/SHA256SUMS and */SOURCES.md by
// core/src/data/gen_registry.py and compiled into the library.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::data {

struct DataFile {
  std::string path;          // relative to the data set's folder, '/'-separated
  std::string sha256;        // lower-case hex
  std::uint64_t size = 0;    // bytes
  std::string url;           // canonical download URL; empty: mirror-only
  std::string note;          // why the file is mirror-only (or other provenance remarks)
  bool required = true;      // false: documentation / provenance inputs a benchmark does not read

  bool mirror_only() const noexcept { return url.empty(); }
};

struct BIASLAB_API DataSet {
  std::string name;          // e.g. "crows_pairs", "corpora/wikitext-2-v1", "tokenizers/gpt2"
  std::string folder;        // relative folder in a mirror and in the cache, e.g. "crows_pairs"
  std::string description;
  std::string license;
  std::string source;        // canonical home (repository or site)
  std::vector<DataFile> files;

  const DataFile* find(std::string_view relative_path) const noexcept;
  // True when a required file has no URL, i.e. the set cannot be completed by downloading.
  bool mirror_only() const noexcept;
  std::uint64_t total_size() const noexcept;
};

class BIASLAB_API Registry {
 public:
  // The registry compiled into libbiaslab_core.
  static const Registry& builtin();
  // Parses and validates a registry document ({"datasets": [...]}, the format of registry.json).
  // `origin` names the document in error messages.
  static Registry from_json(std::string_view json_text, std::string_view origin);
  static Registry from_file(const std::filesystem::path& file);

  const std::vector<DataSet>& datasets() const noexcept { return datasets_; }
  const DataSet* find(std::string_view name) const noexcept;
  // Throws DataError listing the known names when `name` is unknown.
  const DataSet& get(std::string_view name) const;

 private:
  std::vector<DataSet> datasets_;
};

}  // namespace biaslab::data
