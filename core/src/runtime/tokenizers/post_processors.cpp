#include "runtime/tokenizers/post_processors.hpp"

#include <map>
#include <sstream>

#include "runtime/tokenizers/byte_level.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {
namespace {

struct SpecialToken {
  std::string token;
  std::int64_t id;
};

void append_special(Encoding& e, const std::vector<std::int64_t>& ids, const std::vector<std::string>& tokens) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    e.ids.push_back(ids[i]);
    e.tokens.push_back(i < tokens.size() ? tokens[i] : std::string());
    e.offsets.emplace_back(0, 0);
    e.special_tokens_mask.push_back(1);
  }
}

void append_encoding(Encoding& e, const Encoding& part) {
  e.ids.insert(e.ids.end(), part.ids.begin(), part.ids.end());
  e.tokens.insert(e.tokens.end(), part.tokens.begin(), part.tokens.end());
  e.offsets.insert(e.offsets.end(), part.offsets.begin(), part.offsets.end());
  e.special_tokens_mask.insert(e.special_tokens_mask.end(), part.special_tokens_mask.begin(),
                               part.special_tokens_mask.end());
}

Encoding wrap(const Encoding& encoding, const SpecialToken& first, const SpecialToken& last) {
  Encoding out;
  append_special(out, {first.id}, {first.token});
  append_encoding(out, encoding);
  append_special(out, {last.id}, {last.token});
  return out;
}

class ByteLevelProcessor final : public PostProcessor {
 public:
  ByteLevelProcessor(bool add_prefix_space, bool trim_offsets)
      : add_prefix_space_(add_prefix_space), trim_offsets_(trim_offsets) {}
  Encoding process(Encoding encoding, bool) const override {
    if (trim_offsets_) trim_byte_level_offsets(encoding, add_prefix_space_);
    return encoding;
  }

 private:
  bool add_prefix_space_, trim_offsets_;
};

class RobertaProcessor final : public PostProcessor {
 public:
  RobertaProcessor(SpecialToken sep, SpecialToken cls, bool trim_offsets, bool add_prefix_space)
      : sep_(std::move(sep)), cls_(std::move(cls)), trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  Encoding process(Encoding encoding, bool add_special_tokens) const override {
    if (trim_offsets_) trim_byte_level_offsets(encoding, add_prefix_space_);
    if (!add_special_tokens) return encoding;
    return wrap(encoding, cls_, sep_);
  }

 private:
  SpecialToken sep_, cls_;
  bool trim_offsets_, add_prefix_space_;
};

class BertProcessor final : public PostProcessor {
 public:
  BertProcessor(SpecialToken sep, SpecialToken cls) : sep_(std::move(sep)), cls_(std::move(cls)) {}
  Encoding process(Encoding encoding, bool add_special_tokens) const override {
    if (!add_special_tokens) return encoding;
    return wrap(encoding, cls_, sep_);
  }

 private:
  SpecialToken sep_, cls_;
};

struct TemplateSpecial {
  std::vector<std::int64_t> ids;
  std::vector<std::string> tokens;
};

class TemplateProcessor final : public PostProcessor {
 public:
  // `single`: piece list where an empty string stands for the sequence ($A).
  TemplateProcessor(std::vector<std::string> single, std::map<std::string, TemplateSpecial> specials)
      : single_(std::move(single)), specials_(std::move(specials)) {}
  Encoding process(Encoding encoding, bool add_special_tokens) const override {
    Encoding out;
    for (const auto& piece : single_) {
      if (piece.empty()) {
        append_encoding(out, encoding);
      } else if (add_special_tokens) {
        const auto& special = specials_.at(piece);
        append_special(out, special.ids, special.tokens);
      }
    }
    return out;
  }

