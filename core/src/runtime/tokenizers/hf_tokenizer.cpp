#include "runtime/tokenizers/hf_tokenizer.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "runtime/tokenizers/unicode.hpp"

namespace biaslab::runtime::tokenizers {

HfTokenizer::HfTokenizer(const Json& config, const std::string& source) {
  if (!config.is_object()) throw ConfigError(source + ": expected a JSON object");
  if (json_has(config, "version") && config.at("version") != "1.0") {
    throw ConfigError(source + ": unknown tokenizer.json version " + config.at("version").dump());
  }
  for (const char* key : {"truncation", "padding"}) {
    if (json_has(config, key)) spdlog::info("{}: '{}' settings are ignored", source, key);
  }
  model_ = model_from_json(json_member(config, "model", source), source + ": model");
  if (json_has(config, "normalizer")) normalizer_ = normalizer_from_json(config.at("normalizer"), source + ": normalizer");
  if (json_has(config, "pre_tokenizer")) {
    pre_tokenizer_ = pre_tokenizer_from_json(config.at("pre_tokenizer"), source + ": pre_tokenizer");
  }
  if (json_has(config, "post_processor")) {
    post_processor_ = post_processor_from_json(config.at("post_processor"), source + ": post_processor");
  }
  if (json_has(config, "decoder")) decoder_ = decoder_from_json(config.at("decoder"), source + ": decoder");

  std::vector<AddedToken> added;
  if (json_has(config, "added_tokens")) {
    const Json& list = config.at("added_tokens");
    if (!list.is_array()) throw ConfigError(source + ": added_tokens: expected an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string where = source + ": added_tokens[" + std::to_string(i) + "]";
      AddedToken token;
      token.content = json_string(list[i], "content", where);
      token.single_word = json_bool(list[i], "single_word", false, where);
      token.lstrip = json_bool(list[i], "lstrip", false, where);
      token.rstrip = json_bool(list[i], "rstrip", false, where);
      token.special = json_bool(list[i], "special", false, where);
      token.normalized = json_bool(list[i], "normalized", !token.special, where);
      if (json_has(list[i], "id")) {
        const auto declared = json_int(list[i], "id", 0, where);
        const auto actual = added_.token_to_id(token.content, *model_);
        if (actual && *actual != declared) {
          spdlog::warn("{}: token '{}' declared with id {} but has id {}", where, token.content, declared, *actual);
        }
      }
      added.push_back(std::move(token));
    }
  }
  added_.add_tokens(added, *model_, normalizer_.get());
}

Encoding HfTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (const auto bad = unicode::find_invalid_utf8(text); bad != std::string_view::npos) {
    throw std::invalid_argument("tokenizer " + name() + ": input is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  PreTokenizedString pretokenized = added_.extract_and_normalize(normalizer_.get(), text);
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pretokenized);
  pretokenized.tokenize([&](const NormalizedString& piece) { return model_->tokenize(piece.get()); });
  Encoding encoding = pretokenized.into_encoding();
  if (post_processor_) encoding = post_processor_->process(std::move(encoding), add_special_tokens);
  return encoding;
}

std::string HfTokenizer::decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const auto id : ids) {
    auto token = added_.id_to_token(id);
    if (!token) token = model_->id_to_token(id);
    if (!token) continue;
    if (skip_special_tokens && added_.is_special(*token)) continue;
    tokens.push_back(std::move(*token));
  }
  if (decoder_) return decoder_->decode(std::move(tokens));
  std::string joined;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) joined.push_back(' ');
    joined += tokens[i];
  }
  return joined;
}

std::optional<std::int64_t> HfTokenizer::token_to_id(std::string_view token) const {
  return added_.token_to_id(token, *model_);
}

std::optional<std::string> HfTokenizer::id_to_token(std::int64_t id) const {
  if (auto token = added_.id_to_token(id)) return token;
  return model_->id_to_token(id);
}

std::size_t HfTokenizer::vocab_size() const {
  std::size_t overlapping = 0;
  for (const auto& [content, id] : added_.contents()) overlapping += model_->token_to_id(content).has_value();
  return model_->vocab_size() + added_.contents().size() - overlapping;
}

}  // namespace biaslab::runtime::tokenizers
