#include "runtime/tokenizers/pre_tokenizers.hpp"

#include <vector>

#include "runtime/tokenizers/byte_level.hpp"
#include "runtime/tokenizers/regex.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

// GPT-2's pre-tokenization pattern, as compiled by HF's ByteLevel.
const Regex& gpt2_regex() {
  static const Regex regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
  return regex;
}

bool is_punctuation(char32_t c) { return unicode::is_ascii_punctuation(c) || unicode::hf_is_punctuation(c); }

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void pre_tokenize(PreTokenizedString& text) const override {
    text.split([&](std::size_t, NormalizedString&& piece) {
      if (add_prefix_space_ && (piece.get().empty() || piece.get().front() != ' ')) piece.prepend(" ");
      if (!use_regex_) return as_splits({std::move(piece)});
      return as_splits(piece.split(find_regex_matches(piece.get(), gpt2_regex()), SplitBehavior::Isolated));
    });
    text.normalize([](NormalizedString& piece) { piece.transform(byte_level::to_byte_chars(piece.get()), 0); });
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

// Splits every piece on the characters matching a predicate.
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  CharSplitPreTokenizer(std::function<bool(char32_t)> predicate, SplitBehavior behavior)
      : predicate_(std::move(predicate)), behavior_(behavior) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    text.split([&](std::size_t, NormalizedString&& piece) {
      return as_splits(piece.split(find_char_matches(piece.get(), predicate_), behavior_));
    });
  }

 private:
  std::function<bool(char32_t)> predicate_;
  SplitBehavior behavior_;
};

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& text) const override {
    whitespace_.pre_tokenize(text);
    punctuation_.pre_tokenize(text);
  }

 private:
  CharSplitPreTokenizer whitespace_{unicode::is_whitespace, SplitBehavior::Removed};
  CharSplitPreTokenizer punctuation_{is_punctuation, SplitBehavior::Isolated};
};

class RegexSplitPreTokenizer final : public PreTokenizer {
 public:
  RegexSplitPreTokenizer(std::optional<std::string> literal, std::unique_ptr<Regex> regex, SplitBehavior behavior,
                         bool invert)
      : literal_(std::move(literal)), regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(PreTokenizedString& text) const override {
    text.split([&](std::size_t, NormalizedString&& piece) {
      PatternMatches matches =
          regex_ ? find_regex_matches(piece.get(), *regex_) : find_literal_matches(piece.get(), *literal_);
      if (invert_) matches = invert_matches(std::move(matches));
      return as_splits(piece.split(matches, behavior_));
    });
  }

 private:
  std::optional<std::string> literal_;
  std::unique_ptr<Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { First, Never, Always };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    unicode::append_utf8(replacement_text_, replacement);
  }

  void pre_tokenize(PreTokenizedString& text) const override {
    text.split([&](std::size_t, NormalizedString&& piece) {
      piece.replace(find_char_matches(piece.get(), [](char32_t c) { return c == U' '; }), replacement_text_);
      const bool starts_with_replacement = piece.get().rfind(replacement_text_, 0) == 0;
      if (scheme_ == PrependScheme::Always && !starts_with_replacement) {
        piece.prepend(replacement_text_);
      } else if (scheme_ == PrependScheme::First && !starts_with_replacement &&
                 piece.offsets_original().first == 0) {
        piece.prepend(replacement_text_);
      }
      if (!split_) return as_splits({std::move(piece)});
      const char32_t r = replacement_;
      return as_splits(
          piece.split(find_char_matches(piece.get(), [r](char32_t c) { return c == r; }), SplitBehavior::MergedWithNext));
    });
  }

 private:
  char32_t replacement_;
  std::string replacement_text_;
  PrependScheme scheme_;
  bool split_;
};

class FixedLengthPreTokenizer final : public PreTokenizer {
 public:
  explicit FixedLengthPreTokenizer(std::size_t length) : length_(length) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    text.split([&](std::size_t, NormalizedString&& piece) {
      std::vector<NormalizedString> chunks;
      const std::string& s = piece.get();
      std::size_t pos = 0;
      while (pos < s.size()) {
        const std::size_t start = pos;
        for (std::size_t n = 0; n < length_ && pos < s.size(); ++n) {
          pos += unicode::utf8_sequence_length(static_cast<unsigned char>(s[pos]));
        }
        if (auto chunk = piece.slice(start, std::min(pos, s.size()))) chunks.push_back(std::move(*chunk));
      }
      return as_splits(std::move(chunks));
    });
  }

 private:
  std::size_t length_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(PreTokenizedString& text) const override {
    for (const auto& step : steps_) step->pre_tokenize(text);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

char32_t single_char(const std::string& text, const std::string& where) {
  if (text.empty() || unicode::count_chars(text) != 1) throw ConfigError(where + ": expected a single character");
  std::size_t pos = 0;
  return unicode::decode_utf8(text, pos);
}

}  // namespace

