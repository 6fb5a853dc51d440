#pragma once
// PCRE2 regular expressions standing in for the Oniguruma ones HF tokenizers compiles
// (SysRegex, Ruby syntax). Patterns are translated so that they mean the same thing:
// `\s`/`\S` become the White_Space property (PCRE2's \s also matches U+180E etc.), `\w`/`\W` the
// Unicode word class, and `^`/`$` are line anchors as in Ruby.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace biaslab::runtime::tokenizers {

class Regex {
 public:
  // Throws std::invalid_argument naming the pattern and the error position.
  explicit Regex(std::string pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches (byte ranges), left to right; an empty match directly after the
  // previous match is skipped, as in the onig crate's find_iter. `text` must be valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

  // The Oniguruma -> PCRE2 rewrite described above (exposed for tests).
  static std::string translate_oniguruma(std::string_view pattern);

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace biaslab::runtime::tokenizers
