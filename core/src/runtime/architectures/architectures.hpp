#pragma once
// One factory per architecture family; load_model() dispatches on ModelConfig::architecture.
#include <memory>

#include "../transformer_model.hpp"

namespace biaslab::runtime::detail {

std::unique_ptr<TransformerModel> make_gpt_neox(ModelConfig config);
std::unique_ptr<TransformerModel> make_gpt2(ModelConfig config);
std::unique_ptr<TransformerModel> make_bert(ModelConfig config);        // bert, roberta
std::unique_ptr<TransformerModel> make_distilbert(ModelConfig config);
std::unique_ptr<TransformerModel> make_llama(ModelConfig config);       // llama, qwen2, mistral

}  // namespace biaslab::runtime::detail