SplitBehavior split_behavior_from_json(const Json& value, const std::string& where) {
  if (!value.is_string()) throw ConfigError(where + ": expected a split behavior string");
  const std::string name = value.get<std::string>();
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw ConfigError(where + ": unknown split behavior '" + name + "'");
}

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const Json& config, const std::string& where) {
  const std::string type = json_type(config);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(json_bool(config, "add_prefix_space", true, where),
                                                   json_bool(config, "use_regex", true, where));
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Whitespace") {
    // HF: Rust regex \w+|[^\w\s]+, inverted, matches removed.
    return std::make_unique<RegexSplitPreTokenizer>(std::nullopt, std::make_unique<Regex>(R"(\w+|[^\w\s]+)"),
                                                    SplitBehavior::Removed, true);
  }
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharSplitPreTokenizer>(unicode::is_whitespace, SplitBehavior::Removed);
  }
  if (type == "CharDelimiterSplit") {
    const char32_t delimiter = single_char(json_string(config, "delimiter", where), where + ".delimiter");
    return std::make_unique<CharSplitPreTokenizer>([delimiter](char32_t c) { return c == delimiter; },
                                                   SplitBehavior::Removed);
  }
  if (type == "Digits") {
    const bool individual = json_bool(config, "individual_digits", false, where);
    return std::make_unique<CharSplitPreTokenizer>(unicode::is_numeric, individual ? SplitBehavior::Isolated
                                                                                   : SplitBehavior::Contiguous);
  }
  if (type == "Punctuation") {
    const SplitBehavior behavior = json_has(config, "behavior")
                                       ? split_behavior_from_json(config.at("behavior"), where + ".behavior")
                                       : SplitBehavior::Isolated;
    return std::make_unique<CharSplitPreTokenizer>(is_punctuation, behavior);
  }
  if (type == "Metaspace") {
    const char32_t replacement = single_char(json_string(config, "replacement", where), where + ".replacement");
    PrependScheme scheme = PrependScheme::Always;
    if (const auto name = json_optional_string(config, "prepend_scheme", where)) {
      if (*name == "first") scheme = PrependScheme::First;
      else if (*name == "never") scheme = PrependScheme::Never;
      else if (*name == "always") scheme = PrependScheme::Always;
      else throw ConfigError(where + ".prepend_scheme: unknown value '" + *name + "'");
    }
    // Legacy files: add_prefix_space=false means "never".
    if (json_has(config, "add_prefix_space") && !json_bool(config, "add_prefix_space", true, where)) {
      if (json_has(config, "prepend_scheme") && scheme != PrependScheme::Never) {
        throw ConfigError(where + ": add_prefix_space does not match prepend_scheme");
      }
      scheme = PrependScheme::Never;
    }
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, json_bool(config, "split", true, where));
  }
  if (type == "Split") {
    const Json& pattern = json_member(config, "pattern", where);
    const SplitBehavior behavior = split_behavior_from_json(json_member(config, "behavior", where), where + ".behavior");
    const bool invert = json_bool(config, "invert", false, where);
    if (json_has(pattern, "String")) {
      return std::make_unique<RegexSplitPreTokenizer>(json_string(pattern, "String", where + ".pattern"), nullptr,
                                                      behavior, invert);
    }
    if (json_has(pattern, "Regex")) {
      return std::make_unique<RegexSplitPreTokenizer>(
          std::nullopt, std::make_unique<Regex>(json_string(pattern, "Regex", where + ".pattern")), behavior, invert);
    }
    throw ConfigError(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  }
  if (type == "FixedLength") {
    const std::int64_t length = json_int(config, "length", 5, where);
    if (length <= 0) throw ConfigError(where + ".length: must be positive");
    return std::make_unique<FixedLengthPreTokenizer>(static_cast<std::size_t>(length));
  }
  if (type == "Sequence") {
    const Json& list = json_member(config, "pretokenizers", where);
    if (!list.is_array()) throw ConfigError(where + ".pretokenizers: expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.push_back(pre_tokenizer_from_json(list[i], where + ".pretokenizers[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type.empty()) throw ConfigError(where + ": pre-tokenizer without \"type\"");
  throw ConfigError(where + ": unsupported pre-tokenizer type '" + type + "'");
}

}  // namespace biaslab::runtime::tokenizers
