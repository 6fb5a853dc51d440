#include "biaslab/runtime/train/corpus.hpp"

#include <fstream>
#include <stdexcept>

#include "runtime/train/file_util.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;

namespace {
// Shard names come from artifact.json: plain relative paths inside the corpus directory only.
fs::path shard_path(const fs::path& dir, const std::string& name) {
  const fs::path rel(name);
  if (name.empty() || rel.is_absolute()) {
    throw std::runtime_error((dir / "artifact.json").string() + ": shard '" + name + "' must be a relative path");
  }
  for (const auto& part : rel) {
    if (part == "..") throw std::runtime_error((dir / "artifact.json").string() + ": shard '" + name + "' leaves the corpus");
  }
  return dir / rel;
}
}  // namespace

CorpusReader::CorpusReader(fs::path dir) : dir_(std::move(dir)) {
  if (!fs::is_directory(dir_)) throw std::runtime_error("corpus " + dir_.string() + " is not a directory");
  if (fs::is_regular_file(dir_ / "artifact.json")) {
    meta_ = read_json_file(dir_ / "artifact.json");
    if (!meta_.is_object()) throw std::runtime_error((dir_ / "artifact.json").string() + ": expected a JSON object");
    if (meta_.contains("text_field")) {
      if (!meta_["text_field"].is_string()) {
        throw std::runtime_error((dir_ / "artifact.json").string() + ": 'text_field' must be a string");
      }
      text_field_ = meta_["text_field"].get<std::string>();
    }
  }
}

bool CorpusReader::has_split(const std::string& split) const { return !files(split).empty(); }

std::vector<fs::path> CorpusReader::files(const std::string& split) const {
  std::vector<fs::path> out;
  if (meta_.contains("splits")) {
    const auto& splits = meta_["splits"];
    const auto where = (dir_ / "artifact.json").string();
    if (!splits.is_object()) throw std::runtime_error(where + ": 'splits' must be an object");
    if (!splits.contains(split)) return out;
    const auto& s = splits[split];
    if (!s.is_object() || !s.contains("files") || !s["files"].is_array()) {
      throw std::runtime_error(where + ": splits." + split + " needs an array 'files'");
    }
    for (const auto& f : s["files"]) {
      if (!f.is_string()) throw std::runtime_error(where + ": splits." + split + ".files holds a non-string");
      out.push_back(shard_path(dir_, f.get<std::string>()));
    }
    return out;
  }
  if (fs::is_regular_file(dir_ / (split + ".jsonl"))) out.push_back(dir_ / (split + ".jsonl"));
  return out;
}

std::vector<std::string> CorpusReader::documents(const std::string& split) const {
  std::vector<std::string> docs;
  for (const auto& file : files(split)) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open corpus shard " + file.string());
    std::size_t lineno = 0;
    for (std::string line; std::getline(in, line);) {
      ++lineno;
      if (line.empty()) continue;
      const auto where = file.string() + ":" + std::to_string(lineno);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(where + ": malformed JSON: " + e.what());
      }
      if (!j.is_object() || !j.contains(text_field_) || !j[text_field_].is_string()) {
        throw std::runtime_error(where + ": expected an object with a string field '" + text_field_ + "'");
      }
      docs.push_back(j[text_field_].get<std::string>());
    }
  }
  return docs;
}

}  // namespace biaslab::runtime::train
