#pragma once
// Reading a "corpus" artifact (docs/artifacts.md): a directory with artifact.json naming the
// JSONL shards of each split ({"text": ...} per line). Torch-free.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/export.hpp"

namespace biaslab::runtime::train {

class BIASLAB_API CorpusReader {
 public:
  // Throws if dir is not a directory. artifact.json is optional: without it the splits are
  // <split>.jsonl.
  explicit CorpusReader(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  const nlohmann::json& meta() const { return meta_; }
  bool has_split(const std::string& split) const;
  // Shard files of a split, in order (empty if the split does not exist).
  std::vector<std::filesystem::path> files(const std::string& split) const;
  // Every document of a split in file order. Throws naming file:line on malformed lines or a
  // missing/non-string text field.
  std::vector<std::string> documents(const std::string& split) const;

 private:
  std::filesystem::path dir_;
  nlohmann::json meta_ = nlohmann::json::object();
  std::string text_field_ = "text";
};

}  // namespace biaslab::runtime::train
