#pragma once
// Helpers shared by the runtime tests: environment paths, temporary directories, tensor diffs.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

namespace biaslab::runtime::test {

inline std::filesystem::path env_path(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name + " is not set");
  return v;
}

inline std::filesystem::path fixtures_dir() { return env_path("BIASLAB_FIXTURES"); }
inline std::filesystem::path fixture(const std::string& name) { return fixtures_dir() / name; }

// A fresh directory under $TMPDIR, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("biaslab-runtime-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// max |a - b| over the entries where `where` (broadcastable bool) is true; float64 on CPU.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& where = {}) {
  auto d = (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs();
  if (where.defined()) d = d.masked_select(where.to(torch::kCPU).expand_as(d));
  return d.numel() ? d.max().item<double>() : 0.0;
}

inline double max_abs(const torch::Tensor& a, const torch::Tensor& where = {}) {
  auto d = a.to(torch::kCPU, torch::kFloat64).abs();
  if (where.defined()) d = d.masked_select(where.to(torch::kCPU).expand_as(d));
  return d.numel() ? d.max().item<double>() : 0.0;
}

}  // namespace biaslab::runtime::test
