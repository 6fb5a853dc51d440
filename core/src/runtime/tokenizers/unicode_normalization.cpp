#include "runtime/tokenizers/unicode_normalization.hpp"

#include <algorithm>
#include <optional>

#include "runtime/tokenizers/unicode.hpp"
#include "runtime/tokenizers/unicode_data.hpp"

namespace biaslab::runtime::tokenizers {
namespace {
namespace data = unicode_data;

// Hangul syllable constants (Unicode chapter 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr char32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

template <typename Emit>
void decompose_char(char32_t cp, bool compatible, Emit&& emit) {
  if (cp < 0xC0) {  // nothing below U+00C0 has a canonical mapping; U+00A0.. have compat ones
    if (!compatible || cp < 0xA0) {
      emit(cp);
      return;
    }
  }
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t index = cp - kSBase;
    emit(kLBase + index / kNCount);
    emit(kVBase + (index % kNCount) / kTCount);
    if (index % kTCount != 0) emit(kTBase + index % kTCount);
    return;
  }
  const data::CodepointMapping* table =
      compatible ? data::kCompatibilityDecomposition9 : data::kCanonicalDecomposition9;
  const std::size_t size =
      compatible ? data::kCompatibilityDecomposition9Size : data::kCanonicalDecomposition9Size;
  const char32_t* pool =
      compatible ? data::kCompatibilityDecomposition9Pool : data::kCanonicalDecomposition9Pool;
  const auto* end = table + size;
  const auto* it = std::lower_bound(table, end, cp, [](const data::CodepointMapping& m, char32_t c) {
    return m.code_point < c;
  });
  if (it == end || it->code_point != cp) {
    emit(cp);
    return;
  }
  for (std::size_t i = 0; i < it->length; ++i) emit(pool[it->offset + i]);
}

std::optional<char32_t> compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto* begin = data::kComposition9;
  const auto* end = begin + data::kComposition9Size;
  const auto* it = std::lower_bound(begin, end, std::pair{a, b},
                                    [](const data::Composition& c, const std::pair<char32_t, char32_t>& k) {
                                      return c.first != k.first ? c.first < k.first : c.second < k.second;
                                    });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return std::nullopt;
}

struct Pending {
  std::uint8_t combining_class;
  char32_t cp;
  std::int64_t change;
};

// Full decomposition + canonical ordering. The first char of each decomposition replaces its
// source (change 0); the others are insertions (change 1). Reordering keeps each char's change.
std::vector<CharChange> decompose(std::u32string_view text, bool compatible) {
  std::vector<Pending> buffer;
  buffer.reserve(text.size());
  std::size_t pending_start = 0;
  auto sort_pending = [&] {
    std::stable_sort(buffer.begin() + static_cast<std::ptrdiff_t>(pending_start), buffer.end(),
                     [](const Pending& x, const Pending& y) { return x.combining_class < y.combining_class; });
    pending_start = buffer.size();
  };
  for (char32_t cp : text) {
    bool first = true;
    decompose_char(cp, compatible, [&](char32_t d) {
      const std::uint8_t cls = unicode::canonical_combining_class(d);
      if (cls == 0) sort_pending();
      buffer.push_back({cls, d, first ? 0 : 1});
      first = false;
    });
  }
  sort_pending();
  std::vector<CharChange> out;
  out.reserve(buffer.size());
  for (const auto& p : buffer) out.emplace_back(p.cp, p.change);
  return out;
}

// Canonical composition, following the crate's state machine so that the changes (and thus
// offsets) come out identical: a composite's change is first.change + second.change - 1.
std::vector<CharChange> compose(const std::vector<CharChange>& decomposed) {
  std::vector<CharChange> out;
  out.reserve(decomposed.size());
  std::optional<CharChange> composee;
  std::optional<std::uint8_t> last_class;
  std::vector<CharChange> blocked;
  auto flush_blocked = [&] {
    out.insert(out.end(), blocked.begin(), blocked.end());
    blocked.clear();
  };
  for (const auto& [cp, change] : decomposed) {
    const std::uint8_t cls = unicode::canonical_combining_class(cp);
    if (!composee) {
      if (cls != 0) {
        out.emplace_back(cp, change);
      } else {
        composee = CharChange{cp, change};
      }
      continue;
    }
    if (!last_class) {
      if (auto r = compose_pair(composee->first, cp)) {
        composee = CharChange{*r, composee->second + change - 1};
        continue;
      }
      if (cls == 0) {
        out.push_back(*composee);
        composee = CharChange{cp, change};
        continue;
      }
      blocked.emplace_back(cp, change);
      last_class = cls;
      continue;
    }
    if (*last_class >= cls) {
      if (cls == 0) {
        out.push_back(*composee);
        composee = CharChange{cp, change};
        last_class.reset();
        flush_blocked();
        continue;
      }
      blocked.emplace_back(cp, change);
      last_class = cls;
      continue;
    }
    if (auto r = compose_pair(composee->first, cp)) {
      composee = CharChange{*r, composee->second + change - 1};
      continue;
    }
    blocked.emplace_back(cp, change);
    last_class = cls;
  }
  if (composee) out.push_back(*composee);
  flush_blocked();
  return out;
}

}  // namespace

std::vector<CharChange> normalize_with_changes(std::u32string_view text, NormalizationForm form) {
  switch (form) {
    case NormalizationForm::NFD: return decompose(text, false);
    case NormalizationForm::NFKD: return decompose(text, true);
    case NormalizationForm::NFC: return compose(decompose(text, false));
    case NormalizationForm::NFKC: return compose(decompose(text, true));
  }
  return {};
}

}  // namespace biaslab::runtime::tokenizers
