#include "biaslab/runtime/train/tokenizer_builder.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <queue>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "runtime/tokenizers/regex.hpp"
#include "runtime/train/file_util.hpp"

namespace biaslab::runtime::train {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s += static_cast<char>(c);
  } else if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
  return s;
}

// GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
// mapped in order onto U+0100, U+0101, ...
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) t[b] = utf8(printable(b) ? static_cast<char32_t>(b) : next++);
    return t;
  }();
  return table;
}

std::vector<std::string> special_tokens(TokenizerFlavor flavor) {
  if (flavor == TokenizerFlavor::causal) return {"<|endoftext|>", "<|padding|>"};
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
}

// GPT-2's pattern, exactly what the ByteLevel pre-tokenizer splits with.
const tokenizers::Regex& gpt2_pattern() {
  static const tokenizers::Regex regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  return regex;
}

using Pair = std::pair<std::int32_t, std::int32_t>;
struct PairHash {
  std::size_t operator()(const Pair& p) const noexcept {
    return std::hash<std::uint64_t>()((static_cast<std::uint64_t>(static_cast<std::uint32_t>(p.first)) << 32) |
                                      static_cast<std::uint32_t>(p.second));
  }
};

}  // namespace

const std::string& byte_level_symbol(unsigned char byte) { return byte_symbols()[byte]; }

std::size_t special_token_count(TokenizerFlavor flavor) { return special_tokens(flavor).size(); }

std::vector<BpeMerge> train_byte_level_bpe(const std::vector<std::string>& texts, TokenizerFlavor flavor,
                                           const BpeTrainerOptions& options) {
  const std::size_t base = special_token_count(flavor) + 256;
  if (options.vocab_size < base) {
    throw std::invalid_argument("BPE vocabulary size " + std::to_string(options.vocab_size) + " is below the " +
                                std::to_string(base) + " special and byte tokens");
  }
  // Word frequencies over the pre-tokenized text.
  std::map<std::string, std::int64_t> word_counts;
  std::size_t bytes = 0;
  for (const auto& text : texts) {
    if (bytes >= options.max_training_bytes) break;
    bytes += text.size();
    for (const auto& [begin, end] : gpt2_pattern().find_all(text)) ++word_counts[text.substr(begin, end - begin)];
  }
  // Symbols are local ids: bytes 0..255, then one per new token string.
  std::vector<std::string> symbol_text(256);
  for (int b = 0; b < 256; ++b) symbol_text[b] = byte_symbols()[b];
  std::unordered_map<std::string, std::int32_t> symbol_of;
  for (int b = 0; b < 256; ++b) symbol_of.emplace(symbol_text[b], b);

  std::vector<std::vector<std::int32_t>> words;
  std::vector<std::int64_t> counts;
  for (const auto& [word, count] : word_counts) {
    std::vector<std::int32_t> symbols;
    for (unsigned char c : word) symbols.push_back(c);
    words.push_back(std::move(symbols));
    counts.push_back(count);
  }

  std::unordered_map<Pair, std::int64_t, PairHash> pair_count;
  std::unordered_map<Pair, std::set<std::size_t>, PairHash> where;
  auto add_word = [&](std::size_t w, std::int64_t sign) {
    const auto& s = words[w];
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
      const Pair p{s[i], s[i + 1]};
      pair_count[p] += sign * counts[w];
      if (sign > 0) where[p].insert(w);
    }
  };
  for (std::size_t w = 0; w < words.size(); ++w) add_word(w, +1);

  // Max-heap on (count, smallest pair); entries go stale as counts change and are re-checked.
  struct Entry {
    std::int64_t count;
    Pair pair;
    bool operator<(const Entry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
  };
  std::priority_queue<Entry> heap;
  for (const auto& [p, c] : pair_count) heap.push({c, p});

  std::vector<BpeMerge> merges;
  std::size_t vocab = base;
  while (vocab < options.vocab_size && !heap.empty()) {
    const Entry top = heap.top();
    heap.pop();
    const auto current = pair_count[top.pair];
    if (current != top.count) {
      if (current > 0) heap.push({current, top.pair});
      continue;
    }
    if (current < options.min_frequency || current <= 0) break;
    const Pair p = top.pair;
    const std::string merged = symbol_text[p.first] + symbol_text[p.second];
    std::int32_t id;
    if (auto it = symbol_of.find(merged); it != symbol_of.end()) {
      id = it->second;  // the same string reached by another merge order: one vocabulary entry
    } else {
      id = static_cast<std::int32_t>(symbol_text.size());
      symbol_text.push_back(merged);
      symbol_of.emplace(merged, id);
      ++vocab;
    }
    merges.push_back({symbol_text[p.first], symbol_text[p.second]});
    const auto affected = where[p];
    for (std::size_t w : affected) {
      auto& s = words[w];
      bool present = false;
      for (std::size_t i = 0; i + 1 < s.size() && !present; ++i) present = s[i] == p.first && s[i + 1] == p.second;
      if (!present) continue;
      add_word(w, -1);
      std::vector<std::int32_t> out;
      out.reserve(s.size());
      for (std::size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == p.first && s[i + 1] == p.second) {
          out.push_back(id);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
      add_word(w, +1);
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        const Pair q{s[i], s[i + 1]};
        if (q.first == id || q.second == id) heap.push({pair_count[q], q});
      }
    }
    where.erase(p);
    pair_count.erase(p);
  }
  return merges;
}

