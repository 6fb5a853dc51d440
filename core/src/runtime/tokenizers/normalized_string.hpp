#pragma once
// A string being normalized, that remembers for every byte of the normalized text which byte
// range of the original text it came from (HF tokenizers' NormalizedString). All offsets are
// byte offsets; `original_shift` places this (possibly sliced) string inside the full input.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/tokenizers/pattern.hpp"
#include "runtime/tokenizers/unicode_normalization.hpp"

namespace biaslab::runtime::tokenizers {

using Offsets = std::pair<std::size_t, std::size_t>;

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class NormalizedString {
 public:
  NormalizedString() = default;
  explicit NormalizedString(std::string original);

  const std::string& get() const { return normalized_; }
  const std::string& original() const { return original_; }
  bool empty() const { return normalized_.empty(); }
  std::size_t size() const { return normalized_.size(); }
  // Byte range of this string's original text inside the full input.
  Offsets offsets_original() const { return {original_shift_, original_shift_ + original_.size()}; }

  // Normalized byte range -> original byte range (relative to original()). An empty range maps to
  // itself and an out-of-bounds one to nullopt, as in HF.
  std::optional<Offsets> normalized_to_original(std::size_t start, std::size_t end) const;
  // Original byte range (relative to original()) -> normalized byte range.
  std::optional<Offsets> original_to_normalized(std::size_t start, std::size_t end) const;

  // Replaces the normalized bytes [start, end) by `dest`; see CharChange. `initial_offset` chars
  // at the start of the range are removed before the first output char.
  void transform_range(std::size_t start, std::size_t end, const std::vector<CharChange>& dest,
                       std::size_t initial_offset);
  // Same over the normalized range that corresponds to the whole original text.
  void transform(const std::vector<CharChange>& dest, std::size_t initial_offset);

  // Sub-string by normalized byte range; nullopt when not on char boundaries.
  std::optional<NormalizedString> slice(std::size_t start, std::size_t end) const;

  void normalize(NormalizationForm form);
  void filter(const std::function<bool(char32_t)>& keep);
  void map(const std::function<char32_t(char32_t)>& mapping);
  void lowercase();
  void prepend(std::string_view text);
  void append(std::string_view text);
  // Replaces every matched range by `content`.
  void replace(const PatternMatches& matches, std::string_view content);
  void lstrip() { strip_whitespace(true, false); }
  void rstrip() { strip_whitespace(false, true); }
  void strip() { strip_whitespace(true, true); }

  std::vector<NormalizedString> split(const PatternMatches& matches, SplitBehavior behavior) const;

 private:
  void strip_whitespace(bool left, bool right);

  std::string original_;
  std::string normalized_;
  std::vector<Offsets> alignments_;  // one per normalized byte
  std::size_t original_shift_ = 0;
};

}  // namespace biaslab::runtime::tokenizers
