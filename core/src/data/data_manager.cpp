#include "biaslab/data/data_manager.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "biaslab/data/errors.hpp"
#include "biaslab/data/sha256.hpp"
#include "data/fs_util.hpp"

namespace biaslab::data {

namespace fs = std::filesystem;

const char* to_string(Location location) noexcept {
  switch (location) {
    case Location::Mirror: return "mirror";
    case Location::Cache: return "cache";
    case Location::Missing: return "missing";
  }
  return "?";
}

std::size_t DataSetStatus::required_present() const noexcept {
  std::size_t n = 0;
  for (const auto& f : files) n += (f.file->required && f.location != Location::Missing) ? 1 : 0;
  return n;
}

std::size_t DataSetStatus::required_total() const noexcept {
  std::size_t n = 0;
  for (const auto& f : files) n += f.file->required ? 1 : 0;
  return n;
}

std::size_t VerifyReport::failures() const noexcept {
  std::size_t n = 0;
  for (const auto& f : files)
    n += (!f.problem.empty() || (f.file->required && f.location == Location::Missing)) ? 1 : 0;
  return n;
}

bool VerifyReport::ok() const noexcept { return failures() == 0; }

fs::path default_data_cache_dir() {
  if (auto dir = detail::env_string("BIASLAB_DATA_DIR")) return *dir;
  if (auto xdg = detail::env_string("XDG_CACHE_HOME")) return fs::path(*xdg) / "biaslab" / "data";
  return detail::home_directory() / ".cache" / "biaslab" / "data";
}

DataManagerOptions DataManagerOptions::from_environment() {
  DataManagerOptions options;
  if (auto mirror = detail::env_string("BIASLAB_DATA_MIRROR")) options.mirror_dir = *mirror;
  options.cache_dir = default_data_cache_dir();
  options.offline = env_flag("BIASLAB_OFFLINE");
  return options;
}

DataManager::DataManager(DataManagerOptions options, const Registry& registry)
    : options_(std::move(options)), registry_(registry) {
  if (options_.cache_dir.empty()) throw DataError("DataManager: the cache directory is empty");
  options_.cache_dir = fs::absolute(options_.cache_dir);
  if (!options_.mirror_dir.empty()) options_.mirror_dir = fs::absolute(options_.mirror_dir);
}

DataManager::~DataManager() = default;

namespace {

fs::path in_folder(const fs::path& root, const DataSet& set, std::string_view relative) {
  return root / fs::path(set.folder) / fs::path(std::string(relative));
}

std::string display(const DataSet& set, const DataFile& file) { return set.folder + "/" + file.path; }

// Saves pending verification results when a public operation ends, even by an exception.
template <typename Save>
struct SaveOnExit {
  Save save;
  ~SaveOnExit() { save(); }
};
template <typename Save>
SaveOnExit(Save) -> SaveOnExit<Save>;

}  // namespace

void DataManager::load_verified() const {
  if (verified_loaded_) return;
  verified_loaded_ = true;
  const fs::path path = options_.cache_dir / ".verified.json";
  auto text = detail::read_small_file(path, 64u << 20);
  if (!text) return;
  try {
    const auto document = nlohmann::json::parse(*text);
    for (const auto& [key, value] : document.at("files").items()) {
      VerifiedEntry entry;
      entry.size = value.at("size").get<std::uint64_t>();
      entry.mtime_ns = value.at("mtime_ns").get<std::int64_t>();
      entry.inode = value.at("inode").get<std::uint64_t>();
      entry.sha256 = value.at("sha256").get<std::string>();
      verified_[key] = std::move(entry);
    }
  } catch (const std::exception& error) {
    spdlog::warn("ignoring unreadable verification cache {}: {}", path.string(), error.what());
    verified_.clear();
  }
}

void DataManager::save_verified() const {
  if (!verified_dirty_) return;
  verified_dirty_ = false;
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [key, entry] : verified_)
    files[key] = {{"size", entry.size}, {"mtime_ns", entry.mtime_ns}, {"inode", entry.inode}, {"sha256", entry.sha256}};
  const nlohmann::json document = {{"version", 1}, {"files", files}};
  try {
    detail::write_file_atomically(options_.cache_dir / ".verified.json", document.dump(1));
  } catch (const std::exception& error) {
    spdlog::warn("cannot save the verification cache in {}: {}", options_.cache_dir.string(), error.what());
  }
}

