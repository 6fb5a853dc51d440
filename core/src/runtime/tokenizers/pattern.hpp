#pragma once
// Splitting a string into matching / non-matching byte ranges, the way HF's `Pattern` trait does
// (tokenizers/src/tokenizer/pattern.rs): the ranges cover the whole input, in order.
#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

namespace biaslab::runtime::tokenizers {

class Regex;

struct PatternMatch {
  std::size_t start;
  std::size_t end;
  bool is_match;
};
using PatternMatches = std::vector<PatternMatch>;

// Every character satisfying `predicate` is its own match.
PatternMatches find_char_matches(std::string_view inside, const std::function<bool(char32_t)>& predicate);
// Non-overlapping occurrences of `literal`, left to right.
PatternMatches find_literal_matches(std::string_view inside, std::string_view literal);
PatternMatches find_regex_matches(std::string_view inside, const Regex& regex);
// Flips is_match on every range (HF `Invert`).
PatternMatches invert_matches(PatternMatches matches);

}  // namespace biaslab::runtime::tokenizers
