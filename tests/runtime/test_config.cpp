// config.json resolution: HF defaults for absent fields (values from transformers'
// configuration_*.py), architecture detection, and clear errors.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/model_config.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
using nlohmann::json;

namespace {

std::string error_of(const json& j) {
  try {
    ModelConfig::from_json(j, "cfg.json");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_config)

BOOST_AUTO_TEST_CASE(hf_defaults_for_absent_fields) {
  auto gpt2 = ModelConfig::from_json({{"model_type", "gpt2"}});
  BOOST_TEST(gpt2.vocab_size == 50257);
  BOOST_TEST(gpt2.hidden_size == 768);
  BOOST_TEST(gpt2.num_layers == 12);
  BOOST_TEST(gpt2.intermediate_size == 4 * 768);  // n_inner None
  BOOST_TEST(gpt2.max_position_embeddings == 1024);
  BOOST_TEST(gpt2.hidden_act == "gelu_new");
  BOOST_TEST(gpt2.norm_eps == 1e-5);
  BOOST_TEST(gpt2.tie_word_embeddings);
  BOOST_TEST(*gpt2.bos_token_id == 50256);

  auto neox = ModelConfig::from_json({{"model_type", "gpt_neox"}, {"hidden_size", 64}, {"num_attention_heads", 4}});
  BOOST_TEST(neox.rotary_fraction == 0.25);
  BOOST_TEST(neox.rope_theta == 10000.0);
  BOOST_TEST(neox.use_parallel_residual);
  BOOST_TEST(!neox.tie_word_embeddings);
  BOOST_TEST(neox.qkv_bias);
  BOOST_TEST(neox.vocab_size == 50432);
  BOOST_TEST(neox.head_dim == 16);

  auto bert = ModelConfig::from_json({{"model_type", "bert"}});
  BOOST_TEST(bert.norm_eps == 1e-12);
  BOOST_TEST(bert.type_vocab_size == 2);
  BOOST_TEST(*bert.pad_token_id == 0);
  auto roberta = ModelConfig::from_json({{"model_type", "roberta"}});
  BOOST_TEST(*roberta.pad_token_id == 1);
  BOOST_TEST(roberta.max_position_embeddings == 512);

  auto distil = ModelConfig::from_json({{"model_type", "distilbert"}});
  BOOST_TEST(distil.hidden_size == 768);
  BOOST_TEST(distil.intermediate_size == 3072);
  BOOST_TEST(distil.num_layers == 6);
  BOOST_TEST(distil.hidden_act == "gelu");

  auto llama = ModelConfig::from_json({{"model_type", "llama"}, {"num_attention_heads", 8}});
  BOOST_TEST(llama.num_kv_heads == 8);  // None -> num_attention_heads
  BOOST_TEST(llama.norm_eps == 1e-6);
  BOOST_TEST(llama.max_position_embeddings == 2048);
  BOOST_TEST(llama.vocab_size == 32000);
  BOOST_TEST(!llama.tie_word_embeddings);
  BOOST_TEST(llama.intermediate_size == 11008);
}

BOOST_AUTO_TEST_CASE(llama_family_differences) {
  auto qwen = ModelConfig::from_json({{"model_type", "qwen2"}, {"hidden_size", 64}, {"num_attention_heads", 4},
                                      {"num_key_value_heads", 2}});
  BOOST_TEST(qwen.qkv_bias);
  BOOST_TEST(!qwen.attention_output_bias);
  BOOST_TEST(!qwen.sliding_window.has_value());  // use_sliding_window false by default
  BOOST_TEST(qwen.vocab_size == 151936);
  auto mistral = ModelConfig::from_json({{"model_type", "mistral"}, {"hidden_size", 64}, {"num_attention_heads", 8}});
  BOOST_TEST(mistral.num_kv_heads == 8);
  BOOST_TEST(*mistral.sliding_window == 4096);
  BOOST_TEST(!mistral.qkv_bias);
  auto no_window = ModelConfig::from_json({{"model_type", "mistral"}, {"sliding_window", nullptr},
                                           {"hidden_size", 64}, {"num_attention_heads", 8}});
  BOOST_TEST(!no_window.sliding_window.has_value());
  auto llama3 = ModelConfig::from_json(
      {{"model_type", "llama"}, {"hidden_size", 64}, {"num_attention_heads", 4}, {"head_dim", 32},
       {"eos_token_id", {128001, 128009}},
       {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}}});
  BOOST_TEST(llama3.rope_scaling.type == "llama3");
  BOOST_TEST(llama3.rope_scaling.original_max_position_embeddings == 8192);
  BOOST_TEST(llama3.head_dim == 32);
  BOOST_TEST(*llama3.eos_token_id == 128001);
  auto old_style = ModelConfig::from_json({{"model_type", "llama"}, {"rope_scaling", {{"type", "linear"}, {"factor", 2}}}});
  BOOST_TEST(old_style.rope_scaling.type == "linear");
  BOOST_TEST(old_style.rope_scaling.factor == 2.0);
}

BOOST_AUTO_TEST_CASE(architecture_from_class_name) {
  auto c = ModelConfig::from_json({{"architectures", {"RobertaForMaskedLM"}}});
  BOOST_TEST((c.architecture == Architecture::roberta));
  BOOST_TEST(hf_class_name(c.architecture) == "RobertaForMaskedLM");
  BOOST_TEST(!is_causal(c.architecture));
  auto fixture = ModelConfig::from_file(biaslab::runtime::test::fixture("llama") / "config.json");
  BOOST_TEST((fixture.architecture == Architecture::llama));
  BOOST_TEST(fixture.num_kv_heads == 2);
  BOOST_TEST(fixture.intermediate_size == 160);
  BOOST_TEST(fixture.torch_dtype == "bfloat16");
}

BOOST_AUTO_TEST_CASE(errors_name_file_and_key) {
  BOOST_TEST(error_of({{"model_type", "t5"}}).find("unsupported model_type 't5'") != std::string::npos);
  BOOST_TEST(error_of({{"foo", 1}}).find("cfg.json") != std::string::npos);
  auto e = error_of({{"model_type", "gpt2"}, {"n_embd", "wide"}});
  BOOST_TEST(e.find("cfg.json") != std::string::npos);
  BOOST_TEST(e.find("'n_embd'") != std::string::npos);
  BOOST_TEST(error_of({{"model_type", "gpt2"}, {"n_embd", 10}, {"n_head", 3}}).find("'n_head'") != std::string::npos);
  BOOST_TEST(error_of({{"model_type", "llama"}, {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 2}}}})
                 .find("'yarn' is not supported") != std::string::npos);
  BOOST_TEST(error_of({{"model_type", "bert"}, {"position_embedding_type", "relative_key"}})
                 .find("'position_embedding_type'") != std::string::npos);
  BOOST_TEST(error_of({{"model_type", "llama"}, {"num_attention_heads", 6}, {"num_key_value_heads", 4},
                       {"hidden_size", 48}})
                 .find("'num_key_value_heads'") != std::string::npos);
  BOOST_TEST(error_of(json::array()).find("not a JSON object") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
