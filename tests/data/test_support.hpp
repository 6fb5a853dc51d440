#pragma once
// Helpers for the data tests: a cpp-httplib server on 127.0.0.1 (ephemeral port) that logs every
// request, temporary folders, environment overrides and file helpers.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace biaslab::data::test {

struct LoggedRequest {
  std::string method, path, range, authorization;
  int status = 0;
};

class TestServer {
 public:
  TestServer() {
    // The logger runs after the response was written, so a client can see the answer before the
    // entry exists: count requests on arrival and let log() wait for the stragglers.
    server_.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
      std::lock_guard lock(mutex_);
      ++started_;
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server_.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
      std::lock_guard lock(mutex_);
      log_.push_back({request.method, request.path, request.get_header_value("Range"),
                      request.get_header_value("Authorization"), response.status});
      finished_.notify_all();
    });
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  httplib::Server& http() { return server_; }

  // Register every handler before start().
  void start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  void stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string url(const std::string& path) const { return origin() + path; }

  std::vector<LoggedRequest> log() const {
    std::unique_lock lock(mutex_);
    finished_.wait_for(lock, std::chrono::seconds(10), [this] { return log_.size() + cleared_ >= started_; });
    return log_;
  }
  std::size_t count(const std::string& method, const std::string& path) const {
    std::size_t n = 0;
    for (const auto& r : log())
      if (r.method == method && r.path == path) ++n;
    return n;
  }
  void clear_log() {
    log();  // wait for requests still being logged
    std::lock_guard lock(mutex_);
    cleared_ += log_.size();
    log_.clear();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mutex_;
  mutable std::condition_variable finished_;
  std::size_t started_ = 0, cleared_ = 0;
  std::vector<LoggedRequest> log_;
};

// Deterministic pseudo-random bytes.
inline std::string make_bytes(std::size_t n, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(n, '\0');
  for (auto& c : bytes) c = static_cast<char>(generator() & 0xff);
  return bytes;
}

class TempDir {
 public:
  // Under $BIASLAB_BINARY_DIR (set by CTest) rather than the shared /tmp.
  TempDir() {
    std::random_device random;
    const char* build = std::getenv("BIASLAB_BINARY_DIR");
    const std::filesystem::path root = build != nullptr ? std::filesystem::path(build) / "tmp" : std::filesystem::temp_directory_path();
    path_ = root / ("biaslab_test_data_" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& relative) const { return path_ / relative; }

 private:
  std::filesystem::path path_;
};

// Sets (or unsets, with nullopt) an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::filesystem::path shared_data_dir() {
  const char* mirror = std::getenv("BIASLAB_DATA_MIRROR");
  if (mirror == nullptr) throw std::runtime_error("BIASLAB_DATA_MIRROR is not set (run the tests through ctest)");
  return mirror;
}

// Serves `content` with Range support (httplib slices ranges itself); when `cut_after` is set,
// the first `*failures` transfers close the connection after that many bytes of the file.
inline void serve_bytes(httplib::Server& server, const std::string& path, std::shared_ptr<std::string> content,
                        std::optional<std::size_t> cut_after = std::nullopt,
                        std::shared_ptr<int> failures = std::make_shared<int>(0), std::string etag = {}) {
  server.Get(path, [content, cut_after, failures, etag](const httplib::Request&, httplib::Response& response) {
    if (!etag.empty()) response.set_header("ETag", etag);
    const bool cut = cut_after && *failures > 0;
    if (cut) --*failures;
    response.set_content_provider(content->size(), "application/octet-stream",
                                  [content, cut, cut_after](size_t offset, size_t length, httplib::DataSink& sink) {
                                    size_t end = offset + length;
                                    if (cut && end > *cut_after) end = *cut_after;
                                    if (end > offset) sink.write(content->data() + offset, end - offset);
                                    return !(cut && offset + length > *cut_after);  // false: drop the connection
                                  });
  });
}

}  // namespace biaslab::data::test
