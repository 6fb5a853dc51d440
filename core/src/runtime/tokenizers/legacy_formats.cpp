#include "runtime/tokenizers/legacy_formats.hpp"

#include <fstream>
#include <map>
#include <tuple>
#include <vector>

namespace biaslab::runtime::tokenizers {
namespace {

std::string config_token(const Json& config, const char* key, const std::string& fallback) {
  if (json_has(config, key)) {
    if (auto content = json_token_content(config.at(key))) return *content;
  }
  return fallback;
}

Json added_token(const std::string& content, std::int64_t id, bool lstrip, bool normalized) {
  return Json{{"id", id},           {"content", content}, {"single_word", false}, {"lstrip", lstrip},
              {"rstrip", false},    {"normalized", normalized}, {"special", true}};
}

// Added tokens sorted by id; names missing from the vocabulary get ids after it, in order.
Json added_tokens_json(const std::vector<std::tuple<std::string, bool, bool>>& specials, const Json& vocab) {
  std::map<std::int64_t, Json> by_id;
  std::int64_t next_id = static_cast<std::int64_t>(vocab.size());
  for (const auto& [content, lstrip, normalized] : specials) {
    bool seen = false;
    for (const auto& [id, entry] : by_id) seen |= entry.at("content") == content;
    if (seen || content.empty()) continue;
    const auto it = vocab.find(content);
    const std::int64_t id = it != vocab.end() ? it->get<std::int64_t>() : next_id++;
    by_id[id] = added_token(content, id, lstrip, normalized);
  }
  Json list = Json::array();
  for (auto& [id, entry] : by_id) list.push_back(std::move(entry));
  return list;
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot open " + path.string());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

std::int64_t vocab_id(const Json& vocab, const std::string& token, const std::filesystem::path& file) {
  const auto it = vocab.find(token);
  if (it == vocab.end()) throw ConfigError(file.string() + ": special token '" + token + "' is not in the vocabulary");
  return it->get<std::int64_t>();
}

}  // namespace

Json byte_level_bpe_tokenizer_json(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                                   const Json& config, bool roberta) {
  Json vocab = read_json_file(vocab_json);
  if (!vocab.is_object()) throw ConfigError(vocab_json.string() + ": expected an object {token: id}");
  Json merges = Json::array();
  const auto lines = read_lines(merges_txt);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
      throw ConfigError(merges_txt.string() + ":" + std::to_string(i + 1) + ": expected two tokens separated by a space");
    }
    merges.push_back(line);
  }
  const bool add_prefix_space = json_bool(config, "add_prefix_space", false, "tokenizer_config.json");

