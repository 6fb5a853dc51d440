#pragma once
// Tokenization models of tokenizer.json ("model" key): BPE, WordPiece, WordLevel.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizers/json_util.hpp"
#include "runtime/tokenizers/token.hpp"

namespace biaslab::runtime::tokenizers {

// std::string keys looked up by std::string_view without a temporary string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>>;

class Model {
 public:
  virtual ~Model() = default;
  // Tokens of one pre-tokenized piece; offsets are byte offsets into `piece`. Thread-safe.
  virtual std::vector<Token> tokenize(std::string_view piece) const = 0;
  virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(std::int64_t id) const = 0;
  virtual std::size_t vocab_size() const = 0;
  virtual std::string type() const = 0;
};

// `where` names the location for error messages. The type is inferred like HF does when the
// "type" key is missing (older files): merges -> BPE, continuing_subword_prefix -> WordPiece,
// otherwise WordLevel.
std::unique_ptr<Model> model_from_json(const Json& config, const std::string& where);

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix;
  std::optional<std::string> end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};
// merges: ordered pairs (rank = position); throws ConfigError when a merge uses unknown tokens.
std::unique_ptr<Model> make_bpe_model(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                                      BpeOptions options, const std::string& where);

std::unique_ptr<Model> make_wordpiece_model(Vocab vocab, std::string unk_token, std::string continuing_subword_prefix,
                                            std::size_t max_input_chars_per_word);

std::unique_ptr<Model> make_wordlevel_model(Vocab vocab, std::string unk_token);

// Reads a JSON object {token: id} (vocab.json / tokenizer.json "vocab").
Vocab vocab_from_json(const Json& object, const std::string& where);
// Parses merges: "a b" strings (split on the single space) or ["a", "b"] pairs.
std::vector<std::pair<std::string, std::string>> merges_from_json(const Json& list, const std::string& where);

}  // namespace biaslab::runtime::tokenizers
