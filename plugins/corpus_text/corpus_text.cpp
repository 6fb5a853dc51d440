// corpus.text: a text corpus from plain-text or JSONL files (or a data set of the data manager),
// split into documents, shuffled deterministically from the node's seed and divided into
// train/validation JSONL shards (the "corpus" artifact of docs/artifacts.md).
//
// Streaming: documents are read one at a time and dealt at random into temporary buckets of
// about shard_bytes each; each bucket is then shuffled in memory and becomes one shard. This is a
// uniformly random shuffle with memory bounded by one bucket.
#include <glob.h>

#include <algorithm>
#include <cstdlib>
#include <fnmatch.h>
#include <fstream>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "biaslab/data/data_manager.hpp"
#include "biaslab/data/missing_data.hpp"
#include "biaslab/plugin.hpp"
#include "biaslab/runtime/train/deterministic_random.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using biaslab::runtime::train::make_generator;
using biaslab::runtime::train::shuffle_in_place;
using biaslab::runtime::train::uniform01;
using biaslab::runtime::train::uniform_below;

constexpr std::uint64_t kSplitStream = 0x73706c6974ULL;  // "split"
constexpr std::uint64_t kShuffleStream = 0x73687566ULL;   // "shuf"

// Replaces each invalid UTF-8 sequence by U+FFFD (as Python's errors="replace" does per
// maximal invalid subsequence; here per byte); returns how many were replaced.
std::size_t sanitize_utf8(std::string& s) {
  std::string out;
  std::size_t replaced = 0;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points above U+10FFFF.
      std::uint32_t cp = c & (0x7F >> len);
      for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static const std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++replaced;
      ++i;
    }
  }
  s = std::move(out);
  return replaced;
}

std::vector<fs::path> expand_glob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<fs::path> out;
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) throw std::runtime_error("cannot expand path pattern '" + pattern + "'");
  std::sort(out.begin(), out.end());
  return out;
}

