#pragma once
// Shared helpers for the tokenizer tests.
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace biaslab::test {

// shared/data/tokenizers (from BIASLAB_DATA_MIRROR); a missing variable is an error, not a skip.
inline std::filesystem::path tokenizer_data_dir() {
  const char* mirror = std::getenv("BIASLAB_DATA_MIRROR");
  if (mirror == nullptr || *mirror == '\0') throw std::runtime_error("BIASLAB_DATA_MIRROR is not set");
  return std::filesystem::path(mirror) / "tokenizers";
}

}  // namespace biaslab::test
