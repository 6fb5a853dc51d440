#include "runtime/tokenizers/normalizers.hpp"

#include <vector>

#include "runtime/tokenizers/byte_level.hpp"
#include "runtime/tokenizers/regex.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

// BERT's "Chinese character" blocks, exactly as HF lists them (note U+2B920, not U+2B820).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool handle_chinese_chars, std::optional<bool> strip_accents, bool lowercase)
      : clean_text_(clean_text),
        handle_chinese_chars_(handle_chinese_chars),
        strip_accents_(strip_accents.value_or(lowercase)),
        lowercase_(lowercase) {}

  void normalize(NormalizedString& text) const override {
    if (clean_text_) {
      text.filter([](char32_t c) {
        const bool control = c != '\t' && c != '\n' && c != '\r' && unicode::hf_is_other(c);
        return !(c == 0 || c == 0xFFFD || control);
      });
      text.map([](char32_t c) { return unicode::is_whitespace(c) ? U' ' : c; });
    }
    if (handle_chinese_chars_) {
      std::vector<CharChange> transforms;
      const std::string& s = text.get();
      transforms.reserve(s.size());
      for (std::size_t pos = 0; pos < s.size();) {
        const char32_t c = unicode::decode_utf8(s, pos);
        if (is_chinese_char(c)) {
          transforms.emplace_back(U' ', 0);
          transforms.emplace_back(c, 1);
          transforms.emplace_back(U' ', 1);
        } else {
          transforms.emplace_back(c, 0);
        }
      }
      text.transform(transforms, 0);
    }
    if (strip_accents_) {
      text.normalize(NormalizationForm::NFD);
      text.filter([](char32_t c) { return !unicode::hf_is_mark_nonspacing(c); });
    }
    if (lowercase_) text.lowercase();
  }

 private:
  bool clean_text_;
  bool handle_chinese_chars_;
  bool strip_accents_;
  bool lowercase_;
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(NormalizedString& text) const override {
    if (left_ && right_) {
      text.strip();
    } else if (left_) {
      text.lstrip();
    } else if (right_) {
      text.rstrip();
    }
  }

 private:
  bool left_, right_;
};

class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.filter([](char32_t c) { return !unicode::hf_is_combining_mark(c); });
  }
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalizationForm form) : form_(form) {}
  void normalize(NormalizedString& text) const override { text.normalize(form_); }

 private:
  NormalizationForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override { text.lowercase(); }
};

class NmtNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    text.filter([](char32_t c) {
      return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
               c == 0x9F);
    });
    text.map([](char32_t c) -> char32_t {
      switch (c) {
        case 0x09: case 0x0A: case 0x0C: case 0x0D: case 0x1680: case 0x200B: case 0x200C: case 0x200D:
        case 0x200E: case 0x200F: case 0x2028: case 0x2029: case 0x2581: case 0xFEFF: case 0xFFFD:
          return U' ';
        default:
          return c;
      }
    });
  }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::optional<std::string> literal, std::unique_ptr<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(NormalizedString& text) const override {
    const PatternMatches matches =
        regex_ ? find_regex_matches(text.get(), *regex_) : find_literal_matches(text.get(), *literal_);
    text.replace(matches, content_);
  }

 private:
  std::optional<std::string> literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(NormalizedString& text) const override {
    if (!text.empty()) text.prepend(prefix_);
  }

 private:
  std::string prefix_;
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(NormalizedString& text) const override {
    if (!text.empty()) text.transform(byte_level::to_byte_chars(text.get()), 0);
  }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(NormalizedString& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> normalizer_from_json(const Json& config, const std::string& where) {
  const std::string type = json_type(config);
  if (type == "BertNormalizer") {
    std::optional<bool> strip_accents;
    if (json_has(config, "strip_accents")) strip_accents = json_bool(config, "strip_accents", false, where);
    return std::make_unique<BertNormalizer>(json_bool(config, "clean_text", true, where),
                                            json_bool(config, "handle_chinese_chars", true, where), strip_accents,
                                            json_bool(config, "lowercase", true, where));
  }
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(json_bool(config, "strip_left", true, where),
                                             json_bool(config, "strip_right", true, where));
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalizationForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalizationForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalizationForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalizationForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Nmt") return std::make_unique<NmtNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json_string(config, "prepend", where));
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Replace") {
    const Json& pattern = json_member(config, "pattern", where);
    const std::string content = json_string(config, "content", where);
    if (json_has(pattern, "String")) {
      return std::make_unique<ReplaceNormalizer>(json_string(pattern, "String", where + ".pattern"), nullptr, content);
    }
    if (json_has(pattern, "Regex")) {
      return std::make_unique<ReplaceNormalizer>(
          std::nullopt, std::make_unique<Regex>(json_string(pattern, "Regex", where + ".pattern")), content);
    }
    throw ConfigError(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  }
  if (type == "Sequence") {
    const Json& list = json_member(config, "normalizers", where);
    if (!list.is_array()) throw ConfigError(where + ".normalizers: expected an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.push_back(normalizer_from_json(list[i], where + ".normalizers[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type.empty()) throw ConfigError(where + ": normalizer without \"type\"");
  throw ConfigError(where + ": unsupported normalizer type '" + type + "'");
}

}  // namespace biaslab::runtime::tokenizers
