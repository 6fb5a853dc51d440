#pragma once
// Normalizers of tokenizer.json ("normalizer" key): BertNormalizer, Strip, StripAccents,
// NFC/NFD/NFKC/NFKD, Lowercase, Nmt, Replace, Prepend, ByteLevel, Sequence.
// (Precompiled -- SentencePiece char maps -- is not supported.)
#include <memory>
#include <string>

#include "runtime/tokenizers/json_util.hpp"
#include "runtime/tokenizers/normalized_string.hpp"

namespace biaslab::runtime::tokenizers {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& text) const = 0;
};

// Throws ConfigError (naming `where`) for unknown or malformed normalizers.
std::unique_ptr<Normalizer> normalizer_from_json(const Json& config, const std::string& where);

}  // namespace biaslab::runtime::tokenizers