bool is_whitespace_only(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

class Buckets {
 public:
  Buckets(fs::path dir, std::size_t count) : dir_(std::move(dir)), count_(count) {
    fs::create_directories(dir_);
    for (const char* split : {"train", "validation"}) {
      for (std::size_t k = 0; k < count_; ++k) {
        files_[split].emplace_back(dir_ / (std::string(split) + "-" + std::to_string(k) + ".jsonl"),
                                   std::ios::binary | std::ios::trunc);
      }
    }
  }
  void add(const std::string& split, std::size_t bucket, const std::string& line) {
    auto& f = files_.at(split).at(bucket);
    f << line << '\n';
    if (!f) throw std::runtime_error("cannot write " + dir_.string());
  }
  void close() { files_.clear(); }
  fs::path path(const std::string& split, std::size_t k) const {
    return dir_ / (split + "-" + std::to_string(k) + ".jsonl");
  }
  std::size_t count() const { return count_; }

 private:
  fs::path dir_;
  std::size_t count_;
  std::map<std::string, std::vector<std::ofstream>> files_;
};

class CorpusText final : public biaslab::Operator {
 public:
  void run(biaslab::NodeContext& ctx) override {
    const auto& p = ctx.params();
    const auto sources = input_files(ctx);
    if (sources.empty()) {  // the data set is missing and if_missing = skip
      write_empty(ctx);
      return;
    }
    const std::string format = p["format"].get<std::string>();
    const std::string field = p["text_field"].get<std::string>();
    const double validation_fraction = p["validation_fraction"].get<double>();
    const bool shuffle = p["shuffle"].get<bool>();
    const auto max_documents = p["max_documents"].get<std::int64_t>();
    const auto min_chars = p["min_chars"].get<std::int64_t>();
    const auto shard_bytes = p["shard_bytes"].get<std::uint64_t>();

    std::uint64_t total_bytes = 0;
    for (const auto& f : sources) total_bytes += fs::file_size(f);
    const std::size_t bucket_count = std::max<std::uint64_t>(1, (total_bytes + shard_bytes - 1) / shard_bytes);
    Buckets buckets(ctx.scratch_dir() / "buckets", bucket_count);
    auto rng = make_generator(ctx.seed(), kSplitStream);

    std::map<std::string, std::int64_t> docs, bytes;
    std::int64_t read = 0, dropped = 0;
    std::size_t replaced = 0;
    json file_list = json::array();
    bool stop = false;
    auto add_document = [&](std::string text) {
      if (stop) return;
      replaced += sanitize_utf8(text);
      if (static_cast<std::int64_t>(text.size()) < min_chars || is_whitespace_only(text)) {
        ++dropped;
        return;
      }
      // Draw both numbers for every document so the split does not depend on the bucket count.
      const double u = uniform01(rng);
      const auto bucket = static_cast<std::size_t>(uniform_below(rng, bucket_count));
      const std::string split = u < validation_fraction ? "validation" : "train";
      ++docs[split];
      bytes[split] += static_cast<std::int64_t>(text.size());
      buckets.add(split, bucket, json{{"text", text}}.dump());
      if (max_documents > 0 && ++read >= max_documents) stop = true;
    };

    for (const auto& file : sources) {
      if (ctx.cancelled()) throw std::runtime_error("interrupted");
      const std::string f = format == "auto" ? (file.extension() == ".jsonl" ? "jsonl" : "paragraphs") : format;
      file_list.push_back({{"path", file.string()}, {"bytes", fs::file_size(file)}, {"format", f}});
      read_documents(file, f, field, add_document, stop);
      if (stop) break;
    }
    buckets.close();
    if (docs["train"] == 0) {
      throw std::runtime_error("corpus.text: no training documents were read from " + std::to_string(sources.size()) +
                               " file(s) (empty files, or min_chars too high?)");
    }

    json splits = json::object();
    for (const std::string split : {"train", "validation"}) {
      json files = json::array();
      for (std::size_t k = 0; k < bucket_count; ++k) {
        std::vector<std::string> lines;
        {
          std::ifstream in(buckets.path(split, k), std::ios::binary);
          for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
        }
        if (lines.empty()) continue;
        if (shuffle) {
          auto r = make_generator(ctx.seed(), kShuffleStream, k * 2 + (split == "train" ? 0 : 1));
          shuffle_in_place(lines, r);
        }
        const std::string name = bucket_count == 1 ? split + ".jsonl" : split + "-" + std::to_string(files.size()) + ".jsonl";
        std::ofstream out(ctx.output_dir() / name, std::ios::binary | std::ios::trunc);
        for (const auto& line : lines) out << line << '\n';
        if (!out) throw std::runtime_error("cannot write " + (ctx.output_dir() / name).string());
        files.push_back(name);
      }
      splits[split] = {{"files", files}, {"documents", docs[split]}, {"bytes", bytes[split]}};
    }
    fs::remove_all(ctx.scratch_dir() / "buckets");

    const json meta = {{"type", "corpus"},
                       {"format", "biaslab-corpus/1"},
                       {"text_field", "text"},
                       {"splits", splits},
                       {"source", {{"dataset", p["dataset"]}, {"files", file_list}}},
                       {"documents_dropped", dropped},
                       {"invalid_utf8_replaced", replaced},
                       {"seed", ctx.seed()},
                       {"shuffled", shuffle}};
    std::ofstream(ctx.output_dir() / "artifact.json") << meta.dump(2) << '\n';
    ctx.log().info("{} training and {} validation documents ({} + {} bytes)", docs["train"], docs["validation"],
                   bytes["train"], bytes["validation"]);
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = "train", .value = static_cast<double>(docs["train"])});
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = "validation",
              .value = static_cast<double>(docs["validation"])});
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.bytes", .category = "train", .value = static_cast<double>(bytes["train"])});
    ctx.emit({.model = ctx.node_name(), .metric = "corpus.bytes", .category = "validation",
              .value = static_cast<double>(bytes["validation"])});
  }

 private:
  static std::vector<fs::path> input_files(biaslab::NodeContext& ctx) {
    const auto& p = ctx.params();
    std::vector<fs::path> files;
    const auto dataset = p["dataset"].get<std::string>();
    if (!dataset.empty()) {
      biaslab::data::DataManager manager;
      const auto& set = manager.registry().get(dataset);
      const auto patterns = p["files"].get<std::vector<std::string>>();
      const bool skip_missing = p["if_missing"].get<std::string>() == "skip";
      std::vector<std::string> missing;
      const auto status = skip_missing ? manager.status(dataset) : biaslab::data::DataSetStatus{};
      for (const auto& file : set.files) {
        bool wanted;
        if (patterns.empty()) {
          const fs::path rel(file.path);
          wanted = file.required && rel.extension() != ".refs" && rel.extension() != ".md";
        } else {
          wanted = std::any_of(patterns.begin(), patterns.end(),
                               [&](const std::string& pat) { return ::fnmatch(pat.c_str(), file.path.c_str(), 0) == 0; });
        }
        if (!wanted) continue;
        if (skip_missing) {
          const auto it = std::find_if(status.files.begin(), status.files.end(),
                                       [&](const auto& f) { return f.file->path == file.path; });
          if (it == status.files.end() || it->location == biaslab::data::Location::Missing) {
            missing.push_back(dataset + "/" + file.path);
            continue;
          }
        }
        files.push_back(manager.file(dataset, file.path));
      }
      if (!missing.empty()) {
        // Remembered in the artifact: a later run that finds the data re-runs this node.
        for (const auto& spec : missing) biaslab::data::record_missing_data(ctx.output_dir(), spec);
        const char* mirror = std::getenv("BIASLAB_DATA_MIRROR");
        ctx.log().warn("corpus.text: skipping data set '{}' ({} of its files in neither the data mirror ({}) nor the "
                       "data cache ({})); if_missing = \"skip\"",
                       dataset, missing.size(), mirror && *mirror ? mirror : "BIASLAB_DATA_MIRROR not set",
                       biaslab::data::default_data_cache_dir().string());
        files.clear();
      } else if (files.empty()) {
        throw std::runtime_error("corpus.text: no file of data set '" + dataset + "' matches 'files'");
      }
    } else if (!p["files"].empty()) {
      throw std::runtime_error("corpus.text: 'files' selects files of a 'dataset'; list your own files in 'paths'");
    }
    for (const auto& pattern : p["paths"].get<std::vector<std::string>>()) {
      auto matched = expand_glob(pattern);
      if (matched.empty()) throw std::runtime_error("corpus.text: no file matches '" + pattern + "'");
      for (auto& m : matched) {
        if (!fs::is_regular_file(m)) throw std::runtime_error("corpus.text: '" + m.string() + "' is not a file");
        files.push_back(std::move(m));
      }
    }
    if (files.empty() && dataset.empty()) throw std::runtime_error("corpus.text: give a 'dataset' or 'paths'");
    return files;
  }

  // The artifact of a skipped data set: no documents (corpus.mix leaves such inputs out).
  static void write_empty(biaslab::NodeContext& ctx) {
    const auto& p = ctx.params();
    json splits = json::object();
    for (const char* split : {"train", "validation"}) splits[split] = {{"files", json::array()}, {"documents", 0}, {"bytes", 0}};
    const json meta = {{"type", "corpus"},
                       {"format", "biaslab-corpus/1"},
                       {"text_field", "text"},
                       {"splits", splits},
                       {"source", {{"dataset", p["dataset"]}, {"files", json::array()}, {"skipped", true}}},
                       {"seed", ctx.seed()},
                       {"shuffled", p["shuffle"]}};
    std::ofstream(ctx.output_dir() / "artifact.json") << meta.dump(2) << '\n';
    for (const char* split : {"train", "validation"}) {
      ctx.emit({.model = ctx.node_name(), .metric = "corpus.documents", .category = split, .value = 0.0});
      ctx.emit({.model = ctx.node_name(), .metric = "corpus.bytes", .category = split, .value = 0.0});
    }
  }

  template <typename Add>
  static void read_documents(const fs::path& file, const std::string& format, const std::string& field, Add& add,
                             const bool& stop) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + file.string());
    if (format == "document") {
      add(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
      return;
    }
    std::string paragraph;
    std::size_t lineno = 0;
    for (std::string line; !stop && std::getline(in, line);) {
      ++lineno;
      if (format == "jsonl") {
        if (is_whitespace_only(line)) continue;
        json j;
        try {
          j = json::parse(line);
        } catch (const json::exception& e) {
          throw std::runtime_error(file.string() + ":" + std::to_string(lineno) + ": malformed JSON: " + e.what());
        }
        if (!j.is_object() || !j.contains(field) || !j[field].is_string()) {
          throw std::runtime_error(file.string() + ":" + std::to_string(lineno) + ": no string field '" + field + "'");
        }
        add(j[field].get<std::string>());
      } else if (format == "lines") {
        if (!is_whitespace_only(line)) add(std::move(line));
      } else {  // paragraphs
        if (is_whitespace_only(line)) {
          if (!paragraph.empty()) add(std::move(paragraph));
          paragraph.clear();
        } else {
          if (!paragraph.empty()) paragraph += '\n';
          paragraph += line;
        }
      }
    }
    if (!stop && !paragraph.empty()) add(std::move(paragraph));
  }
};

