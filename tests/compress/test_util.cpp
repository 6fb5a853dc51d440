#include "test_util.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace biaslab::test {
namespace {

const std::map<std::string, torch::ScalarType>& dtypes() {
  static const std::map<std::string, torch::ScalarType> map{{"float32", torch::kFloat},  {"float64", torch::kDouble},
                                                            {"int8", torch::kChar},      {"uint8", torch::kByte},
                                                            {"int32", torch::kInt},      {"int64", torch::kLong},
                                                            {"bool", torch::kBool}};
  return map;
}

std::string dtype_name(torch::ScalarType type) {
  for (const auto& [name, t] : dtypes())
    if (t == type) return name;
  throw std::runtime_error(std::string("test tensor io: unsupported dtype ") + c10::toString(type));
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir;
}

void write_tensors(const std::filesystem::path& dir, const std::map<std::string, torch::Tensor>& tensors) {
  std::filesystem::create_directories(dir);
  nlohmann::json manifest = nlohmann::json::object();
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const auto file = name + ".bin";
    std::ofstream out(dir / file, std::ios::binary);
    out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    if (!out) throw std::runtime_error("test tensor io: cannot write " + (dir / file).string());
    manifest[name] = {{"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"file", file}};
  }
  std::ofstream(dir / "manifest.json") << manifest.dump(1);
}

std::map<std::string, torch::Tensor> read_tensors(const std::filesystem::path& dir) {
  std::ifstream in(dir / "manifest.json");
  if (!in) throw std::runtime_error("test tensor io: no manifest in " + dir.string());
  const auto manifest = nlohmann::json::parse(in);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, entry] : manifest.items()) {
    const auto type = dtypes().at(entry.at("dtype").get<std::string>());
    auto t = torch::empty(entry.at("shape").get<std::vector<std::int64_t>>(), torch::TensorOptions().dtype(type));
    std::ifstream data(dir / entry.at("file").get<std::string>(), std::ios::binary);
    data.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    if (!data && t.numel() > 0) throw std::runtime_error("test tensor io: short file for " + name);
    tensors[name] = t;
  }
  return tensors;
}

void run_reference_script(const std::string& script, const std::vector<std::string>& args) {
  const auto python = env_or("BIASLAB_REFERENCE_PYTHON", "/usr/bin/python3");
  const auto source = env_or("BIASLAB_SOURCE_DIR", BIASLAB_TEST_SOURCE_DIR);
  // No __pycache__ in the source tree.
  std::string command = "PYTHONDONTWRITEBYTECODE=1 '" + python + "' '" + source + "/tests/compress/reference/" + script + "'";
  for (const auto& a : args) command += " '" + a + "'";
  command += " 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command);
  std::array<char, 4096> buffer{};
  while (auto n = std::fread(buffer.data(), 1, buffer.size(), pipe)) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("reference script failed (" + command + "):\n" + output);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

torch::Tensor reference_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto y = x.to(torch::kDouble).matmul(w.to(torch::kDouble).t());
  if (b.defined()) y = y + b.to(torch::kDouble);
  return y;
}

}  // namespace biaslab::test
