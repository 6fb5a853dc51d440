// The five HF fixtures (tiny random models + goldens computed by HF transformers 4.45.1, see
// shared/fixtures/README.md): every case, every golden tensor, within the README's tolerance
// 1e-5 * max(1, max|golden|). Plus checkpoint-format equivalence, save/reload round trips and
// loader errors.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
namespace t = biaslab::runtime::test;

namespace {

constexpr double kRelTol = 1e-5;  // README: |a - b| <= 1e-5 * max(1, max|golden|)

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(t::read_file(p)); }

struct Report {
  double worst_ratio = 0;   // max over checks of diff / tolerance
  double worst_logit = 0;   // max abs diff of any logit-like value
  double worst_hidden = 0;  // max abs diff of any hidden state
  int checks = 0;
};

// Compares `actual` to `golden` where `where` holds; records and asserts the tolerance.
void expect_close(Report& r, const std::string& what, const torch::Tensor& actual, const torch::Tensor& golden,
                  const torch::Tensor& where, double* worst_abs) {
  BOOST_REQUIRE_MESSAGE(actual.sizes() == golden.sizes(), what << ": shape " << actual.sizes() << " vs golden "
                                                               << golden.sizes());
  const double diff = t::max_abs_diff(actual, golden, where);
  const double tol = kRelTol * std::max(1.0, t::max_abs(golden, where));
  BOOST_TEST(diff <= tol, what << ": max |diff| " << diff << " > tolerance " << tol);
  r.worst_ratio = std::max(r.worst_ratio, diff / tol);
  *worst_abs = std::max(*worst_abs, diff);
  ++r.checks;
}

Report check_goldens(const LanguageModel& model, const std::string& fixture_name) {
  const auto dir = t::fixture(fixture_name) / "golden";
  SafetensorsFile g(dir / "goldens.safetensors");
  const auto meta = read_json(dir / "goldens.json");
  const auto probe_ids = g.load("probe_ids");
  Report r;
  for (const auto& c : meta["cases"]) {
    const std::string name = c["name"];
    BOOST_TEST_CONTEXT(fixture_name << " case " << name) {
      const auto ids = g.load(name + ".input_ids");
      const auto mask = g.load(name + ".attention_mask");
      std::optional<torch::Tensor> pos;
      if (g.contains(name + ".position_ids")) pos = g.load(name + ".position_ids");
      const auto states = model.all_hidden_states(ids, mask, pos);
      const auto logits = model.forward(ids, mask, pos);
      BOOST_TEST(torch::equal(logits, model.logits_from_hidden(states.back())));
      BOOST_TEST(torch::equal(states.back(), model.hidden_states(ids, mask, pos)));
      const auto real = mask.ne(0);        // [B,T]
      const auto real3 = real.unsqueeze(-1);  // [B,T,1]
      const auto L = model.config().num_layers;
      BOOST_REQUIRE_EQUAL(static_cast<std::int64_t>(states.size()), L + 1);
      for (std::int64_t i = 0; i <= L; ++i) {
        const auto key = name + ".hidden_states." + std::to_string(i);
        expect_close(r, key, states[i], g.load(key), real3, &r.worst_hidden);
      }
      expect_close(r, name + ".logits_probe", logits.index_select(-1, probe_ids), g.load(name + ".logits_probe"), real3,
                   &r.worst_logit);
      expect_close(r, name + ".logsumexp", logits.logsumexp(-1), g.load(name + ".logsumexp"), real, &r.worst_logit);
      if (g.contains(name + ".logits")) {
        expect_close(r, name + ".logits", logits, g.load(name + ".logits"), real3, &r.worst_logit);
      }
      if (g.contains(name + ".token_logprobs")) {
        const auto T = ids.size(1);
        auto lp = torch::log_softmax(logits.narrow(1, 0, T - 1), -1).gather(-1, ids.narrow(1, 1, T - 1).unsqueeze(-1)).squeeze(-1);
        auto both = real.narrow(1, 0, T - 1).logical_and(real.narrow(1, 1, T - 1));
        expect_close(r, name + ".token_logprobs", lp, g.load(name + ".token_logprobs"), both, &r.worst_logit);
      }
      if (g.contains(name + ".mask_logits")) {
        const auto p = c["masked_position"].get<std::int64_t>();
        expect_close(r, name + ".mask_logits", logits[0][p], g.load(name + ".mask_logits"), {}, &r.worst_logit);
      }
      // argmax must agree exactly unless the top-2 margin is within the logit tolerance.
      const auto golden_argmax = g.load(name + ".argmax");
      const auto argmax = logits.argmax(-1);
      const auto top2 = std::get<0>(logits.topk(2, -1));
      const auto margin = top2.select(-1, 0) - top2.select(-1, 1);
      const double tol = kRelTol * std::max(1.0, t::max_abs(g.load(name + ".logits_probe"), real3)) * 2;
      const auto disagree = argmax.ne(golden_argmax).logical_and(real).logical_and(margin.gt(tol));
      BOOST_TEST(disagree.sum().item<std::int64_t>() == 0, name << ": argmax differs at clear-margin positions");
    }
  }
  return r;
}