void write_byte_level_tokenizer(const fs::path& dir, TokenizerFlavor flavor, const std::vector<BpeMerge>& merges,
                                std::int64_t model_max_length) {
  fs::create_directories(dir);
  const auto specials = special_tokens(flavor);
  ordered_json vocab = ordered_json::object();
  std::int64_t next = 0;
  for (const auto& s : specials) vocab[s] = next++;
  for (int b = 0; b < 256; ++b) vocab[byte_symbols()[b]] = next++;
  ordered_json merge_list = ordered_json::array();
  for (const auto& m : merges) {
    if (!vocab.contains(m.left) || !vocab.contains(m.right)) {
      throw std::invalid_argument("BPE merge '" + m.left + " " + m.right + "' uses a token that no earlier merge made");
    }
    const auto merged = m.left + m.right;
    if (!vocab.contains(merged)) vocab[merged] = next++;
    merge_list.push_back(m.left + " " + m.right);
  }

  ordered_json added = ordered_json::array();
  for (std::size_t i = 0; i < specials.size(); ++i) {
    added.push_back({{"id", i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  const ordered_json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  ordered_json post = byte_level;
  if (flavor == TokenizerFlavor::masked) {
    post = {{"type", "BertProcessing"}, {"sep", ordered_json::array({"[SEP]", 3})}, {"cls", ordered_json::array({"[CLS]", 2})}};
  }
  ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", byte_level},
      {"post_processor", post},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"vocab", vocab}, {"merges", merge_list}}},
  };
  ordered_json special_map;
  if (flavor == TokenizerFlavor::causal) {
    special_map = {{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"unk_token", "<|endoftext|>"},
                   {"pad_token", "<|padding|>"}};
  } else {
    special_map = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                   {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
  }
  ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"}};
  for (auto it = special_map.begin(); it != special_map.end(); ++it) config[it.key()] = it.value();
  config["add_bos_token"] = false;
  config["add_eos_token"] = false;
  config["clean_up_tokenization_spaces"] = false;
  config["model_max_length"] = model_max_length;

  write_text_file(dir / "tokenizer.json", tokenizer.dump(2) + "\n");
  write_text_file(dir / "tokenizer_config.json", config.dump(2) + "\n");
  write_text_file(dir / "special_tokens_map.json", special_map.dump(2) + "\n");
}

void copy_tokenizer_files(const fs::path& source, const fs::path& dir) {
  static const char* const kFiles[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                       "added_tokens.json", "vocab.json", "merges.txt", "vocab.txt",
                                       "tokenizer.model", "spiece.model", "sentencepiece.bpe.model"};
  fs::create_directories(dir);
  if (fs::is_regular_file(source)) {
    if (source.filename() != "tokenizer.json") {
      throw std::runtime_error(source.string() + ": a tokenizer given as a file must be a tokenizer.json");
    }
    fs::copy_file(source, dir / "tokenizer.json", fs::copy_options::overwrite_existing);
    for (const char* f : {"tokenizer_config.json", "special_tokens_map.json"}) {
      if (fs::is_regular_file(source.parent_path() / f)) {
        fs::copy_file(source.parent_path() / f, dir / f, fs::copy_options::overwrite_existing);
      }
    }
    return;
  }
  if (!fs::is_directory(source)) throw std::runtime_error("tokenizer " + source.string() + " does not exist");
  bool any = false;
  for (const char* f : kFiles) {
    if (fs::is_regular_file(source / f)) {
      fs::copy_file(source / f, dir / f, fs::copy_options::overwrite_existing);
      any = true;
    }
  }
  if (!any) {
    throw std::runtime_error(source.string() +
                             " holds no tokenizer files (tokenizer.json, vocab.json + merges.txt, vocab.txt, ...)");
  }
}

}  // namespace biaslab::runtime::train
