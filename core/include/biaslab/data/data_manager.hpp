#pragma once
// Finds benchmark data on disk or downloads it. Files are looked up, in this order, in
//   1. the data mirror  $BIASLAB_DATA_MIRROR/<folder>/<file>  (same layout as shared/data), then
//   2. the user cache   $BIASLAB_DATA_DIR, else $XDG_CACHE_HOME/biaslab/data, else
//                       ~/.cache/biaslab/data, as <cache>/<folder>/<file>, then
//   3. downloaded into the cache from the registry's pinned URL (unless offline).
// Every file is checked against the registry's sha256; the result of a check is remembered per
// (path, size, mtime, inode) in <cache>/.verified.json so repeated look-ups stay cheap.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "biaslab/data/download.hpp"
#include "biaslab/data/registry.hpp"
#include "biaslab/export.hpp"

namespace biaslab::data {

enum class Location { Mirror, Cache, Missing };
BIASLAB_API const char* to_string(Location location) noexcept;  // "mirror", "cache", "missing"

struct FileStatus {
  const DataFile* file = nullptr;       // the registry entry
  Location location = Location::Missing;
  std::filesystem::path local_path;     // empty when missing
  std::string problem;                  // why a present copy was rejected (sha256/size mismatch), else empty
};

struct BIASLAB_API DataSetStatus {
  const DataSet* dataset = nullptr;
  std::vector<FileStatus> files;        // in registry order
  // Where all required files are: Mirror if the mirror has every one, else Cache if the cache has
  // every one, else Missing.
  Location location = Location::Missing;
  std::size_t required_present() const noexcept;
  std::size_t required_total() const noexcept;
};

struct BIASLAB_API VerifyReport {
  std::string name;
  std::vector<FileStatus> files;        // each present file hashed in full (the verification cache is ignored)
  bool ok() const noexcept;             // every required file present with the right sha256, no corrupt copy
  std::size_t failures() const noexcept;
};

struct BIASLAB_API DataManagerOptions {
  std::filesystem::path mirror_dir;     // empty: no mirror
  std::filesystem::path cache_dir;      // must not be empty
  bool offline = false;                 // never download
  DownloadOptions download;             // timeouts, retries, progress for downloads
  // BIASLAB_DATA_MIRROR, default_data_cache_dir(), BIASLAB_OFFLINE.
  static DataManagerOptions from_environment();
};

// $BIASLAB_DATA_DIR, else $XDG_CACHE_HOME/biaslab/data, else ~/.cache/biaslab/data.
BIASLAB_API std::filesystem::path default_data_cache_dir();

class BIASLAB_API DataManager {
 public:
  explicit DataManager(DataManagerOptions options = DataManagerOptions::from_environment(),
                       const Registry& registry = Registry::builtin());
  ~DataManager();
  DataManager(const DataManager&) = delete;
  DataManager& operator=(const DataManager&) = delete;

  const Registry& registry() const noexcept { return registry_; }  // a copy owned by the manager
  const DataManagerOptions& options() const noexcept { return options_; }

  // Where each data set is found; never downloads (hashes files once, then uses the cache).
  std::vector<DataSetStatus> list() const;
  DataSetStatus status(std::string_view name) const;

  // Folder holding every required file of the data set, verified: the mirror folder when it is
  // complete, else the cache folder (missing files are copied from the mirror or downloaded).
  // Throws DataError naming the data set, the missing files, the mirror layout and the env vars.
  std::filesystem::path resolve(std::string_view name);
  // One file of a data set (required or not), found or downloaded the same way.
  std::filesystem::path file(std::string_view name, std::string_view relative_file);
  // Like resolve(), and also downloads the optional files that have a URL; returns resolve()'s folder.
  std::filesystem::path fetch(std::string_view name);
  // Hashes every present copy in full.
  VerifyReport verify(std::string_view name) const;

 private:
  struct VerifiedEntry {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::string sha256;
  };
  // Checks one copy: nullopt when absent, "" when it matches, else the problem. `full` re-hashes.
  std::optional<std::string> check_copy(const std::filesystem::path& path, const DataFile& file, bool full) const;
  FileStatus locate(const DataSet& set, const DataFile& file, bool full) const;
  std::filesystem::path obtain(const DataSet& set, const DataFile& file);
  void load_verified() const;
  void remember(const std::filesystem::path& path, const std::string& sha256) const;
  void save_verified() const;
  [[noreturn]] void throw_unavailable(const DataSet& set, const std::vector<FileStatus>& missing) const;

  DataManagerOptions options_;
  Registry registry_;
  mutable std::mutex mutex_;
  mutable bool verified_loaded_ = false;
  mutable bool verified_dirty_ = false;
  mutable std::map<std::string, VerifiedEntry> verified_;
};

}  // namespace biaslab::data
