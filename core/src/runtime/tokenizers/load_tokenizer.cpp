// load_tokenizer(): picks the tokenizer files of a model directory (or a single file) and the
// special tokens from tokenizer_config.json / special_tokens_map.json.
#include <algorithm>
#include <array>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/hf_tokenizer.hpp"
#include "runtime/tokenizers/json_util.hpp"
#include "runtime/tokenizers/legacy_formats.hpp"
#include "runtime/tokenizers/sentencepiece_tokenizer.hpp"

namespace biaslab::runtime {
namespace {
namespace fs = std::filesystem;
using tokenizers::ConfigError;
using tokenizers::Json;
using tokenizers::json_has;
using tokenizers::json_token_content;

Json read_optional_json(const fs::path& path) {
  if (!fs::is_regular_file(path)) return Json::object();
  Json json = tokenizers::read_json_file(path);
  if (!json.is_object()) throw ConfigError(path.string() + ": expected a JSON object");
  return json;
}

// tokenizer_config.json, completed by special_tokens_map.json for keys it lacks.
Json tokenizer_config_of(const fs::path& dir) {
  Json config = read_optional_json(dir / "tokenizer_config.json");
  const Json special_map = read_optional_json(dir / "special_tokens_map.json");
  for (auto it = special_map.begin(); it != special_map.end(); ++it) {
    if (!json_has(config, it.key())) config[it.key()] = it.value();
  }
  return config;
}

bool is_roberta_family(const Json& tokenizer_config, const Json& model_config) {
  static const std::array<std::string_view, 5> kClasses = {"Roberta", "Bart", "Longformer", "LED", "Mvp"};
  if (json_has(tokenizer_config, "tokenizer_class") && tokenizer_config.at("tokenizer_class").is_string()) {
    const std::string cls = tokenizer_config.at("tokenizer_class").get<std::string>();
    for (const auto prefix : kClasses) {
      if (cls.rfind(prefix, 0) == 0 && cls.find("Tokenizer") != std::string::npos) return true;
    }
  }
  if (json_has(model_config, "model_type") && model_config.at("model_type").is_string()) {
    const std::string type = model_config.at("model_type").get<std::string>();
    return type == "roberta" || type == "bart" || type == "longformer" || type == "led" || type == "mvp";
  }
  return false;
}

void fill_from_config(SpecialTokenIds& ids, const Tokenizer& tokenizer, const Json& config) {
  const std::array<std::pair<const char*, std::optional<std::int64_t>*>, 7> slots = {{
      {"bos_token", &ids.bos},
      {"eos_token", &ids.eos},
      {"pad_token", &ids.pad},
      {"unk_token", &ids.unk},
      {"mask_token", &ids.mask},
      {"cls_token", &ids.cls},
      {"sep_token", &ids.sep},
  }};
  for (const auto& [key, slot] : slots) {
    if (!json_has(config, key)) continue;
    if (const auto content = json_token_content(config.at(key))) {
      if (const auto id = tokenizer.token_to_id(*content)) *slot = id;
    }
  }
}

// Defaults from tokenizer.json itself when the configuration does not name the tokens.
void fill_from_tokenizer_json(SpecialTokenIds& ids, const Tokenizer& tokenizer, const Json& tokenizer_json) {
  if (!ids.unk && json_has(tokenizer_json, "model") && json_has(tokenizer_json.at("model"), "unk_token")) {
    if (const auto unk = json_token_content(tokenizer_json.at("model").at("unk_token"))) ids.unk = tokenizer.token_to_id(*unk);
  }
  if (!json_has(tokenizer_json, "post_processor")) return;
  const Json& processor = tokenizer_json.at("post_processor");
  const std::string type = tokenizers::json_type(processor);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    auto id_of = [&](const char* key) -> std::optional<std::int64_t> {
      const Json& pair = processor.at(key);
      if (pair.is_array() && pair.size() == 2 && pair[1].is_number_integer()) return pair[1].get<std::int64_t>();
      return std::nullopt;
    };
    if (!ids.cls) ids.cls = id_of("cls");
    if (!ids.sep) ids.sep = id_of("sep");
  }
}

std::unique_ptr<Tokenizer> load_hf_json(const Json& tokenizer_json, const std::string& name, const Json& config) {
  auto tokenizer = std::make_unique<tokenizers::HfTokenizer>(tokenizer_json, name);
  SpecialTokenIds ids;
  fill_from_config(ids, *tokenizer, config);
  fill_from_tokenizer_json(ids, *tokenizer, tokenizer_json);
  tokenizer->set_special_ids(ids);
  tokenizer->set_name(name);
  return tokenizer;
}

// `config` completed with the special-token names the legacy converters assume by default.
Json with_default_tokens(Json config, const Json& defaults) {
  for (auto it = defaults.begin(); it != defaults.end(); ++it) {
    if (!json_has(config, it.key())) config[it.key()] = it.value();
  }
  return config;
}

std::string display_name(const fs::path& file) {
  const auto parent = file.parent_path().filename().string();
  return parent.empty() ? file.filename().string() : parent + "/" + file.filename().string();
}

std::unique_ptr<Tokenizer> load_file(const fs::path& file) {
  const fs::path dir = file.parent_path();
  const std::string filename = file.filename().string();
  const Json config = tokenizer_config_of(dir);
  const std::string name = display_name(file);
  if (filename == "vocab.json") {
    const fs::path merges = dir / "merges.txt";
    if (!fs::is_regular_file(merges)) throw ConfigError(file.string() + ": merges.txt is missing next to it");
    const bool roberta = is_roberta_family(config, read_optional_json(dir / "config.json"));
    const Json defaults = roberta ? Json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"cls_token", "<s>"},
                                         {"sep_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"},
                                         {"mask_token", "<mask>"}}
                                  : Json{{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"},
                                         {"unk_token", "<|endoftext|>"}};
    return load_hf_json(tokenizers::byte_level_bpe_tokenizer_json(file, merges, config, roberta), name,
                        with_default_tokens(config, defaults));
  }
  if (filename == "vocab.txt") {
    const Json defaults = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                           {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
    return load_hf_json(tokenizers::bert_wordpiece_tokenizer_json(file, config), name,
                        with_default_tokens(config, defaults));
  }
  if (file.extension() == ".model") {
    const bool add_bos = tokenizers::json_bool(config, "add_bos_token", true, "tokenizer_config.json");
    const bool add_eos = tokenizers::json_bool(config, "add_eos_token", false, "tokenizer_config.json");
    auto tokenizer = std::make_unique<tokenizers::SentencePieceTokenizer>(file, add_bos, add_eos);
    SpecialTokenIds ids;
    fill_from_config(ids, *tokenizer, config);
    const SpecialTokenIds own = tokenizer->processor_special_ids();
    if (!ids.bos) ids.bos = own.bos;
    if (!ids.eos) ids.eos = own.eos;
    if (!ids.pad) ids.pad = own.pad;
    if (!ids.unk) ids.unk = own.unk;
    tokenizer->set_special_ids(ids);
    tokenizer->set_name(name);
    return tokenizer;
  }
  if (file.extension() == ".json") {
    return load_hf_json(tokenizers::read_json_file(file), name, config);
  }
  throw ConfigError(file.string() + ": not a tokenizer file (expected tokenizer.json, vocab.json, vocab.txt or *.model)");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  if (fs::is_directory(path)) {
    if (fs::is_regular_file(path / "tokenizer.json")) return load_file(path / "tokenizer.json");
    if (fs::is_regular_file(path / "vocab.json") && fs::is_regular_file(path / "merges.txt")) {
      return load_file(path / "vocab.json");
    }
    if (fs::is_regular_file(path / "vocab.txt")) return load_file(path / "vocab.txt");
    if (fs::is_regular_file(path / "tokenizer.model")) return load_file(path / "tokenizer.model");
    throw ConfigError(path.string() +
                      ": no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, vocab.txt, tokenizer.model)");
  }
  if (!fs::is_regular_file(path)) throw ConfigError(path.string() + ": no such file or directory");
  return load_file(path);
}

}  // namespace biaslab::runtime
