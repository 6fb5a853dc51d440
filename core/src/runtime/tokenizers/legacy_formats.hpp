#pragma once
// Older tokenizer file formats, converted into the tokenizer.json layout that transformers'
// slow->fast converters (GPT2Converter, RobertaConverter, BertConverter) would produce, so that
// they run through the same HfTokenizer pipeline.
#include <filesystem>

#include "runtime/tokenizers/json_util.hpp"

namespace biaslab::runtime::tokenizers {

// vocab.json + merges.txt. `roberta`: RoBERTa-family template (<s> ... </s>, <mask> with lstrip).
// `tokenizer_config`: tokenizer_config.json merged with special_tokens_map.json ({} if absent).
Json byte_level_bpe_tokenizer_json(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                                   const Json& tokenizer_config, bool roberta);

// vocab.txt (one token per line, id = line number): BERT WordPiece.
Json bert_wordpiece_tokenizer_json(const std::filesystem::path& vocab_txt, const Json& tokenizer_config);

}  // namespace biaslab::runtime::tokenizers
