#pragma once
// The CLI's bridge to the libtorch runtime, kept in one translation unit so the rest of the CLI
// compiles without torch headers.
#include <filesystem>
#include <map>
#include <string>

#include "biaslab/results_db.hpp"

namespace biaslab::cli {

// Sets libtorch intra-op, inter-op, OpenMP and OpenBLAS threads so `jobs` parallel tasks use
// `threads` cores in total without oversubscription. Returns the total used.
int configure_runtime_threads(int threads, int jobs);
// libtorch, libcurl, ... versions for provenance.
std::map<std::string, std::string> runtime_library_versions();
std::string biaslab_git_sha();
void export_results(const results::ResultsDatabase& db, const std::filesystem::path& run_dir);

}  // namespace biaslab::cli
