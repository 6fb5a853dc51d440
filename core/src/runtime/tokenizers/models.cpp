#include "runtime/tokenizers/models.hpp"

#include <spdlog/spdlog.h>

namespace biaslab::runtime::tokenizers {

Vocab vocab_from_json(const Json& object, const std::string& where) {
  if (!object.is_object()) throw ConfigError(where + ": expected an object {token: id}");
  Vocab vocab;
  vocab.reserve(object.size());
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 0) {
      throw ConfigError(where + ": id of token '" + it.key() + "' is not a non-negative integer");
    }
    vocab[it.key()] = it.value().get<std::int64_t>();
  }
  return vocab;
}

std::vector<std::pair<std::string, std::string>> merges_from_json(const Json& list, const std::string& where) {
  if (!list.is_array()) throw ConfigError(where + ": expected an array of merges");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& entry = list[i];
    if (entry.is_string()) {
      const std::string line = entry.get<std::string>();
      if (line.rfind("#version", 0) == 0) continue;  // HF skips merges.txt headers here too
      const auto space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        throw ConfigError(where + "[" + std::to_string(i) + "]: merge '" + line + "' is not two tokens separated by one space");
      }
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      merges.emplace_back(entry[0].get<std::string>(), entry[1].get<std::string>());
    } else {
      throw ConfigError(where + "[" + std::to_string(i) + "]: expected \"a b\" or [\"a\", \"b\"]");
    }
  }
  return merges;
}

std::unique_ptr<Model> model_from_json(const Json& config, const std::string& where) {
  if (!config.is_object()) throw ConfigError(where + ": expected an object");
  std::string type = json_type(config);
  if (type.empty()) {
    if (json_has(config, "merges")) {
      type = "BPE";
    } else if (json_has(config, "continuing_subword_prefix") && json_has(config, "max_input_chars_per_word")) {
      type = "WordPiece";
    } else if (json_has(config, "vocab") && config.at("vocab").is_array()) {
      type = "Unigram";
    } else {
      type = "WordLevel";
    }
  }
  if (type == "BPE") {
    if (json_has(config, "dropout") && config.at("dropout").is_number() && config.at("dropout").get<double>() > 0.0) {
      // Dropout makes encodings random; a tokenizer used for evaluation must be deterministic.
      spdlog::warn("{}: BPE dropout {} is ignored (encodings are deterministic)", where,
                   config.at("dropout").get<double>());
    }
    BpeOptions options;
    options.unk_token = json_optional_string(config, "unk_token", where);
    options.continuing_subword_prefix = json_optional_string(config, "continuing_subword_prefix", where);
    options.end_of_word_suffix = json_optional_string(config, "end_of_word_suffix", where);
    options.fuse_unk = json_bool(config, "fuse_unk", false, where);
    options.byte_fallback = json_bool(config, "byte_fallback", false, where);
    options.ignore_merges = json_bool(config, "ignore_merges", false, where);
    return make_bpe_model(vocab_from_json(json_member(config, "vocab", where), where + ".vocab"),
                          merges_from_json(json_member(config, "merges", where), where + ".merges"), std::move(options),
                          where);
  }
  if (type == "WordPiece") {
    const std::int64_t max_chars = json_int(config, "max_input_chars_per_word", 100, where);
    if (max_chars < 0) throw ConfigError(where + ".max_input_chars_per_word: must not be negative");
    return make_wordpiece_model(vocab_from_json(json_member(config, "vocab", where), where + ".vocab"),
                                json_optional_string(config, "unk_token", where).value_or("[UNK]"),
                                json_optional_string(config, "continuing_subword_prefix", where).value_or("##"),
                                static_cast<std::size_t>(max_chars));
  }
  if (type == "WordLevel") {
    return make_wordlevel_model(vocab_from_json(json_member(config, "vocab", where), where + ".vocab"),
                                json_optional_string(config, "unk_token", where).value_or("<unk>"));
  }
  throw ConfigError(where + ": unsupported model type '" + type + "'");
}

}  // namespace biaslab::runtime::tokenizers
