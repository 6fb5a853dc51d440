#include "runtime/tokenizers/pre_tokenized_string.hpp"

namespace biaslab::runtime::tokenizers {

Encoding PreTokenizedString::into_encoding() const {
  Encoding encoding;
  for (const auto& split : splits_) {
    if (!split.tokens) continue;
    const std::size_t shift = split.normalized.offsets_original().first;
    for (const auto& token : *split.tokens) {
      const auto original = split.normalized.normalized_to_original(token.offsets.first, token.offsets.second);
      encoding.ids.push_back(token.id);
      encoding.tokens.push_back(token.value);
      // HF keeps the token's own offsets when they cannot be converted.
      encoding.offsets.push_back(original ? Offsets{shift + original->first, shift + original->second}
                                          : token.offsets);
      encoding.special_tokens_mask.push_back(0);
    }
  }
  return encoding;
}

std::vector<Split> as_splits(std::vector<NormalizedString> pieces) {
  std::vector<Split> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) out.push_back({std::move(p), std::nullopt});
  return out;
}

}  // namespace biaslab::runtime::tokenizers
