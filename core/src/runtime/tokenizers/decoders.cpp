#include "runtime/tokenizers/decoders.hpp"

#include <optional>

#include "runtime/tokenizers/byte_level.hpp"
#include "runtime/tokenizers/pattern.hpp"
#include "runtime/tokenizers/regex.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t last = 0;
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, last)) {
    out.append(text, last, pos - last);
    out.append(to);
    last = pos + from.size();
  }
  out.append(text, last, std::string::npos);
  text = std::move(out);
}

// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      out.push_back(static_cast<char>(b0));
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      length = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      length = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    }
    std::size_t valid = 1;
    if (length > 0) {
      while (valid < length && i + valid < bytes.size()) {
        const auto b = static_cast<unsigned char>(bytes[i + valid]);
        const bool ok = valid == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
        ++valid;
      }
    }
    if (length > 0 && valid == length) {
      out.append(bytes.substr(i, length));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += valid;
  }
  return out;
}

// WordPiece decoder's detokenization clean-up, in HF's order.
std::string cleanup(std::string text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},   {" ?", "?"},   {" !", "!"},     {" ,", ","},           {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(text, from, to);
  return text;
}

class ByteLevelDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& token : tokens) {
      std::string mapped;
      bool all_mapped = true;
      for (std::size_t pos = 0; pos < token.size();) {
        const auto byte = byte_level::char_to_byte(unicode::decode_utf8(token, pos));
        if (!byte) {
          all_mapped = false;
          break;
        }
        mapped.push_back(static_cast<char>(*byte));
      }
      bytes += all_mapped ? mapped : token;
    }
    return {utf8_lossy(bytes)};
  }
};

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      auto& token = tokens[i];
      if (i != 0) {
        if (token.rfind(prefix_, 0) == 0) {
          token.erase(0, prefix_.size());
        } else {
          token.insert(0, " ");
        }
      }
      if (cleanup_) token = cleanup(std::move(token));
    }
    return tokens;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend) : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& token = tokens[i];
      for (std::size_t pos = 0; pos < token.size();) {
        const char32_t c = unicode::decode_utf8(token, pos);
        if (c == replacement_) {
          // HF drops every replacement char of the first token when a prefix was prepended.
          if (!(i == 0 && prepend_)) out.push_back(' ');
        } else {
          unicode::append_utf8(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    return tokens;
  }

 private:
  std::string suffix_;
};

class CtcDecoder final : public Decoder {
 public:
  CtcDecoder(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // dedup consecutive repeats
      std::string token = tokens[i];
      replace_all(token, pad_, "");
      if (cleanup_) {
        token = cleanup(std::move(token));
        replace_all(token, delimiter_, " ");
      }
      if (!token.empty()) out.push_back(std::move(token));
    }
    return out;
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::optional<std::string> literal, std::unique_ptr<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& token : tokens) {
      const PatternMatches matches = regex_ ? find_regex_matches(token, *regex_) : find_literal_matches(token, *literal_);
      std::string out;
      for (const auto& m : matches) {
        if (m.is_match) {
          out += content_;
        } else if (m.end <= token.size()) {
          out.append(token, m.start, m.end - m.start);
        }
      }
      token = std::move(out);
    }
    return tokens;
  }

 private:
  std::optional<std::string> literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // bytes of consecutive <0xHH> tokens
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::find_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& token : tokens) {
      std::optional<unsigned char> byte;
      if (token.size() == 6 && token.rfind("<0x", 0) == 0 && token.back() == '>') {
        const std::string hex = token.substr(3, 2);
        if (hex.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
          byte = static_cast<unsigned char>(std::stoi(hex, nullptr, 16));
        }
      }
      if (byte) {
        pending.push_back(static_cast<char>(*byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }
};

class FuseDecoder final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string joined;
    for (const auto& t : tokens) joined += t;
    return {joined};
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (auto& token : tokens) {
      const auto chars = unicode::to_utf32(token);
      std::size_t begin = 0;
      while (begin < start_ && begin < chars.size() && chars[begin] == content_) ++begin;
      std::size_t end = chars.size();
      for (std::size_t i = 0; i < stop_ && end > begin && chars[end - 1] == content_; ++i) --end;
      token = unicode::to_utf8(std::u32string_view(chars).substr(begin, end - begin));
    }
    return tokens;
  }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& step : steps_) tokens = step->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

char32_t single_char(const std::string& text, const std::string& where) {
  if (unicode::count_chars(text) != 1) throw ConfigError(where + ": expected a single character");
  std::size_t pos = 0;
  return unicode::decode_utf8(text, pos);
}

}  // namespace

std::string Decoder::decode(std::vector<std::string> tokens) const {
  std::string out;
  for (const auto& piece : decode_chain(std::move(tokens))) out += piece;
  return out;
}

std::unique_ptr<Decoder> decoder_from_json(const Json& config, const std::string& where) {
  const std::string type = json_type(config);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(json_optional_string(config, "prefix", where).value_or("##"),
                                              json_bool(config, "cleanup", true, where));
  }
  if (type == "Metaspace") {
    const char32_t replacement = single_char(json_string(config, "replacement", where), where + ".replacement");
    bool prepend = true;
    if (const auto scheme = json_optional_string(config, "prepend_scheme", where)) prepend = *scheme != "never";
    if (json_has(config, "add_prefix_space") && !json_bool(config, "add_prefix_space", true, where)) prepend = false;
    return std::make_unique<MetaspaceDecoder>(replacement, prepend);
  }
  if (type == "BPEDecoder") {
    return std::make_unique<BpeDecoder>(json_optional_string(config, "suffix", where).value_or("</w>"));
  }
  if (type == "CTC") {
    return std::make_unique<CtcDecoder>(json_optional_string(config, "pad_token", where).value_or("<pad>"),
                                        json_optional_string(config, "word_delimiter_token", where).value_or("|"),
                                        json_bool(config, "cleanup", true, where));
  }
  if (type == "Replace") {
    const Json& pattern = json_member(config, "pattern", where);
    const std::string content = json_string(config, "content", where);
    if (json_has(pattern, "String")) {
      return std::make_unique<ReplaceDecoder>(json_string(pattern, "String", where + ".pattern"), nullptr, content);
    }
    if (json_has(pattern, "Regex")) {
      return std::make_unique<ReplaceDecoder>(
          std::nullopt, std::make_unique<Regex>(json_string(pattern, "Regex", where + ".pattern")), content);
    }
    throw ConfigError(where + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::int64_t start = json_int(config, "start", 0, where);
    const std::int64_t stop = json_int(config, "stop", 0, where);
    if (start < 0 || stop < 0) throw ConfigError(where + ": start/stop must not be negative");
    return std::make_unique<StripDecoder>(single_char(json_string(config, "content", where), where + ".content"),
                                          static_cast<std::size_t>(start), static_cast<std::size_t>(stop));
  }
  if (type == "Sequence") {
    const Json& list = json_member(config, "decoders", where);
    if (!list.is_array()) throw ConfigError(where + ".decoders: expected an array");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.push_back(decoder_from_json(list[i], where + ".decoders[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type.empty()) throw ConfigError(where + ": decoder without \"type\"");
  throw ConfigError(where + ": unsupported decoder type '" + type + "'");
}

}  // namespace biaslab::runtime::tokenizers