void DataManager::remember(const fs::path& path, const std::string& sha256) const {
  struct ::stat info {};
  if (::stat(path.c_str(), &info) != 0) return;
  VerifiedEntry entry;
  entry.size = static_cast<std::uint64_t>(info.st_size);
  entry.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  entry.inode = static_cast<std::uint64_t>(info.st_ino);
  entry.sha256 = sha256;
  verified_[fs::absolute(path).string()] = std::move(entry);
  verified_dirty_ = true;
}

std::optional<std::string> DataManager::check_copy(const fs::path& path, const DataFile& file, bool full) const {
  struct ::stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size != file.size)
    return "size " + std::to_string(size) + " bytes, expected " + std::to_string(file.size);
  load_verified();
  const std::string key = fs::absolute(path).string();
  const std::int64_t mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  std::string actual;
  auto it = verified_.find(key);
  if (!full && it != verified_.end() && it->second.size == size && it->second.mtime_ns == mtime_ns &&
      it->second.inode == static_cast<std::uint64_t>(info.st_ino)) {
    actual = it->second.sha256;
  } else {
    actual = sha256_file(path);
    remember(path, actual);
  }
  if (actual != file.sha256) return "sha256 " + actual + ", expected " + file.sha256;
  return std::string();
}

FileStatus DataManager::locate(const DataSet& set, const DataFile& file, bool full) const {
  FileStatus status;
  status.file = &file;
  auto consider = [&](const fs::path& root, Location where) {
    if (root.empty() || status.location != Location::Missing) return;
    const fs::path path = in_folder(root, set, file.path);
    auto problem = check_copy(path, file, full);
    if (!problem) return;
    if (problem->empty()) {
      status.location = where;
      status.local_path = path;
    } else {
      status.problem += (status.problem.empty() ? "" : "; ") + std::string(to_string(where)) + " copy " +
                        path.string() + " has " + *problem;
    }
  };
  consider(options_.mirror_dir, Location::Mirror);
  consider(options_.cache_dir, Location::Cache);
  if (!status.problem.empty()) spdlog::warn("data set '{}': {}: {}", set.name, file.path, status.problem);
  return status;
}

DataSetStatus DataManager::status(std::string_view name) const {
  std::lock_guard lock(mutex_);
  SaveOnExit save{[this] { save_verified(); }};
  const DataSet& set = registry_.get(name);
  DataSetStatus result;
  result.dataset = &set;
  bool all_mirror = true;
  bool all_present = true;
  for (const auto& file : set.files) {
    result.files.push_back(locate(set, file, false));
    if (!file.required) continue;
    all_mirror = all_mirror && result.files.back().location == Location::Mirror;
    all_present = all_present && result.files.back().location != Location::Missing;
  }
  result.location = all_mirror ? Location::Mirror : all_present ? Location::Cache : Location::Missing;
  return result;
}

std::vector<DataSetStatus> DataManager::list() const {
  std::vector<DataSetStatus> result;
  for (const auto& set : registry_.datasets()) result.push_back(status(set.name));
  return result;
}

void DataManager::throw_unavailable(const DataSet& set, const std::vector<FileStatus>& missing) const {
  bool any_mirror_only = false;
  bool any_downloadable = false;
  std::string lines;
  for (const auto& status : missing) {
    const DataFile& file = *status.file;
    lines += "\n  " + display(set, file);
    if (file.mirror_only()) {
      any_mirror_only = true;
      lines += " (mirror-only: no public download URL";
      if (!file.note.empty()) lines += "; " + file.note;
      lines += ")";
    } else {
      any_downloadable = true;
    }
    if (!status.problem.empty()) lines += " [rejected: " + status.problem + "]";
  }
  const std::size_t n = missing.size();
  std::string message = "data set '" + set.name + "' is not available" + (options_.offline ? " offline" : "") + ": " +
                        std::to_string(n) + (n == 1 ? " file is" : " files are") + " missing:" + lines;
  message += "\nSearched: ";
  message += options_.mirror_dir.empty() ? std::string("no mirror (BIASLAB_DATA_MIRROR is not set)")
                                         : "mirror " + (options_.mirror_dir / set.folder).string();
  message += "; cache " + (options_.cache_dir / set.folder).string() + ".";
  message += "\nExpected mirror layout: <mirror>/" + set.folder + "/<file>, e.g. <mirror>/" + display(set, *missing.front().file) +
             "; set BIASLAB_DATA_MIRROR=<mirror> (shared/data has this layout)";
  if (options_.offline && any_downloadable) message += ", or turn off offline mode (BIASLAB_OFFLINE) to download";
  message += ".";
  if (any_mirror_only) message += "\nMirror-only files cannot be downloaded; only a mirror can provide them.";
  throw DataError(message);
}

