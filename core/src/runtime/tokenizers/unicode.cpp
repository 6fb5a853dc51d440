#include "runtime/tokenizers/unicode.hpp"

#include <algorithm>

#include "runtime/tokenizers/unicode_data.hpp"

namespace biaslab::runtime::tokenizers::unicode {
namespace data = unicode_data;

namespace {

bool in_ranges(const data::CodepointRange* ranges, std::size_t size, char32_t cp) {
  const auto* end = ranges + size;
  const auto* it = std::upper_bound(ranges, end, cp,
                                    [](char32_t c, const data::CodepointRange& r) { return c < r.first; });
  if (it == ranges) return false;
  --it;
  return cp <= it->last;
}

const data::CodepointMapping* find_mapping(const data::CodepointMapping* table, std::size_t size,
                                           char32_t cp) {
  const auto* end = table + size;
  const auto* it = std::lower_bound(table, end, cp, [](const data::CodepointMapping& m, char32_t c) {
    return m.code_point < c;
  });
  return (it != end && it->code_point == cp) ? it : nullptr;
}

}  // namespace

std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

char32_t decode_utf8(std::string_view text, std::size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  std::size_t length = utf8_sequence_length(lead);
  if (pos + length > text.size()) length = 1;  // never read past the end, even if invalid
  char32_t cp;
  switch (length) {
    case 1: cp = lead; break;
    case 2: cp = lead & 0x1F; break;
    case 3: cp = lead & 0x0F; break;
    default: cp = lead & 0x07; break;
  }
  for (std::size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += length;
  return cp;
}

std::size_t utf8_length(char32_t cp) {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::size_t find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t length;
    char32_t minimum;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
      minimum = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      length = 3;
      minimum = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      minimum = 0x10000;
    } else {
      return i;
    }
    if (i + length > n) return i;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
    }
    std::size_t p = i;
    const char32_t cp = decode_utf8(text, p);
    if (cp < minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += length;
  }
  return std::string_view::npos;
}

std::u32string to_utf32(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) out.push_back(decode_utf8(text, pos));
  return out;
}

std::string to_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(out, cp);
  return out;
}

std::size_t count_chars(std::string_view text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

GeneralCategory general_category(char32_t cp) {
  const auto* begin = data::kGeneralCategory14;
  const auto* end = begin + data::kGeneralCategory14Size;
  const auto* it = std::upper_bound(begin, end, cp,
                                    [](char32_t c, const data::CategoryRun& r) { return c < r.first; });
  if (it == begin) return GeneralCategory::Cn;
  --it;
  return cp <= it->last ? static_cast<GeneralCategory>(it->category) : GeneralCategory::Cn;
}

bool is_whitespace(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return in_ranges(data::kWhiteSpace14, data::kWhiteSpace14Size, cp);
}

bool is_numeric(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  const auto c = general_category(cp);
  return c == GeneralCategory::Nd || c == GeneralCategory::Nl || c == GeneralCategory::No;
}

bool is_word_char(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  }
  return in_ranges(data::kWordChar14, data::kWordChar14Size, cp);
}

bool is_ascii_punctuation(char32_t cp) {
  return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
         (cp >= 0x7B && cp <= 0x7E);
}

void append_lowercase(std::u32string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
    return;
  }
  const auto* m = find_mapping(data::kLowercase14, data::kLowercase14Size, cp);
  if (m == nullptr) {
    out.push_back(cp);
    return;
  }
  out.append(data::kLowercase14Pool + m->offset, m->length);
}

std::u32string lowercase_of(char32_t cp) {
  std::u32string out;
  append_lowercase(out, cp);
  return out;
}

bool hf_is_other(char32_t cp) {
  // unicode_categories hard-codes the private use planes as full ranges.
  if ((cp >= 0xE000 && cp <= 0xF8FF) || (cp >= 0xF0000 && cp <= 0xFFFFD) ||
      (cp >= 0x100000 && cp <= 0x10FFFD)) {
    return true;
  }
  return in_ranges(data::kControlOrFormat8, data::kControlOrFormat8Size, cp);
}

bool hf_is_punctuation(char32_t cp) {
  return in_ranges(data::kPunctuation8, data::kPunctuation8Size, cp);
}

bool hf_is_mark_nonspacing(char32_t cp) {
  if (cp < 0x300) return false;
  return in_ranges(data::kNonspacingMark8, data::kNonspacingMark8Size, cp);
}

bool hf_is_combining_mark(char32_t cp) {
  if (cp < 0x300) return false;
  return in_ranges(data::kMark9, data::kMark9Size, cp);
}

std::uint8_t canonical_combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* begin = data::kCombiningClass9;
  const auto* end = begin + data::kCombiningClass9Size;
  const auto* it = std::upper_bound(
      begin, end, cp, [](char32_t c, const data::CombiningClassRun& r) { return c < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

}  // namespace biaslab::runtime::tokenizers::unicode
