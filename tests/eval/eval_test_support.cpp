#include "eval_test_support.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace eval_test {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) throw std::runtime_error(std::string("environment variable ") + name + " is not set");
  return value;
}

std::filesystem::path data_dir() { return env("BIASLAB_DATA_MIRROR"); }
std::filesystem::path goldens_dir() { return env("BIASLAB_METRIC_GOLDENS"); }
std::filesystem::path fixtures_dir() { return env("BIASLAB_FIXTURES"); }
std::filesystem::path python_dir() { return std::filesystem::path(env("BIASLAB_SOURCE_DIR")) / "tests/eval/python"; }

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

namespace {

// Per-process scratch directory, removed when the test program exits.
struct ScratchDirectory {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("biaslab_eval_test_" + std::to_string(::getpid()));
  ScratchDirectory() { std::filesystem::create_directories(path); }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::filesystem::path temp_path(const std::string& name) {
  static const ScratchDirectory scratch;
  return scratch.path / name;
}

nlohmann::json run_python(const std::string& script, const nlohmann::json& input) {
  static int counter = 0;
  const auto in_path = temp_path("py_in_" + std::to_string(counter) + ".json");
  const auto out_path = temp_path("py_out_" + std::to_string(counter) + ".json");
  ++counter;
  {
    std::ofstream out(in_path);
    out << input.dump();
  }
  const std::string command = "'" + env("BIASLAB_REFERENCE_PYTHON") + "' '" + (python_dir() / script).string() +
                              "' '" + in_path.string() + "' '" + out_path.string() + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("reference python failed (" + command + "):\n" + output);
  auto result = read_json(out_path);
  std::filesystem::remove(in_path);
  std::filesystem::remove(out_path);
  return result;
}

SafetensorsFile read_safetensors_f32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = std::move(buffer).str();
  if (bytes.size() < 8) throw std::runtime_error(path.string() + ": shorter than the 8-byte header length");
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_length > bytes.size() - 8) throw std::runtime_error(path.string() + ": header length past end of file");
  const auto header = nlohmann::json::parse(bytes.substr(8, header_length));
  const std::size_t data_start = 8 + header_length;
  SafetensorsFile file;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : info.items()) file.metadata[key] = value.get<std::string>();
      continue;
    }
    if (info.at("dtype") != "F32") throw std::runtime_error(path.string() + ": tensor " + name + " is not F32");
    Float32Tensor tensor;
    tensor.shape = info.at("shape").get<std::vector<std::int64_t>>();
    const auto offsets = info.at("data_offsets").get<std::vector<std::uint64_t>>();
    std::uint64_t count = 1;
    for (auto d : tensor.shape) count *= static_cast<std::uint64_t>(d);
    if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != count * 4 ||
        data_start + offsets[1] > bytes.size())
      throw std::runtime_error(path.string() + ": bad data_offsets for tensor " + name);
    tensor.values.resize(count);
    std::memcpy(tensor.values.data(), bytes.data() + data_start + offsets[0], count * 4);  // little-endian host
    file.tensors.emplace(name, std::move(tensor));
  }
  return file;
}

}  // namespace eval_test
