#pragma once
// Helpers shared by pretraining and distillation: option fingerprints and artifact layout.
#include <cstdint>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "biaslab/runtime/train/training_loop.hpp"

namespace biaslab::runtime::train {

// Every option that changes the result (stop_after_steps excluded: an interrupted run and its
// continuation are the same run).
nlohmann::json loop_options_json(const LoopOptions& options);

// FNV-1a of a token stream, as hex: identifies the training data in a run's fingerprint.
std::string stream_digest(const std::vector<std::int32_t>& stream);

// Hard-links a file (same file system: the scratch and output directories both live in the cache),
// copying when linking is impossible.
void link_or_copy(const std::filesystem::path& from, const std::filesystem::path& to);
// Recreates the tree `from` at `to` with link_or_copy'd files. The source stays intact, so a run
// that fails after publishing can publish again from its scratch state.
void link_tree(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace biaslab::runtime::train
