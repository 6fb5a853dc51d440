#pragma once
// Tokenizers a training run can make without any files: a byte-level tokenizer (every byte one
// token, GPT-2's byte-to-unicode alphabet) and a small byte-level BPE trained on the corpus. Both
// are written as HF tokenizer.json (+ tokenizer_config.json, special_tokens_map.json), which HF
// transformers (PreTrainedTokenizerFast) and biaslab::runtime::load_tokenizer() read.
//
// Ids: the special tokens first, then the 256 bytes in byte order, then one id per merge result.
//   causal flavour: <|endoftext|> = 0 (bos, eos, unk), <|padding|> = 1 (pad), as GPT-NeoX;
//   masked flavour: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, with a [CLS] $A [SEP] template.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::runtime::train {

enum class TokenizerFlavor { causal, masked };

struct BpeMerge {
  std::string left, right;  // byte-level strings (GPT-2 alphabet), as in tokenizer.json "merges"
};

// GPT-2's reversible byte -> printable unicode character map (UTF-8 encoded), e.g. ' ' -> "Ġ".
BIASLAB_API const std::string& byte_level_symbol(unsigned char byte);

struct BpeTrainerOptions {
  std::size_t vocab_size = 512;      // total, special tokens and the 256 bytes included
  std::int64_t min_frequency = 2;    // a pair must occur this often to be merged
  std::size_t max_training_bytes = 16u << 20;  // texts beyond this many bytes are not read
};

// Learns merges on `texts` (pre-tokenized with GPT-2's regex, as the ByteLevel pre-tokenizer
// does). Deterministic: the most frequent pair wins, ties go to the pair whose (left id, right
// id) is smallest, ids numbered as above. Not HF's trainer: the merges can differ from what
// `tokenizers` would learn on the same text, but the result is an ordinary BPE tokenizer.
BIASLAB_API std::vector<BpeMerge> train_byte_level_bpe(const std::vector<std::string>& texts,
                                                       TokenizerFlavor flavor, const BpeTrainerOptions& options = {});

// Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into dir (created).
// Without merges this is the plain byte-level tokenizer.
BIASLAB_API void write_byte_level_tokenizer(const std::filesystem::path& dir, TokenizerFlavor flavor,
                                            const std::vector<BpeMerge>& merges = {},
                                            std::int64_t model_max_length = 2048);

// Number of special tokens of a flavour (2 or 5).
BIASLAB_API std::size_t special_token_count(TokenizerFlavor flavor);

// Copies the tokenizer files of an HF model directory or tokenizer folder (tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt, vocab.txt, ...) into
// dir; `source` may also name a tokenizer.json file. Throws if nothing was found.
BIASLAB_API void copy_tokenizer_files(const std::filesystem::path& source, const std::filesystem::path& dir);

}  // namespace biaslab::runtime::train
