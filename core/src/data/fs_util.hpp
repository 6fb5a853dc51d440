#pragma once
// Internal file-system helpers: advisory inter-process locks, atomic small-file writes and
// environment look-ups.
#include <filesystem>
#include <optional>
#include <string>

namespace biaslab::data::detail {

// Exclusive flock() on `path` (created if needed) for the lifetime of the object, so two
// processes never write the same partial file. The lock file is left in place (removing it would
// race with a waiting process).
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Writes `content` to a temporary file next to `path` and renames it over `path`.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

// Reads a whole (small) file; nullopt if it does not exist or cannot be read.
std::optional<std::string> read_small_file(const std::filesystem::path& path, std::size_t max_bytes = 1 << 20);

// The variable's value when set and non-empty.
std::optional<std::string> env_string(const char* name);

// $HOME, else the passwd entry.
std::filesystem::path home_directory();

// A path relative to a base that must not escape it: no absolute paths, no "..", no empty or "."
// segments, no backslashes or NUL. Used for names that come from registries and servers.
bool is_safe_relative_path(std::string_view path) noexcept;

}  // namespace biaslab::data::detail