  Json tokenizer;
  tokenizer["version"] = "1.0";
  tokenizer["normalizer"] = nullptr;
  tokenizer["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true},
                                {"use_regex", true}};
  tokenizer["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}};
  tokenizer["model"] = {{"type", "BPE"},
                        {"dropout", nullptr},
                        {"unk_token", nullptr},
                        {"continuing_subword_prefix", ""},
                        {"end_of_word_suffix", ""},
                        {"fuse_unk", false},
                        {"vocab", vocab},
                        {"merges", std::move(merges)}};
  if (roberta) {
    const std::string bos = config_token(config, "bos_token", "<s>");
    const std::string eos = config_token(config, "eos_token", "</s>");
    const std::string cls = config_token(config, "cls_token", bos);
    const std::string sep = config_token(config, "sep_token", eos);
    const std::string mask = config_token(config, "mask_token", "<mask>");
    tokenizer["added_tokens"] = added_tokens_json({{bos, false, true},
                                                   {config_token(config, "pad_token", "<pad>"), false, true},
                                                   {eos, false, true},
                                                   {config_token(config, "unk_token", "<unk>"), false, true},
                                                   {cls, false, true},
                                                   {sep, false, true},
                                                   {mask, true, false}},
                                                  vocab);
    tokenizer["post_processor"] = {{"type", "RobertaProcessing"},
                                   {"sep", Json::array({sep, vocab_id(vocab, sep, vocab_json)})},
                                   {"cls", Json::array({cls, vocab_id(vocab, cls, vocab_json)})},
                                   {"trim_offsets", json_bool(config, "trim_offsets", true, "tokenizer_config.json")},
                                   {"add_prefix_space", add_prefix_space}};
  } else {
    std::vector<std::tuple<std::string, bool, bool>> specials;
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (json_has(config, key)) specials.emplace_back(config_token(config, key, ""), false, true);
    }
    // GPT-2's slow tokenizer defaults every special token to <|endoftext|>.
    if (specials.empty() && vocab.contains("<|endoftext|>")) specials.emplace_back("<|endoftext|>", false, true);
    tokenizer["added_tokens"] = added_tokens_json(specials, vocab);
    if (json_bool(config, "add_bos_token", false, "tokenizer_config.json")) {
      const std::string bos = config_token(config, "bos_token", "<|endoftext|>");
      tokenizer["post_processor"] = {
          {"type", "TemplateProcessing"},
          {"single", Json::array({Json{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                  Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", Json::array({vocab_id(vocab, bos, vocab_json)})}, {"tokens", Json::array({bos})}}}}}};
    } else {
      tokenizer["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}};
    }
  }
  return tokenizer;
}

Json bert_wordpiece_tokenizer_json(const std::filesystem::path& vocab_txt, const Json& config) {
  Json vocab = Json::object();
  const auto lines = read_lines(vocab_txt);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string token = lines[i];
    // HF reads vocab.txt with trim_end(): trailing whitespace is not part of a token.
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\r' ||
                              token.back() == '\n' || token.back() == '\f' || token.back() == '\v')) {
      token.pop_back();
    }
    vocab[token] = static_cast<std::int64_t>(i);
  }
  const std::string where = "tokenizer_config.json";
  const std::string unk = config_token(config, "unk_token", "[UNK]");
  const std::string sep = config_token(config, "sep_token", "[SEP]");
  const std::string pad = config_token(config, "pad_token", "[PAD]");
  const std::string cls = config_token(config, "cls_token", "[CLS]");
  const std::string mask = config_token(config, "mask_token", "[MASK]");

  Json tokenizer;
  tokenizer["version"] = "1.0";
  tokenizer["added_tokens"] = added_tokens_json(
      {{pad, false, false}, {unk, false, false}, {cls, false, false}, {sep, false, false}, {mask, false, false}}, vocab);
  Json normalizer = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", json_bool(config, "tokenize_chinese_chars", true, where)},
                     {"strip_accents", nullptr},
                     {"lowercase", json_bool(config, "do_lower_case", true, where)}};
  if (json_has(config, "strip_accents")) normalizer["strip_accents"] = json_bool(config, "strip_accents", false, where);
  tokenizer["normalizer"] = std::move(normalizer);
  tokenizer["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  tokenizer["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({Json{{"SpecialToken", {{"id", cls}, {"type_id", 0}}}},
                              Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                              Json{{"SpecialToken", {{"id", sep}, {"type_id", 0}}}}})},
      {"special_tokens",
       {{cls, {{"id", cls}, {"ids", Json::array({vocab_id(vocab, cls, vocab_txt)})}, {"tokens", Json::array({cls})}}},
        {sep, {{"id", sep}, {"ids", Json::array({vocab_id(vocab, sep, vocab_txt)})}, {"tokens", Json::array({sep})}}}}}};
  tokenizer["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
  tokenizer["model"] = {{"type", "WordPiece"},
                        {"unk_token", unk},
                        {"continuing_subword_prefix", "##"},
                        {"max_input_chars_per_word", 100},
                        {"vocab", std::move(vocab)}};
  return tokenizer;
}

}  // namespace biaslab::runtime::tokenizers
