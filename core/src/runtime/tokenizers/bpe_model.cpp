// Byte-pair encoding as HF tokenizers' models/bpe: merges applied lowest rank first (ties: leftmost
// first) via a priority queue over a linked list of symbols, a hash map from token-id pairs to
// (rank, merged id), and a bounded cache of whole-word results.
#include <cstdio>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "runtime/tokenizers/models.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

constexpr std::size_t kCacheCapacity = 10'000;  // HF DEFAULT_CACHE_CAPACITY
constexpr std::size_t kCacheMaxWordBytes = 256;  // HF MAX_LENGTH: longer words are not cached

struct MergeResult {
  std::uint32_t rank;
  std::int64_t new_id;
};

struct Symbol {
  std::int64_t id;
  std::ptrdiff_t prev;
  std::ptrdiff_t next;
  std::size_t byte_length;  // 0 once merged into its left neighbour
};

struct QueuedMerge {
  std::size_t pos;
  std::uint32_t rank;
  std::int64_t new_id;
  // std::priority_queue pops the largest: make "largest" = lowest rank, then lowest position.
  bool operator<(const QueuedMerge& other) const {
    if (rank != other.rank) return rank > other.rank;
    return pos > other.pos;
  }
};

struct WordPart {
  std::int64_t id;
  std::size_t byte_length;
};