std::string fmt(double v) {
  std::ostringstream s;
  s << std::scientific << std::setprecision(2) << v;
  return s.str();
}

const std::vector<std::string> kFixtures{"gpt_neox", "gpt2", "bert", "roberta", "llama"};

// Copies config.json of a fixture and writes `tensors` as its model.safetensors.
void write_model(const std::filesystem::path& dir, const std::string& fixture_name,
                 const std::map<std::string, torch::Tensor>& tensors, const nlohmann::json* config = nullptr) {
  std::filesystem::create_directories(dir);
  if (config) {
    t::write_file(dir / "config.json", config->dump());
  } else {
    std::filesystem::copy_file(t::fixture(fixture_name) / "config.json", dir / "config.json");
  }
  write_safetensors(dir / "model.safetensors", tensors);
}

std::map<std::string, torch::Tensor> fixture_tensors(const std::string& name) {
  SafetensorsFile f(t::fixture(name) / "model.safetensors");
  std::map<std::string, torch::Tensor> out;
  for (const auto& n : f.names()) out[n] = f.load(n);
  return out;
}

std::string load_error(const std::filesystem::path& dir) {
  try {
    load_model(dir);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(hf_fixtures)

BOOST_AUTO_TEST_CASE(goldens_of_every_fixture) {
  for (const auto& name : kFixtures) {
    auto model = load_model(t::fixture(name));
    BOOST_TEST(model->dtype() == torch::kFloat32);
    const auto r = check_goldens(*model, name);
    BOOST_TEST_MESSAGE(name << " (" << model->architecture() << "): " << r.checks << " golden tensors, max |logit diff| "
                            << fmt(r.worst_logit) << ", max |hidden diff| " << fmt(r.worst_hidden)
                            << ", worst diff/tolerance " << fmt(r.worst_ratio));
    BOOST_TEST(r.checks > 30);
  }
}

BOOST_AUTO_TEST_CASE(bert_pytorch_bin_equals_safetensors) {
  LoadOptions bin_options;
  bin_options.format = CheckpointFormat::pytorch;
  auto from_bin = load_model(t::fixture("bert"), bin_options);
  LoadOptions st_options;
  st_options.format = CheckpointFormat::safetensors;
  auto from_st = load_model(t::fixture("bert"), st_options);
  SafetensorsFile g(t::fixture("bert") / "golden" / "goldens.safetensors");
  for (const char* c : {"pair_right", "random", "masked"}) {
    const auto ids = g.load(std::string(c) + ".input_ids");
    const auto mask = g.load(std::string(c) + ".attention_mask");
    const double diff = t::max_abs_diff(from_bin->forward(ids, mask), from_st->forward(ids, mask));
    BOOST_TEST(diff == 0.0, c << ": .bin vs .safetensors max |diff| " << diff);
  }
  const auto r = check_goldens(*from_bin, "bert");
  BOOST_TEST_MESSAGE("bert from pytorch_model.bin: max |logit diff| " << fmt(r.worst_logit));
}

BOOST_AUTO_TEST_CASE(save_pretrained_round_trip) {
  for (const auto& name : kFixtures) {
    BOOST_TEST_CONTEXT(name) {
      t::TempDir dir;
      auto model = load_model(t::fixture(name));
      model->save_pretrained(dir.path());
      auto again = load_model(dir.path());
      SafetensorsFile g(t::fixture(name) / "golden" / "goldens.safetensors");
      for (const char* c : {"pair_right", "random"}) {
        const auto ids = g.load(std::string(c) + ".input_ids");
        const auto mask = g.load(std::string(c) + ".attention_mask");
        std::optional<torch::Tensor> pos;
        if (g.contains(std::string(c) + ".position_ids")) pos = g.load(std::string(c) + ".position_ids");
        BOOST_TEST(torch::equal(model->forward(ids, mask, pos), again->forward(ids, mask, pos)));
      }
      // Same tensor names as HF's own file (tied aliases omitted), values upcast exactly.
      const auto original = fixture_tensors(name);
      SafetensorsFile saved(dir / "model.safetensors");
      auto saved_names = saved.names();
      std::sort(saved_names.begin(), saved_names.end());
      std::vector<std::string> original_names;
      for (const auto& [n, _] : original) original_names.push_back(n);
      BOOST_TEST(saved_names == original_names);
      for (const auto& [n, tensor] : original) {
        BOOST_TEST_CONTEXT(n) {
          auto s = saved.load(n);
          BOOST_TEST(s.scalar_type() == torch::kFloat32);
          BOOST_TEST(torch::equal(s, tensor.to(torch::kFloat32)));
        }
      }
      BOOST_TEST(saved.metadata().at("format") == "pt");
      const auto config = read_json(dir / "config.json");
      BOOST_TEST(config["torch_dtype"] == "float32");
      BOOST_TEST(config["architectures"][0] == model->architecture());
      BOOST_TEST(!config.contains("biaslab_quantization"));
      BOOST_TEST(std::filesystem::exists(dir / "tokenizer.json"));
    }
  }
}

BOOST_AUTO_TEST_CASE(stored_dtype_is_kept_on_request) {
  for (const auto& name : kFixtures) {
    BOOST_TEST_CONTEXT(name) {
      LoadOptions options;
      options.dtype = std::nullopt;
      auto model = load_model(t::fixture(name), options);
      const auto original = fixture_tensors(name);
      BOOST_TEST(model->dtype() == original.begin()->second.scalar_type());
      // HF num_parameters() counts tied tensors once, i.e. exactly the stored tensors.
      std::int64_t numel = 0, bytes = 0;
      for (const auto& [_, tensor] : original) {
        numel += tensor.numel();
        bytes += tensor.numel() * static_cast<std::int64_t>(tensor.element_size());
      }
      BOOST_TEST(model->parameter_count() == numel);
      BOOST_TEST(model->storage_bytes() == bytes);
      const auto state = model->state_dict();
      BOOST_TEST(state.size() == original.size());
      for (const auto& [n, tensor] : original) BOOST_TEST(torch::equal(state.at(n), tensor), n);
    }
  }
}

BOOST_AUTO_TEST_CASE(linear_slots_carry_hf_names) {
  auto neox = load_model(t::fixture("gpt_neox"));
  auto layers = neox->linear_layers();
  BOOST_TEST(layers.size() == 8u);
  BOOST_TEST(layers[0]->name() == "gpt_neox.layers.0.attention.query_key_value");
  BOOST_TEST(layers[2]->name() == "gpt_neox.layers.0.mlp.dense_h_to_4h");
  BOOST_TEST(layers[7]->name() == "gpt_neox.layers.1.mlp.dense_4h_to_h");
  BOOST_TEST(neox->linear_layers(true).back()->name() == "embed_out");
  BOOST_TEST(neox->output_head_name() == "embed_out");

  auto gpt2 = load_model(t::fixture("gpt2"));
  auto& c_attn = gpt2->linear("transformer.h.0.attn.c_attn");
  BOOST_TEST(c_attn.kernel()->in_features() == 64);
  BOOST_TEST(c_attn.kernel()->out_features() == 192);
  // Conv1D weight [in, out] in the file, [out, in] in the slot.
  SafetensorsFile f(t::fixture("gpt2") / "model.safetensors");
  BOOST_TEST(torch::equal(c_attn.kernel()->weight(),
                          f.load("transformer.h.0.attn.c_attn.weight").to(torch::kFloat32).t()));
  BOOST_CHECK_THROW(gpt2->linear("transformer.h.9.attn.c_attn"), std::out_of_range);

  auto bert = load_model(t::fixture("bert"));
  std::vector<std::string> names;
  for (auto* l : bert->linear_layers()) names.push_back(l->name());
  BOOST_TEST(names.front() == "bert.encoder.layer.0.attention.self.query");
  BOOST_TEST(names.back() == "cls.predictions.transform.dense");
  BOOST_TEST(bert->output_head_name() == "cls.predictions.decoder");
  auto llama = load_model(t::fixture("llama"));
  BOOST_TEST(llama->linear("model.layers.1.self_attn.k_proj").kernel()->out_features() == 32);  // 2 kv heads x 16
}

BOOST_AUTO_TEST_CASE(hf_checkpoint_variants_load) {
  // A bare GPT2Model checkpoint (no "transformer." prefix) with the old attn.bias buffers, as on
  // the hub, gives the same model.
  auto tensors = fixture_tensors("gpt2");
  std::map<std::string, torch::Tensor> bare;
  for (const auto& [n, tensor] : tensors) bare[n.substr(std::string("transformer.").size())] = tensor;
  bare["h.0.attn.bias"] = torch::ones({1, 1, 4, 4});
  bare["h.1.attn.masked_bias"] = torch::tensor(-1e4f);
  t::TempDir dir;
  write_model(dir / "gpt2", "gpt2", bare);
  auto a = load_model(t::fixture("gpt2"));
  auto b = load_model(dir / "gpt2");
  const auto ids = torch::tensor({{15496, 995, 11, 50256}}, torch::kLong);
  BOOST_TEST(torch::equal(a->forward(ids), b->forward(ids)));

  // TF-era BERT names (LayerNorm gamma/beta), a pooler and the NSP head are accepted as HF does.
  auto bert = fixture_tensors("bert");
  std::map<std::string, torch::Tensor> old_style;
  for (const auto& [n, tensor] : bert) {
    std::string name = n;
    if (name.size() > 17 && name.rfind("LayerNorm.weight") == name.size() - 16) name.replace(name.size() - 6, 6, "gamma");
    if (name.size() > 15 && name.rfind("LayerNorm.bias") == name.size() - 14) name.replace(name.size() - 4, 4, "beta");
    old_style[name] = tensor;
  }
  BOOST_REQUIRE(old_style.count("bert.embeddings.LayerNorm.gamma"));
  old_style["bert.pooler.dense.weight"] = torch::zeros({64, 64});
  old_style["bert.pooler.dense.bias"] = torch::zeros({64});
  old_style["cls.seq_relationship.weight"] = torch::zeros({2, 64});
  old_style["bert.embeddings.position_ids"] = torch::arange(512).unsqueeze(0);
  write_model(dir / "bert", "bert", old_style);
  auto c = load_model(t::fixture("bert"));
  auto d = load_model(dir / "bert");
  const auto bert_ids = torch::tensor({{101, 7592, 2088, 102}}, torch::kLong);
  BOOST_TEST(torch::equal(c->forward(bert_ids), d->forward(bert_ids)));
}

BOOST_AUTO_TEST_CASE(loader_errors_name_tensor_and_file) {
  t::TempDir dir;
  auto tensors = fixture_tensors("gpt_neox");

  auto missing = tensors;
  missing.erase("gpt_neox.layers.1.mlp.dense_4h_to_h.bias");
  write_model(dir / "missing", "gpt_neox", missing);
  auto e = load_error(dir / "missing");
  BOOST_TEST(has(e, "gpt_neox.layers.1.mlp.dense_4h_to_h.bias"), e);
  BOOST_TEST(has(e, "model.safetensors"), e);

  auto extra = tensors;
  extra["gpt_neox.layers.0.mlp.surprise"] = torch::zeros({3});
  write_model(dir / "extra", "gpt_neox", extra);
  e = load_error(dir / "extra");
  BOOST_TEST(has(e, "gpt_neox.layers.0.mlp.surprise"), e);
  BOOST_TEST(has(e, "model.safetensors"), e);

  auto wrong = tensors;
  wrong["gpt_neox.layers.0.attention.dense.weight"] = torch::zeros({64, 63}, torch::kFloat16);
  write_model(dir / "wrong", "gpt_neox", wrong);
  e = load_error(dir / "wrong");
  BOOST_TEST(has(e, "gpt_neox.layers.0.attention.dense.weight"), e);
  BOOST_TEST(has(e, "[64, 63]"), e);
  BOOST_TEST(has(e, "[64, 64]"), e);
  BOOST_TEST(has(e, "model.safetensors"), e);

  // GPT-NeoX heads are untied: without embed_out the checkpoint is incomplete.
  auto no_head = tensors;
  no_head.erase("embed_out.weight");
  write_model(dir / "no_head", "gpt_neox", no_head);
  BOOST_TEST(has(load_error(dir / "no_head"), "embed_out.weight"));

  BOOST_TEST(has(load_error(dir / "nowhere"), "config.json"));
}

BOOST_AUTO_TEST_CASE(inputs_are_validated) {
  auto model = load_model(t::fixture("gpt2"));
  BOOST_CHECK_THROW(model->forward(torch::tensor({{50257}}, torch::kLong)), std::invalid_argument);
  BOOST_CHECK_THROW(model->forward(torch::tensor({{-1}}, torch::kLong)), std::invalid_argument);
  BOOST_CHECK_THROW(model->forward(torch::tensor({1, 2}, torch::kLong)), std::invalid_argument);
  BOOST_CHECK_THROW(model->forward(torch::zeros({1, 1025}, torch::kLong)), std::invalid_argument);  // > n_positions
  BOOST_CHECK_THROW(model->forward(torch::tensor({{1, 2}}), torch::ones({1, 3})), std::invalid_argument);
  // int32 ids and a bool mask are accepted.
  auto a = model->forward(torch::tensor({{15496, 995}}, torch::kInt), torch::ones({1, 2}, torch::kBool));
  auto b = model->forward(torch::tensor({{15496, 995}}, torch::kLong));
  BOOST_TEST(torch::equal(a, b));
}

BOOST_AUTO_TEST_CASE(bfloat16_compute_is_close) {
  // Not calibrated by the fixtures (README): only a sanity bound on the bf16 path.
  LoadOptions options;
  options.dtype = torch::kBFloat16;
  auto model = load_model(t::fixture("llama"), options);
  BOOST_TEST(model->dtype() == torch::kBFloat16);
  SafetensorsFile g(t::fixture("llama") / "golden" / "goldens.safetensors");
  auto logits = model->forward(g.load("short.input_ids"));
  BOOST_TEST(logits.scalar_type() == torch::kFloat32);
  const double diff = t::max_abs_diff(logits, g.load("short.logits"));
  BOOST_TEST_MESSAGE("llama bfloat16 compute: max |logit diff| " << fmt(diff) << " (max |logit| "
                                                                 << fmt(t::max_abs(g.load("short.logits"))) << ")");
  BOOST_TEST(diff < 0.25);
  LoadOptions half;
  half.dtype = torch::kFloat16;
  auto fp16 = load_model(t::fixture("gpt2"), half);
  BOOST_CHECK_THROW(fp16->forward(torch::tensor({{1, 2}})), std::runtime_error);  // no CPU half matmul in 1.13
}

BOOST_AUTO_TEST_CASE(load_from_artifact) {
  biaslab::Artifact artifact;
  artifact.type = "model";
  artifact.path = t::fixture("gpt_neox");
  auto model = load_model(artifact);
  BOOST_TEST(model->architecture() == "GPTNeoXForCausalLM");
  artifact.type = "corpus";
  BOOST_CHECK_THROW(load_model(artifact), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
