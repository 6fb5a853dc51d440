#include "cli/runtime_setup.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <thread>

#include <curl/curl.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "biaslab/results_export.hpp"
#include "biaslab/version.hpp"

namespace biaslab::cli {

int configure_runtime_threads(int threads, int jobs) {
  const int total = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int per_job = std::max(1, total / std::max(1, jobs));
  // One intra-op pool shared by all jobs: each job gets its share.
  at::set_num_threads(per_job);
  // OpenBLAS has its own pool; libtorch's set_num_threads does not reach it.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(per_job);
  return per_job * std::max(1, jobs);
}

std::map<std::string, std::string> runtime_library_versions() {
  std::map<std::string, std::string> v;
  v["libtorch"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
  v["libtorch_parallel"] = at::get_parallel_info().substr(0, 200);
  v["libcurl"] = curl_version_info(CURLVERSION_NOW)->version;
  return v;
}

std::string biaslab_git_sha() { return git_sha(); }

void export_results(const results::ResultsDatabase& db, const std::filesystem::path& run_dir) {
  results::write_exports(db, run_dir);
}

}  // namespace biaslab::cli
