#include "runtime/tokenizers/added_vocabulary.hpp"

#include <algorithm>
#include <stdexcept>

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

// Rust regex `\w$` / `^\w` on the text around a match (single_word).
bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  std::size_t pos = start;
  return unicode::is_word_char(unicode::decode_utf8(text, pos));
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  std::size_t pos = 0;
  return unicode::is_word_char(unicode::decode_utf8(text, pos));
}

// Start of the whitespace run that ends `text` (Rust regex `\s*$`).
std::size_t trailing_whitespace_start(std::string_view text) {
  std::size_t start = text.size();
  while (start > 0) {
    std::size_t lead = start - 1;
    while (lead > 0 && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80) --lead;
    std::size_t pos = lead;
    if (!unicode::is_whitespace(unicode::decode_utf8(text, pos))) break;
    start = lead;
  }
  return start;
}

// Length of the whitespace run that starts `text` (Rust regex `^\s*`).
std::size_t leading_whitespace_length(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t next = pos;
    if (!unicode::is_whitespace(unicode::decode_utf8(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Trie::clear() { nodes_.assign(1, Node{}); }

void AddedVocabulary::Trie::insert(std::string_view pattern, std::int64_t id) {
  std::size_t node = 0;
  for (unsigned char byte : pattern) {
    auto& children = nodes_[node].children;
    const auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == byte; });
    if (it != children.end()) {
      node = static_cast<std::size_t>(it->second);
    } else {
      nodes_[node].children.emplace_back(byte, static_cast<std::int32_t>(nodes_.size()));
      node = nodes_.size();
      nodes_.push_back(Node{});
    }
  }
  nodes_[node].id = id;
}

std::vector<AddedVocabulary::Trie::Match> AddedVocabulary::Trie::find_leftmost_longest(std::string_view text) const {
  std::vector<Match> matches;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t node = 0;
    std::optional<Match> best;
    for (std::size_t i = start; i < text.size(); ++i) {
      const auto byte = static_cast<unsigned char>(text[i]);
      const auto& children = nodes_[node].children;
      const auto it = std::find_if(children.begin(), children.end(), [&](const auto& c) { return c.first == byte; });
      if (it == children.end()) break;
      node = static_cast<std::size_t>(it->second);
      if (nodes_[node].id) best = Match{start, i + 1, *nodes_[node].id};
    }
    if (best) {
      matches.push_back(*best);
      start = best->end;
    } else {
      ++start;
    }
  }
  return matches;
}

void AddedVocabulary::add_tokens(const std::vector<AddedToken>& tokens, const Model& model,
                                 const Normalizer* normalizer) {
  const auto model_size = static_cast<std::int64_t>(model.vocab_size());
  std::int64_t next_id = model_size;
  if (!by_id_.empty()) {
    const std::int64_t max_id = by_id_.rbegin()->first;
    next_id = (max_id >= model_size || model_size == 0) ? max_id + 1 : model_size;
  }
  for (const auto& token : tokens) {
    if (token.content.empty()) continue;
    if (const auto it = by_content_.find(token.content); it != by_content_.end()) {
      const auto existing = by_id_.find(it->second);
      if (existing != by_id_.end() && existing->second == token) continue;
    }
    std::int64_t id;
    if (const auto known = token_to_id(token.content, model)) {
      id = *known;
    } else {
      id = next_id++;
    }
    if (token.normalized && normalizer != nullptr) {
      NormalizedString s(token.content);
      normalizer->normalize(s);
      if (s.get() != token.content) normalized_cache_[id] = s.get();
    }
    by_content_[token.content] = id;
    if (token.special) special_contents_.insert(token.content);
    by_id_[id] = token;
  }
  rebuild_tries();
}

void AddedVocabulary::rebuild_tries() {
  raw_trie_.clear();
  normalized_trie_.clear();
  for (const auto& [id, token] : by_id_) {
    if (token.normalized) {
      const auto cached = normalized_cache_.find(id);
      normalized_trie_.insert(cached != normalized_cache_.end() ? cached->second : token.content, id);
    } else {
      raw_trie_.insert(token.content, id);
    }
  }
}

std::optional<std::int64_t> AddedVocabulary::token_to_id(std::string_view content, const Model& model) const {
  if (const auto it = by_content_.find(content); it != by_content_.end()) return it->second;
  return model.token_to_id(content);
}

std::optional<std::string> AddedVocabulary::id_to_token(std::int64_t id) const {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  if (const auto cached = normalized_cache_.find(id); cached != normalized_cache_.end()) return cached->second;
  return it->second.content;
}

bool AddedVocabulary::is_special(std::string_view content) const { return special_contents_.count(content) > 0; }

std::vector<AddedVocabulary::Piece> AddedVocabulary::find_matches(std::string_view sentence, const Trie& trie) const {
  if (sentence.empty()) return {Piece{std::nullopt, 0, 0}};
  if (trie.empty()) return {Piece{std::nullopt, 0, sentence.size()}};
  std::vector<Piece> pieces;
  std::size_t start_offset = 0;
  for (const auto& m : trie.find_leftmost_longest(sentence)) {
    std::size_t start = m.start;
    std::size_t stop = m.end;
    const AddedToken& token = by_id_.at(m.id);
    if (token.single_word) {
      const bool space_before = start == 0 || !ends_with_word(sentence.substr(0, start));
      const bool space_after = stop == sentence.size() || !starts_with_word(sentence.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      // Absorb the spaces before the token, unless a previous match already took them.
      start = std::max(trailing_whitespace_start(sentence.substr(0, start)), start_offset);
    }
    if (token.rstrip) stop += leading_whitespace_length(sentence.substr(stop));
    if (start_offset < start) pieces.push_back({std::nullopt, start_offset, start});
    pieces.push_back({m.id, start, stop});
    start_offset = stop;
  }
  if (start_offset != sentence.size()) pieces.push_back({std::nullopt, start_offset, sentence.size()});
  return pieces;
}

std::vector<Split> AddedVocabulary::split_with_indices(NormalizedString sentence, const Trie& trie) const {
  std::vector<Split> splits;
  for (const auto& piece : find_matches(sentence.get(), trie)) {
    auto slice = sentence.slice(piece.start, piece.end);
    if (!slice) throw std::logic_error("AddedVocabulary: match is not on char boundaries");
    if (piece.id) {
      std::string value = slice->get();
      const std::size_t length = value.size();
      splits.push_back({std::move(*slice), std::vector<Token>{Token{*piece.id, std::move(value), {0, length}}}});
    } else {
      splits.push_back({std::move(*slice), std::nullopt});
    }
  }
  return splits;
}

PreTokenizedString AddedVocabulary::extract_and_normalize(const Normalizer* normalizer, std::string_view text) const {
  PreTokenizedString pretokenized{NormalizedString(std::string(text))};
  pretokenized.split([&](std::size_t, NormalizedString&& piece) { return split_with_indices(std::move(piece), raw_trie_); });
  pretokenized.split([&](std::size_t, NormalizedString&& piece) {
    if (normalizer != nullptr) normalizer->normalize(piece);
    return split_with_indices(std::move(piece), normalized_trie_);
  });
  return pretokenized;
}

}  // namespace biaslab::runtime::tokenizers
