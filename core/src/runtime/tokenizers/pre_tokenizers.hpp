#pragma once
// Pre-tokenizers of tokenizer.json ("pre_tokenizer" key): ByteLevel, BertPreTokenizer,
// Whitespace, WhitespaceSplit, CharDelimiterSplit, Digits, Punctuation, Metaspace, Split,
// FixedLength, Sequence. (UnicodeScripts is not supported.)
#include <memory>
#include <string>

#include "runtime/tokenizers/json_util.hpp"
#include "runtime/tokenizers/pre_tokenized_string.hpp"

namespace biaslab::runtime::tokenizers {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& text) const = 0;
};

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const Json& config, const std::string& where);

// Parses "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous".
SplitBehavior split_behavior_from_json(const Json& value, const std::string& where);

}  // namespace biaslab::runtime::tokenizers
