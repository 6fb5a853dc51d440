#include "runtime/tokenizers/pattern.hpp"

#include "runtime/tokenizers/regex.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {

PatternMatches find_char_matches(std::string_view inside, const std::function<bool(char32_t)>& predicate) {
  if (inside.empty()) return {{0, 0, false}};
  PatternMatches matches;
  std::size_t last_offset = 0;
  std::size_t pos = 0;
  while (pos < inside.size()) {
    const std::size_t start = pos;
    const char32_t cp = unicode::decode_utf8(inside, pos);
    if (predicate(cp)) {
      if (last_offset < start) matches.push_back({last_offset, start, false});
      matches.push_back({start, pos, true});
      last_offset = pos;
    }
  }
  if (last_offset < inside.size()) matches.push_back({last_offset, inside.size(), false});
  return matches;
}

namespace {

PatternMatches ranges_to_matches(std::string_view inside,
                                 const std::vector<std::pair<std::size_t, std::size_t>>& ranges) {
  if (inside.empty()) return {{0, 0, false}};
  PatternMatches matches;
  std::size_t previous = 0;
  for (const auto& [start, end] : ranges) {
    if (previous != start) matches.push_back({previous, start, false});
    matches.push_back({start, end, true});
    previous = end;
  }
  if (previous != inside.size()) matches.push_back({previous, inside.size(), false});
  return matches;
}

}  // namespace

PatternMatches find_literal_matches(std::string_view inside, std::string_view literal) {
  if (literal.empty()) {
    // HF quirk kept on purpose: the range is measured in chars, not bytes.
    return {{0, unicode::count_chars(inside), false}};
  }
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (std::size_t pos = inside.find(literal); pos != std::string_view::npos;
       pos = inside.find(literal, pos + literal.size())) {
    ranges.emplace_back(pos, pos + literal.size());
  }
  return ranges_to_matches(inside, ranges);
}

PatternMatches find_regex_matches(std::string_view inside, const Regex& regex) {
  if (inside.empty()) return {{0, 0, false}};
  return ranges_to_matches(inside, regex.find_all(inside));
}

PatternMatches invert_matches(PatternMatches matches) {
  for (auto& m : matches) m.is_match = !m.is_match;
  return matches;
}

}  // namespace biaslab::runtime::tokenizers
