#pragma once
// tokenizer.model files through libsentencepiece, Llama-2/Mistral style: BOS prepended (and EOS
// appended if configured) when special tokens are requested. libsentencepiece is reached through
// the libbiaslab_sentencepiece shim (sentencepiece_shim_api.h), loaded on first use.
#include <filesystem>
#include <memory>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"

struct biaslab_spm_api;

namespace biaslab::runtime::tokenizers {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(const std::filesystem::path& model_file, bool add_bos, bool add_eos);
  ~SentencePieceTokenizer() override;

  Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<std::int64_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(std::int64_t id) const override;
  std::size_t vocab_size() const override;
  std::string model_type() const override { return "SentencePiece"; }

  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  // Ids the processor reports (-1 when disabled in the model), as SpecialTokenIds.
  SpecialTokenIds processor_special_ids() const;

 private:
  const biaslab_spm_api* api_;
  void* processor_;
  bool add_bos_;
  bool add_eos_;
};

}  // namespace biaslab::runtime::tokenizers
