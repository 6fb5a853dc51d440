#pragma once
// UTF-8 coding and the character properties HuggingFace tokenizers relies on. Each predicate
// names the Rust function (or crate) whose behaviour it reproduces, because HF mixes Unicode
// data of different ages (see tools/gen_unicode_tables.py).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace biaslab::runtime::tokenizers::unicode {

// Order matches the generator's CATEGORIES list.
enum class GeneralCategory : std::uint8_t {
  Cn, Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe, Pi, Pf, Po,
  Sm, Sc, Sk, So, Zs, Zl, Zp, Cc, Cf, Cs, Co
};

// ---- UTF-8 -------------------------------------------------------------------------------
// Byte length of the UTF-8 sequence starting with `lead` (1 for stray continuation bytes).
std::size_t utf8_sequence_length(unsigned char lead);
// Decodes the code point at byte `pos` of a string known to be valid UTF-8 and advances `pos`.
char32_t decode_utf8(std::string_view text, std::size_t& pos);
void append_utf8(std::string& out, char32_t cp);
std::size_t utf8_length(char32_t cp);
// Index of the first invalid byte, or npos when `text` is valid UTF-8 (no surrogates, no
// overlongs, nothing above U+10FFFF).
std::size_t find_invalid_utf8(std::string_view text);
std::u32string to_utf32(std::string_view text);
std::string to_utf8(std::u32string_view text);
std::size_t count_chars(std::string_view text);

// ---- current Unicode (Rust std / regex crate), tables from Unicode 14.0 -----------------
GeneralCategory general_category(char32_t cp);
bool is_whitespace(char32_t cp);     // Rust char::is_whitespace (White_Space property)
bool is_numeric(char32_t cp);        // Rust char::is_numeric (Nd | Nl | No)
bool is_word_char(char32_t cp);      // Rust regex \w (Alphabetic | M | Nd | Pc | Join_Control)
bool is_ascii_punctuation(char32_t cp);  // Rust char::is_ascii_punctuation
// Rust char::to_lowercase (full mapping, context free: U+03A3 always gives U+03C3).
void append_lowercase(std::u32string& out, char32_t cp);
std::u32string lowercase_of(char32_t cp);

// ---- crate unicode_categories 0.1.1 (UCD 8.0), used by BERT components ------------------
bool hf_is_other(char32_t cp);              // Cc | Cf | Co
bool hf_is_punctuation(char32_t cp);        // P*
bool hf_is_mark_nonspacing(char32_t cp);    // Mn

// ---- crate unicode-normalization-alignments 0.1.12 (UCD 9.0) -----------------------------
bool hf_is_combining_mark(char32_t cp);     // General_Category = Mark
std::uint8_t canonical_combining_class(char32_t cp);

}  // namespace biaslab::runtime::tokenizers::unicode
