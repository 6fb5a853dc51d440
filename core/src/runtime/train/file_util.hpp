#pragma once
// Small file helpers of the training code: JSON in, whole files out (atomically, so an interrupted
// run never leaves a truncated state file behind), directory copies.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace biaslab::runtime::train {

// Throws naming the file on a missing file or malformed JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);
// Temporary file in the same directory, fsync, rename.
void write_text_file(const std::filesystem::path& path, const std::string& text);
// Copies every regular file of `from` (not recursive) into `to`, creating it.
void copy_files(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace biaslab::runtime::train
