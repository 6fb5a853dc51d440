// Architectures and options without an HF fixture (DistilBERT, Qwen2, Mistral, Llama with biases
// and llama3 / linear rope scaling, GPT-NeoX sequential residual and tied head, GPT-2 scaled by
// inverse layer index): tiny random models written here, compared with reference_lm.py, a plain
// float64 python3-torch implementation of HF's equations, run through BIASLAB_REFERENCE_PYTHON.
#include <cstdlib>

#include <ATen/CPUGeneratorImpl.h>

#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
namespace t = biaslab::runtime::test;
using nlohmann::json;

namespace {

// Random weights with the fixtures' scales, so attention is far from uniform and every weight
// matters: embeddings N(0, 0.25^2), norm gains 1 + 0.2 N, biases 0.1 N, matrices N / sqrt(fan_in).
class WeightMaker {
 public:
  explicit WeightMaker(std::uint64_t seed) { gen_ = at::detail::createCPUGenerator(seed); }
  torch::Tensor randn(std::vector<std::int64_t> shape) {
    return torch::randn(shape, gen_, torch::TensorOptions().dtype(torch::kFloat32));
  }
  void embedding(const std::string& n, std::int64_t rows, std::int64_t dim) { w[n] = 0.25 * randn({rows, dim}); }
  void gain(const std::string& n, std::int64_t dim) { w[n] = 1.0 + 0.2 * randn({dim}); }
  void bias(const std::string& n, std::int64_t dim) { w[n] = 0.1 * randn({dim}); }
  void layer_norm(const std::string& n, std::int64_t dim) {
    gain(n + ".weight", dim);
    bias(n + ".bias", dim);
  }
  void linear(const std::string& n, std::int64_t in, std::int64_t out, bool with_bias) {
    w[n + ".weight"] = randn({out, in}) / std::sqrt(static_cast<double>(in));
    if (with_bias) bias(n + ".bias", out);
  }
  std::map<std::string, torch::Tensor> w;