fs::path DataManager::obtain(const DataSet& set, const DataFile& file) {
  FileStatus status = locate(set, file, false);
  if (status.location != Location::Missing) return status.local_path;
  if (file.mirror_only() || options_.offline) throw_unavailable(set, {status});
  const fs::path destination = in_folder(options_.cache_dir, set, file.path);
  detail::FileLock lock(options_.cache_dir / ".locks" / fs::path(set.folder) / (file.path + ".lock"));
  // Another process may have finished the download while we waited for the lock.
  if (auto problem = check_copy(destination, file, false); problem && problem->empty()) return destination;
  DownloadOptions download = options_.download;
  download.expected_sha256 = file.sha256;
  download.expected_size = file.size;
  download.offline = false;
  if (download.label.empty()) download.label = display(set, file);
  spdlog::info("downloading {} from {}", display(set, file), file.url);
  const DownloadResult result = download_file(file.url, destination, download);
  remember(destination, result.sha256);
  return destination;
}

fs::path DataManager::resolve(std::string_view name) {
  std::lock_guard lock(mutex_);
  SaveOnExit save{[this] { save_verified(); }};
  const DataSet& set = registry_.get(name);
  std::vector<FileStatus> required;
  for (const auto& file : set.files)
    if (file.required) required.push_back(locate(set, file, false));
  bool all_mirror = !required.empty();
  for (const auto& status : required) all_mirror = all_mirror && status.location == Location::Mirror;
  if (all_mirror) return options_.mirror_dir / set.folder;

  // Fail before downloading anything when some file cannot be obtained at all.
  std::vector<FileStatus> unobtainable;
  for (const auto& status : required)
    if (status.location == Location::Missing && (status.file->mirror_only() || options_.offline))
      unobtainable.push_back(status);
  if (!unobtainable.empty()) throw_unavailable(set, unobtainable);

  for (const auto& status : required) {
    const DataFile& file = *status.file;
    if (status.location == Location::Cache) continue;
    if (status.location == Location::Mirror) {
      // The cache folder must be complete on its own: copy the verified mirror file into it.
      const fs::path destination = in_folder(options_.cache_dir, set, file.path);
      fs::create_directories(destination.parent_path());
      std::random_device random;
      const fs::path temp = destination.string() + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(random());
      fs::copy_file(status.local_path, temp, fs::copy_options::overwrite_existing);
      fs::rename(temp, destination);
      remember(destination, file.sha256);
      continue;
    }
    obtain(set, file);
  }
  return options_.cache_dir / set.folder;
}

fs::path DataManager::file(std::string_view name, std::string_view relative_file) {
  std::lock_guard lock(mutex_);
  SaveOnExit save{[this] { save_verified(); }};
  const DataSet& set = registry_.get(name);
  const DataFile* file = set.find(relative_file);
  if (file == nullptr) {
    std::string known;
    for (const auto& f : set.files) known += (known.empty() ? "" : ", ") + f.path;
    throw DataError("data set '" + set.name + "' has no file '" + std::string(relative_file) + "'; its files: " + known);
  }
  return obtain(set, *file);
}

fs::path DataManager::fetch(std::string_view name) {
  const fs::path folder = resolve(name);
  std::lock_guard lock(mutex_);
  SaveOnExit save{[this] { save_verified(); }};
  const DataSet& set = registry_.get(name);
  for (const auto& file : set.files)
    if (!file.required && !file.mirror_only() && !options_.offline) obtain(set, file);
  return folder;
}

VerifyReport DataManager::verify(std::string_view name) const {
  std::lock_guard lock(mutex_);
  SaveOnExit save{[this] { save_verified(); }};
  const DataSet& set = registry_.get(name);
  VerifyReport report;
  report.name = set.name;
  for (const auto& file : set.files) report.files.push_back(locate(set, file, true));
  return report;
}

}  // namespace biaslab::data
