#include "runtime/tokenizers/normalized_string.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

bool is_char_boundary(const std::string& s, std::size_t i) {
  if (i == 0 || i == s.size()) return true;
  if (i > s.size()) return false;
  return (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
}

std::vector<char32_t> chars_of(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) out.push_back(unicode::decode_utf8(s, pos));
  return out;
}

}  // namespace

NormalizedString::NormalizedString(std::string original)
    : original_(std::move(original)), normalized_(original_) {
  alignments_.reserve(original_.size());
  for (std::size_t pos = 0; pos < original_.size();) {
    const std::size_t start = pos;
    unicode::decode_utf8(original_, pos);
    for (std::size_t i = start; i < pos; ++i) alignments_.emplace_back(start, pos);
  }
}

std::optional<Offsets> NormalizedString::normalized_to_original(std::size_t start, std::size_t end) const {
  if (start == end) return Offsets{start, end};
  if (start > end || end > alignments_.size()) return std::nullopt;
  return Offsets{alignments_[start].first, alignments_[end - 1].second};
}

std::optional<Offsets> NormalizedString::original_to_normalized(std::size_t start, std::size_t end) const {
  if (start == end) return Offsets{start, end};
  if (start > end) return std::nullopt;
  std::optional<std::size_t> first, last;
  for (std::size_t i = 0; i < alignments_.size(); ++i) {
    const auto& a = alignments_[i];
    if (end < a.second) break;
    // Zero-width alignments (inserted text) never start a range.
    if (!first && start <= a.first && a.first != a.second) first = i;
    last = i + 1;
  }
  if (first && last) return Offsets{*first, *last};
  if (first) return Offsets{*first, *first};
  if (last) return Offsets{*last, *last};
  return std::nullopt;
}

void NormalizedString::transform_range(std::size_t start, std::size_t end, const std::vector<CharChange>& dest,
                                       std::size_t initial_offset) {
  end = std::min(end, normalized_.size());
  start = std::min(start, end);
  std::size_t cursor = start;  // next char of the replaced range
  auto consume_char = [&]() -> std::size_t {
    if (cursor >= end) return 0;
    const std::size_t length =
        std::min(unicode::utf8_sequence_length(static_cast<unsigned char>(normalized_[cursor])), end - cursor);
    cursor += length;
    return length;
  };
  std::size_t offset = start;
  for (std::size_t i = 0; i < initial_offset; ++i) offset += consume_char();

  auto alignment_at = [&](std::size_t index) -> Offsets {
    if (alignments_.empty()) return {0, 0};
    return alignments_[std::min(index, alignments_.size() - 1)];
  };

  std::string replacement;
  std::vector<Offsets> new_alignments;
  replacement.reserve(end - start + dest.size());
  new_alignments.reserve(end - start + dest.size());
  for (const auto& [cp, change] : dest) {
    // Inserted chars share the alignment of the char before them.
    const Offsets align = change > 0 ? (offset < 1 ? Offsets{0, 0} : alignment_at(offset - 1)) : alignment_at(offset);
    if (change <= 0) offset += consume_char();
    for (std::int64_t k = 0; k < -change; ++k) offset += consume_char();
    const std::size_t before = replacement.size();
    unicode::append_utf8(replacement, cp);
    new_alignments.insert(new_alignments.end(), replacement.size() - before, align);
  }
  alignments_.erase(alignments_.begin() + static_cast<std::ptrdiff_t>(start),
                    alignments_.begin() + static_cast<std::ptrdiff_t>(end));
  alignments_.insert(alignments_.begin() + static_cast<std::ptrdiff_t>(start), new_alignments.begin(),
                     new_alignments.end());
  normalized_.replace(start, end - start, replacement);
}

void NormalizedString::transform(const std::vector<CharChange>& dest, std::size_t initial_offset) {
  const auto range = original_to_normalized(0, original_.size());
  if (!range) return;
  transform_range(range->first, range->second, dest, initial_offset);
}

std::optional<NormalizedString> NormalizedString::slice(std::size_t start, std::size_t end) const {
  if (start > end || !is_char_boundary(normalized_, start) || !is_char_boundary(normalized_, end)) {
    return std::nullopt;
  }
  const auto original_range = normalized_to_original(start, end);
  if (!original_range) return std::nullopt;
  NormalizedString result;
  const auto [o_start, o_end] = *original_range;
  if (o_start <= o_end && is_char_boundary(original_, o_start) && is_char_boundary(original_, o_end)) {
    result.original_ = original_.substr(o_start, o_end - o_start);
  }
  result.normalized_ = normalized_.substr(start, end - start);
  result.alignments_.reserve(end - start);
  for (std::size_t i = start; i < end; ++i) {
    const auto& a = alignments_[i];
    result.alignments_.emplace_back(a.first >= o_start ? a.first - o_start : 0,
                                    a.second >= o_start ? a.second - o_start : 0);
  }
  result.original_shift_ = original_shift_ + o_start;
  return result;
}

void NormalizedString::normalize(NormalizationForm form) {
  transform(normalize_with_changes(unicode::to_utf32(normalized_), form), 0);
}

void NormalizedString::filter(const std::function<bool(char32_t)>& keep) {
  std::vector<CharChange> transforms;
  transforms.reserve(normalized_.size());
  std::int64_t removed = 0;
  std::size_t removed_start = 0;
  std::optional<char32_t> last_kept;
  for (std::size_t pos = 0; pos < normalized_.size();) {
    const char32_t cp = unicode::decode_utf8(normalized_, pos);
    if (keep(cp)) {
      if (last_kept) {
        transforms.emplace_back(*last_kept, -removed);
      } else {
        removed_start = static_cast<std::size_t>(removed);
      }
      last_kept = cp;
      removed = 0;
    } else {
      ++removed;
    }
  }
  if (last_kept) transforms.emplace_back(*last_kept, -removed);
  transform(transforms, removed_start);
}