 private:
  at::Generator gen_;
};

struct LlamaShape {
  std::int64_t vocab, hidden, heads, kv_heads, head_dim, intermediate, layers;
  bool qkv_bias, o_bias, mlp_bias, tied;
};

std::map<std::string, torch::Tensor> llama_weights(const LlamaShape& s, std::uint64_t seed) {
  WeightMaker m(seed);
  m.embedding("model.embed_tokens.weight", s.vocab, s.hidden);
  for (std::int64_t i = 0; i < s.layers; ++i) {
    const auto p = "model.layers." + std::to_string(i) + ".";
    m.gain(p + "input_layernorm.weight", s.hidden);
    m.gain(p + "post_attention_layernorm.weight", s.hidden);
    m.linear(p + "self_attn.q_proj", s.hidden, s.heads * s.head_dim, s.qkv_bias);
    m.linear(p + "self_attn.k_proj", s.hidden, s.kv_heads * s.head_dim, s.qkv_bias);
    m.linear(p + "self_attn.v_proj", s.hidden, s.kv_heads * s.head_dim, s.qkv_bias);
    m.linear(p + "self_attn.o_proj", s.heads * s.head_dim, s.hidden, s.o_bias);
    m.linear(p + "mlp.gate_proj", s.hidden, s.intermediate, s.mlp_bias);
    m.linear(p + "mlp.up_proj", s.hidden, s.intermediate, s.mlp_bias);
    m.linear(p + "mlp.down_proj", s.intermediate, s.hidden, s.mlp_bias);
  }
  m.gain("model.norm.weight", s.hidden);
  if (!s.tied) m.linear("lm_head", s.hidden, s.vocab, false);
  return m.w;
}

std::map<std::string, torch::Tensor> distilbert_weights(std::int64_t vocab, std::int64_t dim, std::int64_t hidden_dim,
                                                        std::int64_t layers, std::int64_t positions, std::uint64_t seed) {
  WeightMaker m(seed);
  m.embedding("distilbert.embeddings.word_embeddings.weight", vocab, dim);
  m.embedding("distilbert.embeddings.position_embeddings.weight", positions, dim);
  m.layer_norm("distilbert.embeddings.LayerNorm", dim);
  for (std::int64_t i = 0; i < layers; ++i) {
    const auto p = "distilbert.transformer.layer." + std::to_string(i) + ".";
    for (const char* lin : {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"}) {
      m.linear(p + lin, dim, dim, true);
    }
    m.layer_norm(p + "sa_layer_norm", dim);
    m.linear(p + "ffn.lin1", dim, hidden_dim, true);
    m.linear(p + "ffn.lin2", hidden_dim, dim, true);
    m.layer_norm(p + "output_layer_norm", dim);
  }
  m.linear("vocab_transform", dim, dim, true);
  m.layer_norm("vocab_layer_norm", dim);
  m.bias("vocab_projector.bias", vocab);
  return m.w;
}

// GPT-2 Conv1D weights are stored [in, out].
void conv1d(WeightMaker& m, const std::string& n, std::int64_t in, std::int64_t out) {
  m.w[n + ".weight"] = m.randn({in, out}) / std::sqrt(static_cast<double>(in));
  m.bias(n + ".bias", out);
}

struct Inputs {
  torch::Tensor ids, mask;
  std::optional<torch::Tensor> positions;
};

// Three rows of length 12: full, right-padded to 7, and (causal only) left-padded to 9 with
// position ids cumsum(mask) - 1 + offset.
Inputs make_inputs(std::int64_t vocab, bool causal, std::int64_t position_offset, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  Inputs in;
  in.ids = torch::randint(0, vocab, {3, 12}, gen, torch::kLong);
  in.mask = torch::ones({3, 12}, torch::kLong);
  in.mask[1].narrow(0, 7, 5).zero_();
  if (causal) {
    in.mask[2].narrow(0, 0, 3).zero_();
    in.positions = (torch::cumsum(in.mask, 1) - 1).clamp_min(0) + position_offset;
  } else {
    in.mask[2].narrow(0, 9, 3).zero_();
  }
  in.ids.masked_fill_(in.mask.eq(0), 0);
  return in;
}

json tensor_to_json(const torch::Tensor& x) {
  json rows = json::array();
  for (std::int64_t b = 0; b < x.size(0); ++b) {
    json row = json::array();
    for (std::int64_t i = 0; i < x.size(1); ++i) row.push_back(x[b][i].item<std::int64_t>());
    rows.push_back(row);
  }
  return rows;
}

// Runs reference_lm.py on the model directory; returns {logits, hidden}.
std::pair<torch::Tensor, torch::Tensor> reference(const std::filesystem::path& model_dir, const Inputs& in) {
  json j{{"input_ids", tensor_to_json(in.ids)}, {"attention_mask", tensor_to_json(in.mask)},
         {"position_ids", in.positions ? tensor_to_json(*in.positions) : json(nullptr)}};
  t::write_file(model_dir / "inputs.json", j.dump());
  const auto script = t::env_path("BIASLAB_SOURCE_DIR") / "tests" / "runtime" / "reference_lm.py";
  const auto out = model_dir / "reference.safetensors";
  const auto log = model_dir / "reference.log";
  const std::string cmd = "'" + t::env_path("BIASLAB_REFERENCE_PYTHON").string() + "' '" + script.string() + "' '" +
                          model_dir.string() + "' '" + (model_dir / "inputs.json").string() + "' '" + out.string() +
                          "' > '" + log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  BOOST_REQUIRE_MESSAGE(rc == 0, "reference_lm.py failed: " << t::read_file(log));
  SafetensorsFile f(out);
  return {f.load("logits"), f.load("hidden")};
}

void write_model(const std::filesystem::path& dir, const json& config, const std::map<std::string, torch::Tensor>& w) {
  std::filesystem::create_directories(dir);
  t::write_file(dir / "config.json", config.dump(2));
  write_safetensors(dir / "model.safetensors", w);
}

// Loads the model, runs the inputs, compares with the reference where the mask is 1.
double compare_with_reference(const std::filesystem::path& dir, const Inputs& in, const std::string& label) {
  auto model = load_model(dir);
  auto [ref_logits, ref_hidden] = reference(dir, in);
  const auto logits = model->forward(in.ids, in.mask, in.positions);
  const auto hidden = model->hidden_states(in.ids, in.mask, in.positions);
  const auto real = in.mask.ne(0).unsqueeze(-1);
  const double d_logits = t::max_abs_diff(logits, ref_logits, real);
  const double d_hidden = t::max_abs_diff(hidden, ref_hidden, real);
  const double tol_logits = 1e-5 * std::max(1.0, t::max_abs(ref_logits, real));
  const double tol_hidden = 1e-5 * std::max(1.0, t::max_abs(ref_hidden, real));
  BOOST_TEST_MESSAGE(label << " vs python reference: max |logit diff| " << d_logits << " (max |logit| "
                           << t::max_abs(ref_logits, real) << "), max |hidden diff| " << d_hidden);
  BOOST_TEST(d_logits <= tol_logits, label << ": logits differ by " << d_logits);
  BOOST_TEST(d_hidden <= tol_hidden, label << ": hidden states differ by " << d_hidden);
  // The logits are not trivially small: a wrong mask/rotary/bias would show.
  BOOST_TEST(t::max_abs(ref_logits, real) > 1.0);
  return d_logits;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(python_reference)

BOOST_AUTO_TEST_CASE(qwen2_with_biases_tied_head_and_sliding_layers) {
  t::TempDir dir;
  LlamaShape s{300, 32, 4, 2, 8, 48, 2, true, false, false, true};
  json config{{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}, {"vocab_size", 300},
              {"hidden_size", 32}, {"intermediate_size", 48}, {"num_hidden_layers", 2},
              {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"rope_theta", 1000000.0},
              {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", true}, {"use_sliding_window", true},
              {"sliding_window", 3}, {"max_window_layers", 1}, {"torch_dtype", "float32"}};
  write_model(dir / "qwen2", config, llama_weights(s, 21));
  compare_with_reference(dir / "qwen2", make_inputs(300, true, 0, 5), "qwen2");
  auto model = load_model(dir / "qwen2");
  BOOST_TEST(model->linear("model.layers.0.self_attn.q_proj").kernel()->bias().has_value());
  BOOST_TEST(!model->linear("model.layers.0.self_attn.o_proj").kernel()->bias().has_value());
  // Saved as HF does: the tied lm_head is not stored.
  t::TempDir saved;
  model->save_pretrained(saved.path());
  BOOST_TEST(!SafetensorsFile(saved / "model.safetensors").contains("lm_head.weight"));
}

BOOST_AUTO_TEST_CASE(mistral_sliding_window_multi_query) {
  t::TempDir dir;
  LlamaShape s{300, 32, 4, 1, 8, 64, 2, false, false, false, false};
  json config{{"architectures", {"MistralForCausalLM"}}, {"model_type", "mistral"}, {"vocab_size", 300},
              {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
              {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"sliding_window", 4},
              {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", false}};
  write_model(dir / "mistral", config, llama_weights(s, 22));
  const auto in = make_inputs(300, true, 0, 6);
  compare_with_reference(dir / "mistral", in, "mistral");
  // The window matters: without it the logits change.
  config["sliding_window"] = nullptr;
  write_model(dir / "mistral_full", config, llama_weights(s, 22));
  auto windowed = load_model(dir / "mistral")->forward(in.ids, in.mask, in.positions);
  auto full = load_model(dir / "mistral_full")->forward(in.ids, in.mask, in.positions);
  BOOST_TEST(t::max_abs_diff(windowed, full, in.mask.ne(0).unsqueeze(-1)) > 1e-3);
  compare_with_reference(dir / "mistral_full", in, "mistral without window");
}

BOOST_AUTO_TEST_CASE(llama_biases_head_dim_and_llama3_rope_scaling) {
  t::TempDir dir;
  LlamaShape s{300, 48, 4, 2, 16, 64, 2, true, true, true, false};
  json config{{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", 300},
              {"hidden_size", 48}, {"intermediate_size", 64}, {"num_hidden_layers", 2},
              {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
              {"attention_bias", true}, {"mlp_bias", true}, {"rope_theta", 10000.0},
              {"max_position_embeddings", 4096},
              {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}}};
  const auto weights = llama_weights(s, 23);
  write_model(dir / "llama3", config, weights);
  // Far positions, where the scaled low frequencies make a difference.
  const auto in = make_inputs(300, true, 1000, 7);
  compare_with_reference(dir / "llama3", in, "llama3 rope scaling");
  config["rope_scaling"] = nullptr;
  write_model(dir / "llama_plain", config, weights);
  auto scaled = load_model(dir / "llama3")->forward(in.ids, in.mask, in.positions);
  auto plain = load_model(dir / "llama_plain")->forward(in.ids, in.mask, in.positions);
  BOOST_TEST(t::max_abs_diff(scaled, plain, in.mask.ne(0).unsqueeze(-1)) > 1e-3);
  compare_with_reference(dir / "llama_plain", in, "llama without scaling");
  config["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  write_model(dir / "llama_linear", config, weights);
  compare_with_reference(dir / "llama_linear", in, "llama linear rope scaling");
}

BOOST_AUTO_TEST_CASE(distilbert_masked_lm) {
  t::TempDir dir;
  json config{{"architectures", {"DistilBertForMaskedLM"}}, {"model_type", "distilbert"}, {"vocab_size", 300},
              {"dim", 32}, {"n_heads", 4}, {"hidden_dim", 64}, {"n_layers", 2},
              {"max_position_embeddings", 64}, {"activation", "gelu"}};
  write_model(dir / "distilbert", config, distilbert_weights(300, 32, 64, 2, 64, 24));
  compare_with_reference(dir / "distilbert", make_inputs(300, false, 0, 8), "distilbert");
  auto model = load_model(dir / "distilbert");
  BOOST_TEST(model->is_masked());
  BOOST_TEST(model->output_head_name() == "vocab_projector");
  BOOST_TEST(model->linear_layers().back()->name() == "vocab_transform");
  // Saved without the tied vocab_projector.weight but with its own bias.
  t::TempDir saved;
  model->save_pretrained(saved.path());
  SafetensorsFile f(saved / "model.safetensors");
  BOOST_TEST(!f.contains("vocab_projector.weight"));
  BOOST_TEST(f.contains("vocab_projector.bias"));
}

BOOST_AUTO_TEST_CASE(gpt_neox_sequential_residual_tied_head) {
  t::TempDir dir;
  const std::int64_t V = 300, H = 32, I = 64;
  WeightMaker m(25);
  m.embedding("gpt_neox.embed_in.weight", V, H);
  for (int i = 0; i < 2; ++i) {
    const auto p = "gpt_neox.layers." + std::to_string(i) + ".";
    m.layer_norm(p + "input_layernorm", H);
    m.layer_norm(p + "post_attention_layernorm", H);
    m.linear(p + "attention.query_key_value", H, 3 * H, false);
    m.linear(p + "attention.dense", H, H, false);
    m.linear(p + "mlp.dense_h_to_4h", H, I, true);
    m.linear(p + "mlp.dense_4h_to_h", I, H, true);
  }
  m.layer_norm("gpt_neox.final_layer_norm", H);
  json config{{"model_type", "gpt_neox"}, {"vocab_size", V}, {"hidden_size", H}, {"intermediate_size", I},
              {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"rotary_pct", 0.5}, {"rotary_emb_base", 100},
              {"use_parallel_residual", false}, {"attention_bias", false}, {"tie_word_embeddings", true}};
  write_model(dir / "neox", config, m.w);
  compare_with_reference(dir / "neox", make_inputs(V, true, 0, 9), "gpt_neox sequential, tied");
  auto model = load_model(dir / "neox");
  BOOST_TEST(!model->linear("gpt_neox.layers.0.attention.dense").kernel()->bias().has_value());
}

BOOST_AUTO_TEST_CASE(gpt2_scaled_by_inverse_layer_index) {
  t::TempDir dir;
  const std::int64_t V = 300, H = 32, I = 48, P = 32;
  WeightMaker m(26);
  m.embedding("transformer.wte.weight", V, H);
  m.embedding("transformer.wpe.weight", P, H);
  for (int i = 0; i < 2; ++i) {
    const auto p = "transformer.h." + std::to_string(i) + ".";
    m.layer_norm(p + "ln_1", H);
    conv1d(m, p + "attn.c_attn", H, 3 * H);
    conv1d(m, p + "attn.c_proj", H, H);
    m.layer_norm(p + "ln_2", H);
    conv1d(m, p + "mlp.c_fc", H, I);
    conv1d(m, p + "mlp.c_proj", I, H);
  }
  m.layer_norm("transformer.ln_f", H);
  json config{{"model_type", "gpt2"}, {"vocab_size", V}, {"n_embd", H}, {"n_inner", I}, {"n_layer", 2},
              {"n_head", 4}, {"n_positions", P}, {"scale_attn_by_inverse_layer_idx", true}};
  write_model(dir / "gpt2", config, m.w);
  compare_with_reference(dir / "gpt2", make_inputs(V, true, 0, 10), "gpt2 inverse layer index scaling");
}

BOOST_AUTO_TEST_SUITE_END()