class BpeModel final : public Model {
 public:
  BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& where)
      : vocab_(std::move(vocab)), options_(std::move(options)) {
    for (const auto& [token, id] : vocab_) vocab_r_[id] = token;
    const std::size_t prefix_length =
        options_.continuing_subword_prefix ? options_.continuing_subword_prefix->size() : 0;
    merges_.reserve(merges.size());
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      const auto a_id = lookup(a, where, rank);
      const auto b_id = lookup(b, where, rank);
      // The merged token drops b's continuing-subword prefix (HF concatenates a + b[prefix..]).
      const std::string merged = a + (b.size() >= prefix_length ? b.substr(prefix_length) : std::string());
      const auto merged_id = lookup(merged, where, rank);
      // Later duplicates overwrite earlier ones, as HF's collect into a HashMap.
      merges_[pair_key(a_id, b_id)] = MergeResult{static_cast<std::uint32_t>(rank), merged_id};
    }
    if (options_.unk_token && !vocab_.count(*options_.unk_token)) {
      unk_missing_ = true;  // HF only fails when the unknown token is actually needed
    }
  }

  std::vector<Token> tokenize(std::string_view piece) const override {
    if (piece.empty()) return {};
    if (options_.ignore_merges) {
      if (const auto it = vocab_.find(piece); it != vocab_.end()) {
        return {Token{it->second, std::string(piece), {0, piece.size()}}};
      }
    }
    std::vector<WordPart> word;
    bool cached = false;
    if (piece.size() < kCacheMaxWordBytes) {
      std::shared_lock lock(cache_mutex_);
      if (const auto it = cache_.find(piece); it != cache_.end()) {
        word = it->second;
        cached = true;
      }
    }
    if (!cached) {
      word = merge_word(piece);
      if (piece.size() < kCacheMaxWordBytes) {
        std::unique_lock lock(cache_mutex_);
        if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(piece), word);
      }
    }
    std::vector<Token> tokens;
    tokens.reserve(word.size());
    std::size_t offset = 0;
    for (const auto& w : word) {
      const auto it = vocab_r_.find(w.id);
      tokens.push_back(Token{w.id, it != vocab_r_.end() ? it->second : std::string(), {offset, offset + w.byte_length}});
      offset += w.byte_length;
    }
    return tokens;
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
  std::string type() const override { return "BPE"; }

 private:
  static std::uint64_t pair_key(std::int64_t a, std::int64_t b) {
    return (static_cast<std::uint64_t>(a) << 32) ^ static_cast<std::uint64_t>(static_cast<std::uint32_t>(b));
  }

  std::int64_t lookup(const std::string& token, const std::string& where, std::size_t rank) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      throw ConfigError(where + ": merge #" + std::to_string(rank + 1) + " uses token '" + token +
                        "' that is not in the vocabulary");
    }
    if (it->second < 0 || it->second > 0xFFFFFFFFLL) throw ConfigError(where + ": token id out of range for '" + token + "'");
    return it->second;
  }

  std::int64_t unk_id() const {
    if (unk_missing_) throw std::runtime_error("BPE: unk_token '" + *options_.unk_token + "' is not in the vocabulary");
    return vocab_.find(*options_.unk_token)->second;
  }

  // Initial symbols (one per char, with unknown/byte-fallback handling) then all merges.
  std::vector<WordPart> merge_word(std::string_view w) const {
    std::vector<Symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](std::int64_t id, std::size_t byte_length) {
      const auto n = static_cast<std::ptrdiff_t>(symbols.size());
      if (!symbols.empty()) symbols.back().next = n;
      symbols.push_back({id, n - 1, -1, byte_length});
    };
    std::optional<WordPart> pending_unk;
    std::string key;
    for (std::size_t pos = 0; pos < w.size();) {
      const std::size_t start = pos;
      unicode::decode_utf8(w, pos);
      const std::size_t byte_length = pos - start;
      key.assign(w.substr(start, byte_length));
      if (start > 0 && options_.continuing_subword_prefix) key.insert(0, *options_.continuing_subword_prefix);
      if (pos >= w.size() && options_.end_of_word_suffix) key += *options_.end_of_word_suffix;
      if (const auto it = vocab_.find(key); it != vocab_.end()) {
        if (pending_unk) {
          add(pending_unk->id, pending_unk->byte_length);
          pending_unk.reset();
        }
        add(it->second, byte_length);
        continue;
      }
      if (options_.byte_fallback) {
        // Each byte of the (prefixed/suffixed) key as <0xHH>, only if all of them exist.
        std::vector<std::int64_t> byte_ids;
        for (unsigned char b : key) {
          char name[8];
          std::snprintf(name, sizeof(name), "<0x%02X>", b);
          const auto it = vocab_.find(std::string_view(name));
          if (it == vocab_.end()) break;
          byte_ids.push_back(it->second);
        }
        if (byte_ids.size() == key.size()) {
          for (const auto id : byte_ids) add(id, 1);
          continue;
        }
      }
      if (options_.unk_token) {
        if (pending_unk && options_.fuse_unk) {
          pending_unk->byte_length += byte_length;
        } else {
          if (pending_unk) add(pending_unk->id, pending_unk->byte_length);
          pending_unk = WordPart{unk_id(), byte_length};
        }
      }
    }
    if (pending_unk) add(pending_unk->id, pending_unk->byte_length);
    apply_merges(symbols);
    std::vector<WordPart> out;
    out.reserve(symbols.size());
    for (const auto& s : symbols) {
      if (s.byte_length != 0) out.push_back({s.id, s.byte_length});
    }
    return out;
  }

  const MergeResult* find_merge(std::int64_t a, std::int64_t b) const {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  }

  void apply_merges(std::vector<Symbol>& symbols) const {
    std::priority_queue<QueuedMerge> queue;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (const auto* m = find_merge(symbols[i].id, symbols[i + 1].id)) queue.push({i, m->rank, m->new_id});
    }
    while (!queue.empty()) {
      const QueuedMerge top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.pos];
      if (left.byte_length == 0 || left.next == -1) continue;
      const auto right_pos = static_cast<std::size_t>(left.next);
      const Symbol right = symbols[right_pos];
      // Skip entries made stale by earlier merges.
      const auto* current = find_merge(left.id, right.id);
      if (current == nullptr || current->new_id != top.new_id) continue;
      left.id = top.new_id;
      left.byte_length += right.byte_length;
      left.next = right.next;
      symbols[right_pos].byte_length = 0;
      if (right.next > -1 && static_cast<std::size_t>(right.next) < symbols.size()) {
        symbols[static_cast<std::size_t>(right.next)].prev = static_cast<std::ptrdiff_t>(top.pos);
      }
      if (left.prev >= 0) {
        const auto prev_pos = static_cast<std::size_t>(left.prev);
        if (const auto* m = find_merge(symbols[prev_pos].id, left.id)) queue.push({prev_pos, m->rank, m->new_id});
      }
      if (left.next >= 0 && static_cast<std::size_t>(left.next) < symbols.size()) {
        if (const auto* m = find_merge(left.id, symbols[static_cast<std::size_t>(left.next)].id)) {
          queue.push({top.pos, m->rank, m->new_id});
        }
      }
    }
  }

  Vocab vocab_;
  std::unordered_map<std::int64_t, std::string> vocab_r_;
  std::unordered_map<std::uint64_t, MergeResult> merges_;
  BpeOptions options_;
  bool unk_missing_ = false;
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<WordPart>, StringHash, std::equal_to<>> cache_;
};

}  // namespace

std::unique_ptr<Model> make_bpe_model(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                      BpeOptions options, const std::string& where) {
  return std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), where);
}

}  // namespace biaslab::runtime::tokenizers
