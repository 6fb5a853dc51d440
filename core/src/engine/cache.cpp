#include "biaslab/cache.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include <xxhash.h>

namespace biaslab {

namespace fs = std::filesystem;

fs::path default_cache_root() {
  if (const char* d = std::getenv("BIASLAB_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "biaslab";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "biaslab";
  return fs::temp_directory_path() / "biaslab-cache";
}

std::string content_key(const nlohmann::json& material) {
  std::string text = material.dump();
  XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

Cache::Cache(fs::path root) : root_(std::move(root)) {}

fs::path Cache::entry_dir(const std::string& key) const { return root_ / "objects" / key.substr(0, 2) / key; }
fs::path Cache::scratch_dir(const std::string& key) const { return root_ / "scratch" / key; }

bool Cache::contains(const std::string& key) const {
  std::error_code ec;
  return fs::is_regular_file(entry_dir(key) / "node.json", ec);
}

Cache::Staging Cache::begin(const std::string& key) const {
  static std::atomic<unsigned> counter{0};
  Staging s;
  s.key = key;
  s.dir = root_ / "staging" / (key + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  s.artifact = s.dir / "artifact";
  fs::remove_all(s.dir);
  fs::create_directories(s.artifact);
  return s;
}

namespace {
void write_lines(const fs::path& file, const auto& items) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  for (const auto& item : items) out << nlohmann::json(item).dump() << '\n';
  if (!out) throw std::runtime_error("cannot write " + file.string());
}
template <typename Row>
std::vector<Row> read_lines(const fs::path& file) {
  std::vector<Row> rows;
  std::ifstream in(file, std::ios::binary);
  std::size_t lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (line.empty()) continue;
    try {
      rows.push_back(nlohmann::json::parse(line).get<Row>());
    } catch (const std::exception& e) {
      throw std::runtime_error(file.string() + ":" + std::to_string(lineno) + ": corrupt cache entry: " + e.what());
    }
  }
  return rows;
}
}  // namespace

void Cache::commit(const Staging& s, const nlohmann::json& node_info, const std::vector<ResultRow>& rows,
                   const std::vector<ExampleRow>& examples, Replace replace) const {
  write_lines(s.dir / "results.jsonl", rows);
  write_lines(s.dir / "examples.jsonl", examples);
  {
    // node.json last: its presence marks a complete entry.
    std::ofstream out(s.dir / "node.json", std::ios::binary | std::ios::trunc);
    out << node_info.dump(2) << '\n';
    if (!out) throw std::runtime_error("cannot write " + (s.dir / "node.json").string());
  }
  fs::path dest = entry_dir(s.key);
  fs::create_directories(dest.parent_path());
  std::error_code ec;
  if (replace == Replace::existing && contains(s.key)) {
    // Swap the new entry in with one atomic exchange (readers see the old or the new entry,
    // never none), then delete the old one, now under the staging name.
    if (::renameat2(AT_FDCWD, s.dir.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) != 0)
      throw std::runtime_error("cannot replace cache entry " + dest.string() + ": " + std::strerror(errno));
    fs::remove_all(s.dir, ec);
    fs::remove_all(scratch_dir(s.key), ec);
    return;
  }
  fs::rename(s.dir, dest, ec);
  if (ec) {
    if (contains(s.key)) {  // published concurrently by another run: identical by construction
      fs::remove_all(s.dir, ec);
      return;
    }
    // A stale incomplete entry (no node.json) can only come from outside tampering; replace it.
    fs::remove_all(dest);
    fs::rename(s.dir, dest);
  }
  fs::remove_all(scratch_dir(s.key), ec);
}

void Cache::abandon(const Staging& s) const {
  std::error_code ec;
  fs::remove_all(s.dir, ec);
}

void Cache::remove(const std::string& key) const {
  std::error_code ec;
  fs::remove_all(entry_dir(key), ec);
}

nlohmann::json Cache::node_info(const std::string& key) const {
  std::ifstream in(entry_dir(key) / "node.json");
  return nlohmann::json::parse(in);
}

std::vector<ResultRow> Cache::rows(const std::string& key) const {
  return read_lines<ResultRow>(entry_dir(key) / "results.jsonl");
}
std::vector<ExampleRow> Cache::examples(const std::string& key) const {
  return read_lines<ExampleRow>(entry_dir(key) / "examples.jsonl");
}

}  // namespace biaslab
