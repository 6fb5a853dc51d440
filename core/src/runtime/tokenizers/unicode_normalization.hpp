#pragma once
// Unicode normalization forms with the alignment bookkeeping of HF's
// unicode-normalization-alignments crate (UCD 9.0 data): every output character carries a
// "change" (0: replaces one input char, +1: inserted after the previous one, -n: replaces one
// char and removes n more). NormalizedString::transform consumes these to keep offsets.
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace biaslab::runtime::tokenizers {

using CharChange = std::pair<char32_t, std::int64_t>;

enum class NormalizationForm { NFD, NFKD, NFC, NFKC };

std::vector<CharChange> normalize_with_changes(std::u32string_view text, NormalizationForm form);

}  // namespace biaslab::runtime::tokenizers