void NormalizedString::map(const std::function<char32_t(char32_t)>& mapping) {
  std::vector<CharChange> transforms;
  transforms.reserve(normalized_.size());
  for (std::size_t pos = 0; pos < normalized_.size();) transforms.emplace_back(mapping(unicode::decode_utf8(normalized_, pos)), 0);
  transform(transforms, 0);
}

void NormalizedString::lowercase() {
  std::vector<CharChange> transforms;
  transforms.reserve(normalized_.size());
  std::u32string lower;
  for (std::size_t pos = 0; pos < normalized_.size();) {
    lower.clear();
    unicode::append_lowercase(lower, unicode::decode_utf8(normalized_, pos));
    for (std::size_t i = 0; i < lower.size(); ++i) transforms.emplace_back(lower[i], i > 0 ? 1 : 0);
  }
  transform(transforms, 0);
}

void NormalizedString::prepend(std::string_view text) {
  if (normalized_.empty()) return;
  std::size_t pos = 0;
  const char32_t first = unicode::decode_utf8(normalized_, pos);
  std::vector<CharChange> transforms;
  const auto chars = chars_of(text);
  for (std::size_t i = 0; i < chars.size(); ++i) transforms.emplace_back(chars[i], i != 0 ? 1 : 0);
  transforms.emplace_back(first, 1);
  transform_range(0, pos, transforms, 0);
}

void NormalizedString::append(std::string_view text) {
  const auto chars = chars_of(text);
  std::vector<CharChange> transforms;
  if (normalized_.empty()) {
    for (char32_t c : chars) transforms.emplace_back(c, 1);
    transform_range(0, normalized_.size(), transforms, 0);
    return;
  }
  std::size_t last_start = normalized_.size() - 1;
  while (last_start > 0 && (static_cast<unsigned char>(normalized_[last_start]) & 0xC0) == 0x80) --last_start;
  std::size_t pos = last_start;
  transforms.emplace_back(unicode::decode_utf8(normalized_, pos), 0);
  for (char32_t c : chars) transforms.emplace_back(c, 1);
  transform_range(last_start, normalized_.size(), transforms, 0);
}

void NormalizedString::replace(const PatternMatches& matches, std::string_view content) {
  std::string new_normalized;
  std::vector<Offsets> new_alignments;
  new_normalized.reserve(normalized_.size());
  new_alignments.reserve(alignments_.size());
  std::size_t last_end = 0;
  for (const auto& m : matches) {
    if (!m.is_match) continue;
    new_normalized.append(normalized_, last_end, m.start - last_end);
    new_alignments.insert(new_alignments.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(last_end),
                          alignments_.begin() + static_cast<std::ptrdiff_t>(m.start));
    // Every replacement char is an insertion after the (removed) match: it takes the alignment
    // of the match's last byte.
    const Offsets align = m.end < 1 ? Offsets{0, 0} : alignments_[m.end - 1];
    const std::size_t before = new_normalized.size();
    new_normalized.append(content);
    new_alignments.insert(new_alignments.end(), new_normalized.size() - before, align);
    last_end = m.end;
  }
  new_normalized.append(normalized_, last_end, std::string::npos);
  new_alignments.insert(new_alignments.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(last_end),
                        alignments_.end());
  normalized_ = std::move(new_normalized);
  alignments_ = std::move(new_alignments);
}

void NormalizedString::strip_whitespace(bool left, bool right) {
  const auto chars = chars_of(normalized_);
  std::size_t leading = 0, trailing = 0;
  if (left) {
    while (leading < chars.size() && unicode::is_whitespace(chars[leading])) ++leading;
  }
  if (right) {
    while (trailing < chars.size() - leading && unicode::is_whitespace(chars[chars.size() - 1 - trailing])) {
      ++trailing;
    }
  }
  if (leading == 0 && trailing == 0) return;
  std::vector<CharChange> transforms;
  for (std::size_t i = leading; i + trailing < chars.size(); ++i) {
    transforms.emplace_back(chars[i], i + trailing + 1 == chars.size() ? -static_cast<std::int64_t>(trailing) : 0);
  }
  transform(transforms, leading);
}

std::vector<NormalizedString> NormalizedString::split(const PatternMatches& matches, SplitBehavior behavior) const {
  struct Piece {
    std::size_t start, end;
    bool remove;
  };
  std::vector<Piece> pieces;
  pieces.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& m : matches) pieces.push_back({m.start, m.end, false});
      break;
    case SplitBehavior::Removed:
      for (const auto& m : matches) pieces.push_back({m.start, m.end, m.is_match});
      break;
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const auto& m : matches) {
        if (m.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.start, m.end, false});
        }
        previous_match = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& m : matches) {
        if (m.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = m.end;
        } else {
          pieces.push_back({m.start, m.end, false});
        }
        previous_match = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().start = it->start;
        } else {
          pieces.push_back({it->start, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(pieces.size());
  for (const auto& p : pieces) {
    if (p.remove) continue;
    auto piece = slice(p.start, p.end);
    if (!piece) throw std::logic_error("NormalizedString: split range is not on char boundaries");
    out.push_back(std::move(*piece));
  }
  return out;
}

}  // namespace biaslab::runtime::tokenizers
