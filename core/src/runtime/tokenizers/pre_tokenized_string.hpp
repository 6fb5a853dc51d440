#pragma once
// The input cut into pieces (HF PreTokenizedString): added-token matches and pre-tokenizers
// split it, the model tokenizes every piece that has no tokens yet, and into_encoding() maps the
// token offsets back to the original input.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/normalized_string.hpp"
#include "runtime/tokenizers/token.hpp"

namespace biaslab::runtime::tokenizers {

struct Split {
  NormalizedString normalized;
  std::optional<std::vector<Token>> tokens;  // set once tokenized (or for added tokens)
};

class PreTokenizedString {
 public:
  explicit PreTokenizedString(NormalizedString whole) { splits_.push_back({std::move(whole), std::nullopt}); }

  // Replaces every not-yet-tokenized split s_i by split_fn(i, s_i); empty results are dropped.
  template <typename SplitFn>
  void split(SplitFn&& split_fn) {
    std::vector<Split> result;
    result.reserve(splits_.size());
    for (std::size_t i = 0; i < splits_.size(); ++i) {
      if (splits_[i].tokens) {
        result.push_back(std::move(splits_[i]));
        continue;
      }
      for (auto& piece : split_fn(i, std::move(splits_[i].normalized))) {
        if (!piece.normalized.empty()) result.push_back(std::move(piece));
      }
    }
    splits_ = std::move(result);
  }

  // Applies fn to the normalized string of every not-yet-tokenized split.
  void normalize(const std::function<void(NormalizedString&)>& fn) {
    for (auto& s : splits_) {
      if (!s.tokens) fn(s.normalized);
    }
  }

  void tokenize(const std::function<std::vector<Token>(const NormalizedString&)>& fn) {
    for (auto& s : splits_) {
      if (!s.tokens) s.tokens = fn(s.normalized);
    }
  }

  // ids, tokens and original byte offsets; special_tokens_mask all 0.
  Encoding into_encoding() const;

  const std::vector<Split>& splits() const { return splits_; }

 private:
  std::vector<Split> splits_;
};

// Wraps NormalizedStrings into untokenized splits (helper for split functions).
std::vector<Split> as_splits(std::vector<NormalizedString> pieces);

}  // namespace biaslab::runtime::tokenizers
