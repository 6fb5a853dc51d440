#pragma once
// Post-processors of tokenizer.json ("post_processor" key) for single sequences:
// TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel (offset trimming), Sequence.
#include <memory>
#include <string>

#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/json_util.hpp"

namespace biaslab::runtime::tokenizers {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual Encoding process(Encoding encoding, bool add_special_tokens) const = 0;
};

std::unique_ptr<PostProcessor> post_processor_from_json(const Json& config, const std::string& where);

// HF's ByteLevel offset trimming (also used by RobertaProcessing): leading/trailing spaces of a
// token ('Ġ' or whitespace) are excluded from its offsets.
void trim_byte_level_offsets(Encoding& encoding, bool add_prefix_space);

}  // namespace biaslab::runtime::tokenizers
