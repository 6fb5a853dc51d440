#pragma once
// Tensor exchange with the reference interpreter (/usr/bin/python3 with torch): a folder holding
// manifest.json ({name: {"dtype", "shape", "file"}}) and one raw little-endian file per tensor.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace biaslab::test {

std::filesystem::path make_temp_dir(const std::string& prefix);
void write_tensors(const std::filesystem::path& dir, const std::map<std::string, torch::Tensor>& tensors);
std::map<std::string, torch::Tensor> read_tensors(const std::filesystem::path& dir);
// Runs tests/compress/reference/<script> with the reference interpreter; throws with its output
// when it fails.
void run_reference_script(const std::string& script, const std::vector<std::string>& args);
// Largest |a - b| as double.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
// Linear layer with plain float math, independent of the kernels under test.
torch::Tensor reference_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

}  // namespace biaslab::test
