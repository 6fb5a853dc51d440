// The trainable modules compute what HF computes (goldens of shared/fixtures), save checkpoints
// that the inference runtime reads back to the same logits, and carry HF's tensor names.
#include <boost/test/unit_test.hpp>

#include <set>

#include "biaslab/runtime/checkpoint.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "biaslab/runtime/train/bert_masked_lm.hpp"
#include "biaslab/runtime/train/gpt_neox_lm.hpp"
#include "train/train_test_util.hpp"

namespace train = biaslab::runtime::train;
namespace rt = biaslab::runtime;
using namespace biaslab::train_test;

namespace {

struct GoldenCheck {
  int compared = 0;  // tensors compared
  double worst = 0;  // largest |diff| / tolerance seen
};

// Compares every case of a fixture's goldens (except left padding, which needs explicit position
// ids the training modules do not take) with the trainable model loaded from the fixture.
GoldenCheck check_goldens(train::TrainableLM& model, const std::string& fixture) {
  GoldenCheck result;
  const auto dir = env_path("BIASLAB_FIXTURES") / fixture;
  rt::SafetensorsFile golden(dir / "golden" / "goldens.safetensors");
  const auto probe_ids = golden.load("probe_ids");
  torch::NoGradGuard no_grad;
  auto compare = [&](const torch::Tensor& ours, const torch::Tensor& want, const torch::Tensor& where,
                     const std::string& what) {
    const double tol = 1e-5 * std::max(1.0, max_abs(want, where));
    const double diff = max_abs_diff(ours, want, where);
    BOOST_TEST_INFO(fixture << " " << what << ": max |diff| " << diff << ", tolerance " << tol);
    BOOST_CHECK_LE(diff, tol);
    result.worst = std::max(result.worst, diff / tol);
    ++result.compared;
  };
  for (const std::string c : {"single", "short", "long_text", "random", "pair_right", "masked"}) {
    if (!golden.contains(c + ".input_ids")) continue;
    const auto ids = golden.load(c + ".input_ids");
    const auto mask = golden.load(c + ".attention_mask");
    const auto real = mask.ne(0);
    const auto out = model.forward(ids, mask, /*all_hidden_states=*/true);
    for (std::size_t i = 0; i < out.hidden.size(); ++i) {
      compare(out.hidden[i], golden.load(c + ".hidden_states." + std::to_string(i)), real.unsqueeze(-1),
              c + " hidden_states." + std::to_string(i));
    }
    BOOST_CHECK(golden.contains(c + ".hidden_states." + std::to_string(out.hidden.size() - 1)));
    BOOST_CHECK(!golden.contains(c + ".hidden_states." + std::to_string(out.hidden.size())));
    compare(out.logits.index_select(-1, probe_ids), golden.load(c + ".logits_probe"), real.unsqueeze(-1),
            c + " logits_probe");
    compare(torch::logsumexp(out.logits, -1), golden.load(c + ".logsumexp"), real, c + " logsumexp");
    if (golden.contains(c + ".logits")) compare(out.logits, golden.load(c + ".logits"), real.unsqueeze(-1), c + " logits");
    if (golden.contains(c + ".mask_logits")) {
      // The masked position is 3 in both masked-LM fixtures (goldens.json "masked_position").
      compare(out.logits[0][3], golden.load(c + ".mask_logits"), {}, c + " mask_logits");
    }
  }
  return result;
}

std::set<std::string> keys(const std::map<std::string, torch::Tensor>& m) {
  std::set<std::string> out;
  for (const auto& [k, _] : m) out.insert(k);
  return out;
}

// Saves `model`, reloads it with the inference runtime and with load_trainable_lm, and checks
// logits (1e-5), parameters (bit for bit) and parameter counts.
void check_export(train::TrainableLM& model, const std::string& what) {
  TempDir tmp;
  model.save_pretrained(tmp.path());
  auto reloaded = train::load_trainable_lm(tmp.path());
  for (const auto& [name, t] : model.hf_state_dict()) {
    BOOST_TEST_INFO(what << " " << name);
    BOOST_CHECK(torch::equal(t, reloaded->hf_state_dict().at(name)));
  }
  const auto runtime_model = rt::load_model(tmp.path());
  BOOST_CHECK_EQUAL(runtime_model->architecture(), model.architecture());
  BOOST_CHECK_EQUAL(runtime_model->parameter_count(), model.parameter_count());
  torch::manual_seed(7);
  const auto ids = torch::randint(0, model.vocab_size(), {3, 17}, torch::kLong);
  auto mask = torch::ones({3, 17}, torch::kLong);
  mask[2].narrow(0, 12, 5).zero_();  // right padding in one row
  torch::NoGradGuard no_grad;
  const auto ours = model.forward(ids, mask).logits;
  const auto theirs = runtime_model->forward(ids, mask);
  const auto real = mask.ne(0).unsqueeze(-1);
  const double diff = max_abs_diff(ours, theirs, real);
  BOOST_TEST_MESSAGE(what << ": training module vs runtime max |logit diff| " << diff << " (max |logit| "
                          << max_abs(theirs, real) << ")");
  BOOST_CHECK_LE(diff, 1e-5);
  const auto hidden_diff = max_abs_diff(model.forward(ids, mask).hidden.back(), runtime_model->hidden_states(ids, mask), real);
  BOOST_CHECK_LE(hidden_diff, 1e-5);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(modules)

BOOST_AUTO_TEST_CASE(gpt_neox_module_matches_hf_goldens) {
  auto model = train::load_trainable_lm(env_path("BIASLAB_FIXTURES") / "gpt_neox");
  BOOST_CHECK_EQUAL(model->architecture(), "GPTNeoXForCausalLM");
  const auto r = check_goldens(*model, "gpt_neox");
  BOOST_TEST_MESSAGE("gpt_neox: " << r.compared << " golden tensors, worst diff/tolerance " << r.worst);
  BOOST_CHECK_GE(r.compared, 5 * 5);
}

BOOST_AUTO_TEST_CASE(bert_module_matches_hf_goldens) {
  auto model = train::load_trainable_lm(env_path("BIASLAB_FIXTURES") / "bert");
  BOOST_CHECK_EQUAL(model->architecture(), "BertForMaskedLM");
  const auto r = check_goldens(*model, "bert");
  BOOST_TEST_MESSAGE("bert: " << r.compared << " golden tensors, worst diff/tolerance " << r.worst);
  BOOST_CHECK_GE(r.compared, 6 * 5);
}

BOOST_AUTO_TEST_CASE(roberta_module_matches_hf_goldens) {
  // pair_right pads with id 1, so this also checks RoBERTa's padding-aware position ids.
  auto model = train::load_trainable_lm(env_path("BIASLAB_FIXTURES") / "roberta");
  BOOST_CHECK_EQUAL(model->architecture(), "RobertaForMaskedLM");
  const auto r = check_goldens(*model, "roberta");
  BOOST_CHECK_GE(r.compared, 6 * 5);
}

BOOST_AUTO_TEST_CASE(tensor_names_are_the_hf_names) {
  // The HF fixtures were written by transformers' save_pretrained: same configs, same names.
  for (const std::string fixture : {"gpt_neox", "bert", "roberta"}) {
    const auto dir = env_path("BIASLAB_FIXTURES") / fixture;
    const auto config = nlohmann::json::parse(read_file(dir / "config.json"));
    auto model = train::make_trainable_lm(config);
    rt::CheckpointReader reader(dir);
    std::set<std::string> stored;
    for (const auto& n : reader.names()) stored.insert(n);
    BOOST_TEST_INFO(fixture);
    BOOST_CHECK(keys(model->hf_state_dict()) == stored);
    for (const auto& [name, t] : model->hf_state_dict()) {
      BOOST_TEST_INFO(fixture << " " << name);
      BOOST_CHECK(t.sizes().vec() == reader.shape(name));
    }
  }
}

BOOST_AUTO_TEST_CASE(exported_checkpoints_give_the_runtime_the_same_logits) {
  torch::manual_seed(3);
  train::GptNeoxConfig neox;
  neox.vocab_size = 300;
  neox.hidden_size = 32;
  neox.num_heads = 4;
  neox.num_layers = 2;
  neox.intermediate_size = 64;
  neox.rotary_pct = 0.5;
  train::GptNeoxLM a(neox);
  // Random init has near-zero logits; perturb so that every weight matters at O(1) scale.
  {
    torch::NoGradGuard g;
    for (auto& p : a.parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  check_export(a, "gpt_neox parallel residual");
  neox.use_parallel_residual = false;
  train::GptNeoxLM a2(neox);
  {
    torch::NoGradGuard g;
    for (auto& p : a2.parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  check_export(a2, "gpt_neox sequential residual");

  train::BertConfig bert;
  bert.vocab_size = 261;
  bert.hidden_size = 32;
  bert.num_heads = 2;
  bert.num_layers = 2;
  bert.intermediate_size = 48;
  train::BertMaskedLM b(bert);
  {
    torch::NoGradGuard g;
    for (auto& p : b.parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  check_export(b, "bert");

  bert.roberta = true;
  bert.pad_token_id = 1;
  bert.max_position_embeddings = 40;
  bert.type_vocab_size = 1;
  bert.layer_norm_eps = 1e-5;
  train::BertMaskedLM r(bert);
  {
    torch::NoGradGuard g;
    for (auto& p : r.parameters()) p.add_(torch::randn_like(p) * 0.3);
  }
  check_export(r, "roberta");
}

BOOST_AUTO_TEST_CASE(initialisation_follows_hf_init_weights) {
  torch::manual_seed(0);
  train::GptNeoxConfig c;
  c.vocab_size = 4096;
  c.hidden_size = 64;
  train::GptNeoxLM m(c);
  const auto params = m.hf_state_dict();
  // normal(0, 0.02): the sample std of 262144 draws is within 1% of 0.02.
  const double embed_std = params.at("gpt_neox.embed_in.weight").std().item<double>();
  BOOST_CHECK_CLOSE(embed_std, 0.02, 1.0);
  BOOST_CHECK_CLOSE(params.at("embed_out.weight").std().item<double>(), 0.02, 1.0);
  BOOST_CHECK(torch::all(params.at("gpt_neox.layers.0.attention.query_key_value.bias").eq(0)).item<bool>());
  BOOST_CHECK(torch::all(params.at("gpt_neox.layers.1.input_layernorm.weight").eq(1)).item<bool>());
  BOOST_CHECK(torch::all(params.at("gpt_neox.final_layer_norm.bias").eq(0)).item<bool>());
  // Near-zero logits at init: the loss on any token is ~ln(V).
  const auto out = m.forward(torch::randint(0, c.vocab_size, {2, 16}, torch::kLong));
  BOOST_CHECK_LT(max_abs(out.logits), 1.0);

  train::BertConfig b;
  b.vocab_size = 500;
  b.pad_token_id = 0;
  train::BertMaskedLM bert(b);
  const auto bp = bert.hf_state_dict();
  BOOST_CHECK(torch::all(bp.at("bert.embeddings.word_embeddings.weight")[0].eq(0)).item<bool>());  // padding row
  BOOST_CHECK(torch::all(bp.at("cls.predictions.bias").eq(0)).item<bool>());
  BOOST_CHECK_EQUAL(bp.count("cls.predictions.decoder.weight"), 0u);  // tied, stored once
}

BOOST_AUTO_TEST_CASE(every_parameter_receives_a_gradient) {
  torch::manual_seed(1);
  train::GptNeoxConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_heads = 2;
  c.intermediate_size = 32;
  train::GptNeoxLM m(c);
  const auto ids = torch::randint(0, 50, {2, 9}, torch::kLong);
  m.forward(ids).logits.pow(2).sum().backward();
  for (const auto& [name, p] : m.hf_state_dict()) {
    BOOST_TEST_INFO(name);
    BOOST_CHECK(p.grad().defined() && p.grad().abs().sum().item<double>() > 0);
  }
  train::BertConfig b;
  b.vocab_size = 50;
  b.hidden_size = 16;
  b.num_heads = 2;
  b.intermediate_size = 32;
  train::BertMaskedLM bert(b);
  bert.forward(ids.clamp_min(1)).logits.pow(2).sum().backward();
  for (const auto& [name, p] : bert.hf_state_dict()) {
    BOOST_TEST_INFO(name);
    BOOST_CHECK(p.grad().defined() && p.grad().abs().sum().item<double>() > 0);
  }
}

BOOST_AUTO_TEST_CASE(configs_are_validated_with_the_field_named) {
  train::GptNeoxConfig c;
  c.vocab_size = 10;
  c.hidden_size = 30;
  c.num_heads = 4;
  BOOST_CHECK_EXCEPTION(train::GptNeoxLM{c}, std::runtime_error, [](const std::runtime_error& e) {
    return std::string(e.what()).find("hidden_size") != std::string::npos;
  });
  c.hidden_size = 24;  // head size 6, rotary 0.25 -> 1.5 -> 1 dimension: odd
  BOOST_CHECK_EXCEPTION(train::GptNeoxLM{c}, std::runtime_error, [](const std::runtime_error& e) {
    return std::string(e.what()).find("rotary_pct") != std::string::npos;
  });
  BOOST_CHECK_THROW(train::make_trainable_lm({{"model_type", "llama"}}), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(loading_rejects_wrong_shapes_and_unknown_tensors) {
  train::GptNeoxConfig c;
  c.vocab_size = 20;
  c.hidden_size = 16;
  c.num_heads = 2;
  c.intermediate_size = 32;
  train::GptNeoxLM m(c);
  auto tensors = m.hf_state_dict();
  tensors["gpt_neox.layers.0.attention.rotary_emb.inv_freq"] = torch::zeros({4});  // old buffer: accepted
  BOOST_CHECK_NO_THROW(m.load_hf_state_dict(tensors, "x"));
  tensors["gpt_neox.embed_in.weight"] = torch::zeros({21, 16});
  BOOST_CHECK_EXCEPTION(m.load_hf_state_dict(tensors, "ckpt.safetensors"), std::runtime_error, [](const auto& e) {
    return std::string(e.what()).find("gpt_neox.embed_in.weight") != std::string::npos &&
           std::string(e.what()).find("ckpt.safetensors") != std::string::npos;
  });
  tensors = m.hf_state_dict();
  tensors["gpt_neox.layers.5.mlp.dense_h_to_4h.weight"] = torch::zeros({32, 16});
  BOOST_CHECK_THROW(m.load_hf_state_dict(tensors, "x"), std::runtime_error);
  tensors = m.hf_state_dict();
  tensors.erase("embed_out.weight");
  BOOST_CHECK_EXCEPTION(m.load_hf_state_dict(tensors, "x"), std::runtime_error, [](const auto& e) {
    return std::string(e.what()).find("missing tensor 'embed_out.weight'") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
