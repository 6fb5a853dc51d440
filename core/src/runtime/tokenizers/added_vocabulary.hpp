#pragma once
// Added tokens (tokenizer.json "added_tokens"): matched in the text before the model sees it,
// following HF's tokenizer/added_vocabulary.rs. Tokens with normalized=false are found in the raw
// text first; the remaining pieces are normalized and searched for normalized=true tokens.
// Matching is leftmost-longest; single_word / lstrip / rstrip refine each match.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/tokenizers/models.hpp"
#include "runtime/tokenizers/normalizers.hpp"
#include "runtime/tokenizers/pre_tokenized_string.hpp"

namespace biaslab::runtime::tokenizers {

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // HF add_tokens: a token keeps the id its content already has (added or model vocabulary),
  // otherwise gets the next free id after the model vocabulary.
  void add_tokens(const std::vector<AddedToken>& tokens, const Model& model, const Normalizer* normalizer);

  std::optional<std::int64_t> token_to_id(std::string_view content, const Model& model) const;
  // Content of an added token (its normalized form if normalization changed it), else nullopt.
  std::optional<std::string> id_to_token(std::int64_t id) const;
  bool is_special(std::string_view content) const;
  const std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>>& contents() const {
    return by_content_;
  }
  const std::map<std::int64_t, AddedToken>& tokens_by_id() const { return by_id_; }

  PreTokenizedString extract_and_normalize(const Normalizer* normalizer, std::string_view text) const;

 private:
  // Byte trie over token contents; leftmost-longest scan.
  class Trie {
   public:
    void clear();
    void insert(std::string_view pattern, std::int64_t id);
    bool empty() const { return nodes_.size() <= 1; }
    struct Match {
      std::size_t start, end;
      std::int64_t id;
    };
    std::vector<Match> find_leftmost_longest(std::string_view text) const;

   private:
    struct Node {
      std::vector<std::pair<unsigned char, std::int32_t>> children;
      std::optional<std::int64_t> id;
    };
    std::vector<Node> nodes_{Node{}};
  };

  struct Piece {
    std::optional<std::int64_t> id;
    std::size_t start, end;
  };
  std::vector<Piece> find_matches(std::string_view sentence, const Trie& trie) const;
  std::vector<Split> split_with_indices(NormalizedString sentence, const Trie& trie) const;
  void rebuild_tries();

  std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>> by_content_;
  std::map<std::int64_t, AddedToken> by_id_;
  std::unordered_set<std::string, StringHash, std::equal_to<>> special_contents_;
  std::unordered_map<std::int64_t, std::string> normalized_cache_;
  Trie raw_trie_;         // normalized == false: matched on the original text
  Trie normalized_trie_;  // normalized == true: matched on normalized text
};

}  // namespace biaslab::runtime::tokenizers
