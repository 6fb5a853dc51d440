#pragma once
// One token produced by a model (or matched as an added token), with its byte offsets in the
// normalized string it was produced from.
#include <cstdint>
#include <string>

#include "runtime/tokenizers/normalized_string.hpp"

namespace biaslab::runtime::tokenizers {

struct Token {
  std::int64_t id = 0;
  std::string value;
  Offsets offsets;
};

}  // namespace biaslab::runtime::tokenizers
