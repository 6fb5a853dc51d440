#include "biaslab/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

namespace biaslab {
namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// Closes the descriptor and removes the temporary file unless the write was committed.
class TempFile {
 public:
  TempFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  void close_or_throw() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw_errno(errno, "cannot close " + path_.string());
  }
  void commit() { committed_ = true; }

 private:
  int fd_;
  std::filesystem::path path_;
  bool committed_ = false;
};

// open(O_EXCL) on a unique name rather than mkstemp, so the kernel applies the umask to 0666
// exactly as for an ordinary new file.
TempFile create_temp_next_to(const std::filesystem::path& target) {
  static std::atomic<unsigned long> counter{0};
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::filesystem::path tmp =
        dir / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
               std::to_string(counter.fetch_add(1)));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return TempFile(fd, tmp);
    if (errno != EEXIST) throw_errno(errno, "cannot create temporary file " + tmp.string());
  }
  throw_errno(EEXIST, "cannot create a temporary file next to " + target.string());
}

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, "cannot open directory " + dir.string());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems cannot fsync directories; the rename itself has happened.
  if (rc != 0 && err != EINVAL && err != ENOTSUP) throw_errno(err, "cannot fsync " + dir.string());
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  if (path.filename().empty()) throw_errno(EISDIR, "cannot write file " + path.string());
  TempFile tmp = create_temp_next_to(path);
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(tmp.fd(), data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, "cannot write " + tmp.path().string() + " (for " + path.string() + ")");
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(tmp.fd()) != 0) throw_errno(errno, "cannot fsync " + tmp.path().string());
  tmp.close_or_throw();
  if (::rename(tmp.path().c_str(), path.c_str()) != 0)
    throw_errno(errno, "cannot rename " + tmp.path().string() + " to " + path.string());
  tmp.commit();
  fsync_directory(path.has_parent_path() ? path.parent_path() : ".");
}

}  // namespace biaslab
