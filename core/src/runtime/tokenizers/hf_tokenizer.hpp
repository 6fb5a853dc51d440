#pragma once
// The HF tokenizers pipeline behind tokenizer.json: added tokens -> normalizer -> pre-tokenizer
// -> model -> post-processor; decoder for decode().
#include <memory>
#include <string>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/added_vocabulary.hpp"
#include "runtime/tokenizers/decoders.hpp"
#include "runtime/tokenizers/json_util.hpp"
#include "runtime/tokenizers/models.hpp"
#include "runtime/tokenizers/normalizers.hpp"
#include "runtime/tokenizers/post_processors.hpp"
#include "runtime/tokenizers/pre_tokenizers.hpp"

namespace biaslab::runtime::tokenizers {

class HfTokenizer final : public Tokenizer {
 public:
  // `config` has the layout of tokenizer.json; `source` names it in error messages.
  HfTokenizer(const Json& config, const std::string& source);

  Encoding encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<std::int64_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<std::int64_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(std::int64_t id) const override;
  std::size_t vocab_size() const override;
  std::string model_type() const override { return model_->type(); }

  const Model& model() const { return *model_; }
  const AddedVocabulary& added_vocabulary() const { return added_; }

 private:
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
};

}  // namespace biaslab::runtime::tokenizers
