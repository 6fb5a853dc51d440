#pragma once
// GPT-2's reversible byte <-> printable character mapping (HF ByteLevel).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizers/unicode_normalization.hpp"

namespace biaslab::runtime::tokenizers::byte_level {

// Printable stand-in for each byte value ('Ġ' = U+0120 for a space).
char32_t byte_to_char(unsigned char byte);
// Inverse mapping; nullopt for characters that are not stand-ins.
std::optional<unsigned char> char_to_byte(char32_t cp);
// One stand-in per byte of `text`; the first byte of each char replaces it (change 0), the
// others are insertions (change 1), as HF's ByteLevel transformation.
std::vector<CharChange> to_byte_chars(std::string_view text);

}  // namespace biaslab::runtime::tokenizers::byte_level
