#pragma once
// Tokenizers of the model runtime. They reproduce HuggingFace `tokenizers` (the Rust library
// behind transformers' fast tokenizers) token for token: same ids, same token strings and the
// same offsets as the Rust/npm API reports them, i.e. BYTE offsets into the UTF-8 input (Python
// `tokenizers` converts them to character offsets; we do not).
//
// Supported inputs (load_tokenizer):
//   * tokenizer.json (HF format): models BPE (incl. byte_fallback, ignore_merges), WordPiece,
//     WordLevel; the usual normalizers, pre-tokenizers, post-processors and decoders;
//   * vocab.json + merges.txt (GPT-2 / RoBERTa byte-level BPE, as transformers converts them);
//   * vocab.txt (BERT WordPiece, as transformers converts it);
//   * tokenizer.model (SentencePiece, Llama-2/Mistral style: BOS added).
// Only single sequences are encoded (no pairs); truncation and padding settings stored in a
// tokenizer.json are ignored (callers handle lengths).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "biaslab/export.hpp"

namespace biaslab::runtime {

struct BIASLAB_API Encoding {
  std::vector<std::int64_t> ids;
  std::vector<std::string> tokens;  // vocabulary strings (e.g. "Ġworld", "##ing", "▁the")
  // [start, end) byte offsets into the encoded UTF-8 string; (0, 0) for added special tokens.
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  // 1 for tokens inserted by the post-processor (e.g. [CLS], <s>), 0 otherwise -- also 0 for a
  // special token that was written in the input text, as in HF.
  std::vector<std::int64_t> special_tokens_mask;

  std::size_t size() const { return ids.size(); }
};

// Special-token ids a tokenizer knows about (from its configuration); unset when it has none.
struct BIASLAB_API SpecialTokenIds {
  std::optional<std::int64_t> bos, eos, pad, unk, mask, cls, sep;
};

class BIASLAB_API Tokenizer {
 public:
  virtual ~Tokenizer();

  // `text` must be valid UTF-8 (std::invalid_argument otherwise, naming the byte offset).
  // add_special_tokens: apply the post-processor template (BOS/CLS/SEP...).
  virtual Encoding encode(std::string_view text, bool add_special_tokens = true) const = 0;
  // Encodes independent texts, in parallel when worthwhile; same results as encode().
  virtual std::vector<Encoding> encode_batch(const std::vector<std::string>& texts,
                                             bool add_special_tokens = true) const;
  // HF tokenizers' decode (the tokenizer's decoder; no transformers-level
  // clean_up_tokenization_spaces). Unknown ids are skipped.
  virtual std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = false) const = 0;

  virtual std::optional<std::int64_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::string> id_to_token(std::int64_t id) const = 0;
  // Vocabulary size including added tokens (= len(tokenizer) in transformers).
  virtual std::size_t vocab_size() const = 0;

  const SpecialTokenIds& special_ids() const { return special_ids_; }
  std::optional<std::int64_t> bos_id() const { return special_ids_.bos; }
  std::optional<std::int64_t> eos_id() const { return special_ids_.eos; }
  std::optional<std::int64_t> pad_id() const { return special_ids_.pad; }
  std::optional<std::int64_t> unk_id() const { return special_ids_.unk; }
  std::optional<std::int64_t> mask_id() const { return special_ids_.mask; }
  std::optional<std::int64_t> cls_id() const { return special_ids_.cls; }
  std::optional<std::int64_t> sep_id() const { return special_ids_.sep; }

  // Model kind: "BPE", "WordPiece", "WordLevel" or "SentencePiece".
  virtual std::string model_type() const = 0;
  // Where it was loaded from, e.g. "roberta-base/tokenizer.json".
  const std::string& name() const { return name_; }

  void set_special_ids(const SpecialTokenIds& ids) { special_ids_ = ids; }
  void set_name(std::string name) { name_ = std::move(name); }

 private:
  SpecialTokenIds special_ids_;
  std::string name_;
};

// `path` is a model directory or a tokenizer file. In a directory the first of tokenizer.json,
// vocab.json + merges.txt, vocab.txt, tokenizer.model is used; tokenizer_config.json and
// special_tokens_map.json next to it supply special tokens and options (do_lower_case,
// add_prefix_space, add_bos_token, ...). Throws std::runtime_error naming the file on errors.
BIASLAB_API std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

}  // namespace biaslab::runtime
