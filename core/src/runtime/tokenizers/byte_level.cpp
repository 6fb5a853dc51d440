#include "runtime/tokenizers/byte_level.hpp"

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<int, 512> to_byte{};  // stand-ins are all below U+0200
  Tables() {
    to_byte.fill(-1);
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      // Printable bytes stand for themselves, the others get U+0100 + n in byte order.
      to_char[b] = printable(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + next++);
      to_byte[to_char[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(unsigned char byte) { return tables().to_char[byte]; }

std::optional<unsigned char> char_to_byte(char32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int b = tables().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<unsigned char>(b);
}

std::vector<CharChange> to_byte_chars(std::string_view text) {
  std::vector<CharChange> out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = unicode::utf8_sequence_length(static_cast<unsigned char>(text[pos]));
    for (std::size_t i = 0; i < length && pos + i < text.size(); ++i) {
      out.emplace_back(byte_to_char(static_cast<unsigned char>(text[pos + i])), i > 0 ? 1 : 0);
    }
    pos += length;
  }
  return out;
}

}  // namespace biaslab::runtime::tokenizers::byte_level