 private:
  std::vector<std::string> single_;
  std::map<std::string, TemplateSpecial> specials_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  Encoding process(Encoding encoding, bool add_special_tokens) const override {
    for (const auto& step : steps_) encoding = step->process(std::move(encoding), add_special_tokens);
    return encoding;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

SpecialToken special_from_json(const Json& config, std::string_view key, const std::string& where) {
  const Json& value = json_member(config, key, where);
  const std::string at = where + "." + std::string(key);
  if (!value.is_array() || value.size() != 2 || !value[0].is_string() || !value[1].is_number_integer()) {
    throw ConfigError(at + ": expected [\"token\", id]");
  }
  return {value[0].get<std::string>(), value[1].get<std::int64_t>()};
}

// One template piece: {"Sequence": {"id": "A"}} -> "", {"SpecialToken": {"id": "[CLS]"}} -> "[CLS]".
std::string template_piece_from_json(const Json& piece, const std::string& where) {
  if (json_has(piece, "Sequence")) {
    const std::string id = json_string(piece.at("Sequence"), "id", where + ".Sequence");
    if (id != "A") throw ConfigError(where + ": single-sequence template refers to sequence '" + id + "'");
    return "";
  }
  if (json_has(piece, "SpecialToken")) return json_string(piece.at("SpecialToken"), "id", where + ".SpecialToken");
  throw ConfigError(where + ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
}

// String form "[CLS] $A [SEP]" / "<s> $0:1" (pieces separated by spaces, optional :type_id).
std::vector<std::string> template_from_string(const std::string& text, const std::string& where) {
  std::vector<std::string> pieces;
  std::istringstream in(text);
  std::string piece;
  while (in >> piece) {
    const auto colon = piece.rfind(':');
    std::string name = piece;
    if (colon != std::string::npos && colon + 1 < piece.size() &&
        piece.find_first_not_of("0123456789", colon + 1) == std::string::npos) {
      name = piece.substr(0, colon);
    }
    if (name == "$" || name == "$A" || name == "$0") {
      pieces.emplace_back();
    } else if (name == "$B" || name == "$1") {
      throw ConfigError(where + ": single-sequence template refers to the second sequence");
    } else {
      pieces.push_back(name);
    }
  }
  return pieces;
}

}  // namespace

void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space) {
  const char32_t space_char = byte_level::byte_to_char(' ');
  auto is_space = [&](char32_t c) { return c == space_char || unicode::is_whitespace(c); };
  for (std::size_t i = 0; i < encoding.tokens.size(); ++i) {
    const auto chars = unicode::to_utf32(encoding.tokens[i]);
    std::size_t leading = 0, trailing = 0;
    while (leading < chars.size() && is_space(chars[leading])) ++leading;
    while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
    auto& [start, end] = encoding.offsets[i];
    if (leading > 0) {
      const bool is_first = i == 0 || start == 0;
      // A single leading space on the first token was added by add_prefix_space: keep it.
      if (is_first && add_prefix_space && leading == 1) leading = 0;
      start = std::min(start + leading, end);
    }
    if (trailing > 0 && end >= trailing) end = std::max(end - trailing, start);
  }
}

std::unique_ptr<PostProcessor> post_processor_from_json(const Json& config, const std::string& where) {
  const std::string type = json_type(config);
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelProcessor>(json_bool(config, "add_prefix_space", true, where),
                                                json_bool(config, "trim_offsets", true, where));
  }
  if (type == "RobertaProcessing") {
    return std::make_unique<RobertaProcessor>(special_from_json(config, "sep", where),
                                              special_from_json(config, "cls", where),
                                              json_bool(config, "trim_offsets", true, where),
                                              json_bool(config, "add_prefix_space", true, where));
  }
  if (type == "BertProcessing") {
    return std::make_unique<BertProcessor>(special_from_json(config, "sep", where),
                                           special_from_json(config, "cls", where));
  }
  if (type == "TemplateProcessing") {
    std::map<std::string, TemplateSpecial> specials;
    if (json_has(config, "special_tokens")) {
      const Json& map = config.at("special_tokens");
      if (!map.is_object()) throw ConfigError(where + ".special_tokens: expected an object");
      for (auto it = map.begin(); it != map.end(); ++it) {
        const std::string at = where + ".special_tokens." + it.key();
        TemplateSpecial special;
        const Json& ids = json_member(it.value(), "ids", at);
        const Json& tokens = json_member(it.value(), "tokens", at);
        if (!ids.is_array() || !tokens.is_array() || ids.size() != tokens.size()) {
          throw ConfigError(at + ": 'ids' and 'tokens' must be arrays of equal length");
        }
        for (std::size_t k = 0; k < ids.size(); ++k) {
          if (!ids[k].is_number_integer() || !tokens[k].is_string()) throw ConfigError(at + ": bad id/token entry");
          special.ids.push_back(ids[k].get<std::int64_t>());
          special.tokens.push_back(tokens[k].get<std::string>());
        }
        const std::string name = json_has(it.value(), "id") ? json_string(it.value(), "id", at) : it.key();
        specials[name] = std::move(special);
      }
    }
    const Json& single = json_member(config, "single", where);
    std::vector<std::string> pieces;
    if (single.is_string()) {
      pieces = template_from_string(single.get<std::string>(), where + ".single");
    } else if (single.is_array()) {
      for (std::size_t i = 0; i < single.size(); ++i) {
        pieces.push_back(template_piece_from_json(single[i], where + ".single[" + std::to_string(i) + "]"));
      }
    } else {
      throw ConfigError(where + ".single: expected a list of pieces or a template string");
    }
    for (const auto& p : pieces) {
      if (!p.empty() && !specials.count(p)) {
        throw ConfigError(where + ": template uses special token '" + p + "' missing from special_tokens");
      }
    }
    return std::make_unique<TemplateProcessor>(std::move(pieces), std::move(specials));
  }
  if (type == "Sequence") {
    const Json& list = json_member(config, "processors", where);
    if (!list.is_array()) throw ConfigError(where + ".processors: expected an array");
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.push_back(post_processor_from_json(list[i], where + ".processors[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequenceProcessor>(std::move(steps));
  }
  if (type.empty()) throw ConfigError(where + ": post-processor without \"type\"");
  throw ConfigError(where + ": unsupported post-processor type '" + type + "'");
}

}  // namespace biaslab::runtime::tokenizers