const biaslab::PluginDescriptor kPlugin = {
    .abi_version = biaslab::kPluginAbiVersion,
    .name = "corpus.text",
    .version = "1.1.0",
    .kind = biaslab::PluginKind::source,
    .summary = "text corpus from files or a data set: documents, deterministic shuffle, train/validation shards",
    .params_schema = R"schema({
      "$schema": "http://json-schema.org/draft-07/schema#",
      "type": "object", "additionalProperties": false,
      "properties": {
        "dataset": {"type": "string", "default": "",
          "description": "data set of the data manager (e.g. corpora/tinyshakespeare, corpora/wikitext-2-v1): found in the mirror or cache, or downloaded, and checked against its pinned sha256; empty: read 'paths'"},
        "if_missing": {"type": "string", "enum": ["error", "skip"], "default": "error",
          "description": "when the data set is in neither the data mirror nor the data cache: error (download it, or fail offline), or skip: never download, read only 'paths' (no documents if none; corpus.mix leaves empty inputs out). A later run that finds the data re-runs the node"},
        "files": {"type": "array", "items": {"type": "string"}, "default": [],
          "description": "with 'dataset': glob patterns (fnmatch) of the data set's files to read; empty: every required file except *.refs and *.md"},
        "paths": {"type": "array", "items": {"type": "string"}, "default": [],
          "description": "text or JSONL files or glob patterns (glob(3)); read after the data set's files, in sorted order"},
        "format": {"type": "string", "enum": ["auto", "lines", "paragraphs", "document", "jsonl"], "default": "auto",
          "description": "how a file splits into documents: lines (each non-blank line), paragraphs (runs of non-blank lines), document (the whole file), jsonl (one JSON object per line); auto: jsonl for *.jsonl files, else paragraphs"},
        "text_field": {"type": "string", "default": "text", "description": "field holding the text in JSONL files"},
        "validation_fraction": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.05,
          "description": "probability that a document goes to the validation split"},
        "shuffle": {"type": "boolean", "default": true, "description": "shuffle documents (seeded by the node's seed)"},
        "max_documents": {"type": "integer", "minimum": 0, "default": 0,
          "description": "stop reading after this many documents, in file order (0: read everything)"},
        "min_chars": {"type": "integer", "minimum": 0, "default": 1,
          "description": "drop documents with fewer bytes than this"},
        "shard_bytes": {"type": "integer", "minimum": 1048576, "default": 67108864,
          "description": "approximate size of one output shard (and of the memory used to shuffle it)"}
      }
    })schema",
    .inputs = nullptr,
    .num_inputs = 0,
    .output_type = "corpus",
    .create = [] { return std::unique_ptr<biaslab::Operator>(new CorpusText); }};

}  // namespace

BIASLAB_PLUGIN(kPlugin)
