// WordPiece (BERT) and WordLevel models, as HF tokenizers' models/wordpiece and models/wordlevel.
#include <stdexcept>

#include "runtime/tokenizers/models.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

std::unordered_map<std::int64_t, std::string> reverse(const Vocab& vocab) {
  std::unordered_map<std::int64_t, std::string> out;
  out.reserve(vocab.size());
  for (const auto& [token, id] : vocab) out[id] = token;
  return out;
}

class WordPieceModel final : public Model {
 public:
  WordPieceModel(Vocab vocab, std::string unk_token, std::string prefix, std::size_t max_chars)
      : vocab_(std::move(vocab)),
        vocab_r_(reverse(vocab_)),
        unk_token_(std::move(unk_token)),
        prefix_(std::move(prefix)),
        max_chars_(max_chars) {}

  // Greedy longest-match-first; a word with any unmatchable remainder (or longer than
  // max_input_chars_per_word chars) becomes a single unknown token.
  std::vector<Token> tokenize(std::string_view word) const override {
    if (unicode::count_chars(word) > max_chars_) return {unknown(word)};
    std::vector<Token> pieces;
    std::string candidate;
    std::size_t start = 0;
    while (start < word.size()) {
      std::size_t end = word.size();
      bool found = false;
      while (start < end) {
        candidate.clear();
        if (start > 0) candidate = prefix_;
        candidate.append(word.substr(start, end - start));
        if (const auto it = vocab_.find(candidate); it != vocab_.end()) {
          pieces.push_back(Token{it->second, candidate, {start, end}});
          found = true;
          break;
        }
        // Drop the last char of the candidate (HF measures it on the prefixed string, which
        // ends with the same char).
        std::size_t last = end - 1;
        while (last > start && (static_cast<unsigned char>(word[last]) & 0xC0) == 0x80) --last;
        end = last;
      }
      if (!found) return {unknown(word)};
      start = end;
    }
    return pieces;
  }

  std::optional<std::int64_t> token_to_id(std::string_view token) const override {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(std::int64_t id) const override {
    const auto it = vocab_r_.find(id);
    if (it == vocab_r_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t vocab_size() const override { return vocab_.size(); }
  std::string type() const override { return "WordPiece"; }

 private:
  Token unknown(std::string_view word) const {
    const auto it = vocab_.find(unk_token_);
    if (it == vocab_.end()) throw std::runtime_error("WordPiece: unk_token '" + unk_token_ + "' is not in the vocabulary");
    return Token{it->second, unk_token_, {0, word.size()}};
  }

  Vocab vocab_;
  std::unordered_map<std::int64_t, std::string> vocab_r_;
  std::string unk_token_;
  std::string prefix_;
  std::size_t max_chars_;
};

class WordLevelModel final : public Model {
 public:
  WordLevelModel(Vocab vocab, std::string unk_token)
      : vocab_(std::move(vocab)), vocab_r_(reverse(vocab_)), unk_token_(std::move(unk_token)) {}

  std::vector<Token> tokenize(std::string_view word) const override {
    if (const auto it = vocab_.find(word); it != vocab_.end()) return {Token{it->second, std::string(word), {0, word.size()}}};
    const auto it = vocab_.find(unk_token_);
    if (it == vocab_.end()) throw std::runtime_error("WordLevel: unk_token '" + unk_token_ + "' is not in the vocabulary");
    return {Token{it->second, unk_token_, {0, word.size()}}};
  }
  std::optional<std::int64_t> token_to_id(std::string_view token) const override {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> id_to_token(std::int64_t id) const override {
    const auto it = vocab_r_.find(id);
    if (it == vocab_r_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t vocab_size() const override { return vocab_.size(); }
  std::string type() const override { return "WordLevel"; }

 private:
  Vocab vocab_;
  std::unordered_map<std::int64_t, std::string> vocab_r_;
  std::string unk_token_;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece_model(Vocab vocab, std::string unk_token, std::string continuing_subword_prefix,
                                            std::size_t max_input_chars_per_word) {
  return std::make_unique<WordPieceModel>(std::move(vocab), std::move(unk_token), std::move(continuing_subword_prefix),
                                          max_input_chars_per_word);
}

std::unique_ptr<Model> make_wordlevel_model(Vocab vocab, std::string unk_token) {
  return std::make_unique<WordLevelModel>(std::move(vocab), std::move(unk_token));
}

}  // namespace biaslab::runtime::tokenizers
