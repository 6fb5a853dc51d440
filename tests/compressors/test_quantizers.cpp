// compress.dynamic_int8, compress.rtn, compress.gptq, compress.cast, compress.smoothquant.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/compress/calibration.hpp"
#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"
#include "compressor_test_support.hpp"

namespace ct = compressor_test;
namespace rt = biaslab::runtime;
namespace rc = biaslab::runtime::compress;
namespace ops = biaslab::runtime::ops;
using nlohmann::json;

namespace {

torch::Tensor ids_for(std::int64_t vocab) {
  // A fixed batch of token ids (two rows, no padding).
  auto ids = torch::arange(0, 24, torch::kInt64).reshape({2, 12}) * 37 % vocab;
  return ids;
}

std::int64_t fp32_bytes_of(const std::filesystem::path& model_dir) {
  std::int64_t bytes = 0;
  for (const auto& [_, t] : ct::safetensors_header(model_dir / "model.safetensors")) {
    std::int64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    bytes += numel * 4;
  }
  return bytes;
}

// 8 * (stored bytes of the layers' tensors except their bias) / weights
double stored_bits_per_weight(const std::map<std::string, ct::StoredTensor>& header, const std::vector<rt::Linear*>& layers) {
  std::int64_t bytes = 0, weights = 0;
  for (auto* l : layers) {
    weights += l->kernel()->in_features() * l->kernel()->out_features();
    for (const auto& [name, t] : header)
      if (name.rfind(l->name() + ".", 0) == 0 && name != l->name() + ".bias") bytes += t.bytes;
  }
  return 8.0 * static_cast<double>(bytes) / static_cast<double>(weights);
}

void check_common_rows(const ct::RunOutput& out, const std::filesystem::path& base_dir, std::size_t layers) {
  const auto header = ct::safetensors_header(out.dir / "model.safetensors");
  BOOST_TEST(out.row("compress.bytes").value == static_cast<double>(ct::stored_bytes(header)));
  // The input checkpoint as stored (float16 / bfloat16 fixtures), not its float32 working copy.
  BOOST_TEST(out.row("compress.bytes_before").value ==
             static_cast<double>(ct::stored_bytes(ct::safetensors_header(base_dir / "model.safetensors"))));
  BOOST_TEST(out.row("compress.layers_touched").value == static_cast<double>(layers));
  BOOST_TEST(out.row("compress.seconds").value >= 0.0);
  BOOST_TEST(out.has_row("compress.calibration_samples"));
  BOOST_TEST(out.has_row("compress.sparsity"));
  const auto info = ct::read_json(out.dir / "artifact.json");
  BOOST_TEST(info.at("type").get<std::string>() == "model");
  BOOST_TEST(info.at("base").get<std::string>() == "base");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quantizers)

BOOST_AUTO_TEST_CASE(dynamic_int8_equals_direct_kernel_replacement) {
  ops::register_compressed_formats();
  // Default: every linear layer including the output head, as torch's quantize_dynamic(model, {nn.Linear});
  // include_output_head = false keeps the head in float.
  for (const bool head : {true, false}) {
    for (const std::string scheme : {"per_tensor", "per_channel"}) {
      for (const std::string fixture : {"gpt_neox", "bert"}) {
        BOOST_TEST_CONTEXT(fixture << " " << scheme << " head " << head) {
          json params = {{"scheme", scheme}};
          if (!head) params["include_output_head"] = false;
          auto out = ct::run_plugin("compress.dynamic_int8", params, {{"model", {ct::fixture_artifact(fixture)}}});
          auto compressed = rt::load_model(out.artifact());
          auto reference = rt::load_model(ct::fixture(fixture));
          ops::DynamicInt8Options options;
          options.scheme = ops::int8_weight_scheme_from_string(scheme);
          auto layers = reference->linear_layers(head);
          for (auto* slot : layers)
            slot->set_kernel(ops::DynamicInt8Linear::quantize(slot->kernel()->weight(), slot->kernel()->bias(), options));
          const auto ids = ids_for(reference->config().vocab_size);
          const auto expected = reference->forward(ids);
          const auto got = compressed->forward(ids);
          BOOST_TEST(torch::equal(got, expected));
          // and it is not the float model
          BOOST_TEST(!torch::equal(got, rt::load_model(ct::fixture(fixture))->forward(ids)));
          for (auto* slot : compressed->linear_layers(false)) BOOST_TEST(slot->kernel()->format() == "dynamic_int8");
          BOOST_TEST(compressed->linear(compressed->output_head_name()).kernel()->format() ==
                     (head ? "dynamic_int8" : "float"));

          check_common_rows(out, ct::fixture(fixture), layers.size());
          const auto header = ct::safetensors_header(out.dir / "model.safetensors");
          BOOST_TEST(out.row("compress.bits_per_weight").value == stored_bits_per_weight(header, layers),
                     boost::test_tools::tolerance(1e-12));
          BOOST_TEST(out.row("compress.calibration_samples").value == 0.0);
          // int8 codes plus a float32 scale and an int32 zero point per tensor / per output row (64 inputs
          // per row in these fixtures: +1 bit per weight; per tensor: +0.016 bit on a 64 x 64 layer)
          BOOST_TEST(out.row("compress.bits_per_weight").value > 8.0);
          BOOST_TEST(out.row("compress.bits_per_weight").value < (scheme == "per_tensor" ? 8.05 : 9.05));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(dynamic_int8_errors) {
  const auto input = std::map<std::string, std::vector<biaslab::Artifact>>{{"model", {ct::fixture_artifact("gpt_neox")}}};
  BOOST_CHECK_EXCEPTION(ct::run_plugin("compress.dynamic_int8", {{"bits", 3}}, input), std::invalid_argument,
                        [](const std::exception& e) { return std::string(e.what()).find("only 8-bit") != std::string::npos; });
  BOOST_CHECK_EXCEPTION(
      ct::run_plugin("compress.dynamic_int8", {{"overrides", json::array({{{"pattern", "*.mlp.*"}, {"bits", 4}}})}}, input),
      std::invalid_argument, [](const std::exception& e) {
        const std::string what = e.what();
        return what.find("mlp") != std::string::npos && what.find("only 8-bit") != std::string::npos;
      });
  BOOST_CHECK_EXCEPTION(ct::run_plugin("compress.dynamic_int8", {{"engine", "fbgemm-nope"}}, input), std::invalid_argument,
                        [](const std::exception& e) {
                          const std::string what = e.what();
                          return what.find("fbgemm-nope") != std::string::npos && what.find("available") != std::string::npos &&
                                 what.find("qnnpack") != std::string::npos;
                        });
  BOOST_CHECK_EXCEPTION(ct::run_plugin("compress.dynamic_int8", {{"include", json::array({"*nothing*"})}}, input),
                        std::invalid_argument,
                        [](const std::exception& e) { return std::string(e.what()).find("select no linear layer") != std::string::npos; });
  // schema errors: 5-bit RTN, unknown keys, bad scheme
  BOOST_TEST(!ct::schema_errors("compress.rtn", {{"bits", 5}}).empty());
  BOOST_TEST(ct::schema_errors("compress.rtn", {{"bits", 3}}).empty());
  BOOST_TEST(!ct::schema_errors("compress.gptq", {{"bits", 5}}).empty());
  BOOST_TEST(!ct::schema_errors("compress.rtn", {{"overrides", json::array({{{"pattern", "*"}, {"bits", 5}}})}}).empty());
  BOOST_TEST(!ct::schema_errors("compress.rtn", {{"overrides", json::array({{{"bits", 3}}})}}).empty());  // no pattern
  BOOST_TEST(!ct::schema_errors("compress.dynamic_int8", {{"scheme", "per_row"}}).empty());
  BOOST_TEST(!ct::schema_errors("compress.prune", {{"sparsity", 1.5}}).empty());
  BOOST_TEST(!ct::schema_errors("compress.prune", {{"nm", "2-4"}}).empty());
  BOOST_CHECK_THROW(ct::run_plugin("compress.rtn", {{"bits", 5}}, input), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rtn_with_overrides_equals_direct_quantization) {
  ops::register_compressed_formats();
  const json params = {{"bits", 4}, {"group_size", 32}, {"overrides", json::array({{{"pattern", "*.mlp.*"}, {"bits", 3}, {"group_size", -1}}})}};
  auto out = ct::run_plugin("compress.rtn", params, {{"model", {ct::fixture_artifact("llama")}}});
  auto compressed = rt::load_model(out.artifact());
  auto reference = rt::load_model(ct::fixture("llama"));
  auto layers = reference->linear_layers(false);
  for (auto* slot : layers) {
    ops::WeightQuantConfig config;
    const bool mlp = slot->name().find(".mlp.") != std::string::npos;
    config.bits = mlp ? 3 : 4;
    config.group_size = mlp ? -1 : 32;
    slot->set_kernel(rc::quantize_rtn(*slot->kernel(), config));
  }
  const auto ids = ids_for(reference->config().vocab_size);
  BOOST_TEST(torch::equal(compressed->forward(ids), reference->forward(ids)));
  const auto config = ct::read_json(out.dir / "config.json");
  const auto& q = config.at("biaslab_quantization").at("layers");
  BOOST_TEST(q.at("model.layers.0.mlp.up_proj").at("meta").at("bits").get<int>() == 3);
  BOOST_TEST(q.at("model.layers.1.self_attn.q_proj").at("meta").at("bits").get<int>() == 4);
  BOOST_TEST(q.at("model.layers.1.self_attn.q_proj").at("meta").at("group_size").get<int>() == 32);
  check_common_rows(out, ct::fixture("llama"), layers.size());
  const auto header = ct::safetensors_header(out.dir / "model.safetensors");
  BOOST_TEST(out.row("compress.bits_per_weight").value == stored_bits_per_weight(header, layers),
             boost::test_tools::tolerance(1e-12));
  // 4-bit codes with a float32 scale and a 4-bit zero per 32 weights: 4 + 32/32 + 4/32; 3-bit per row: ~3
  BOOST_TEST(out.row("compress.bits_per_weight").value > 3.0);
  BOOST_TEST(out.row("compress.bits_per_weight").value < 5.2);
  // 8-bit RTN loses almost nothing; 2-bit a lot more
  const auto windows = ct::contiguous_windows(ct::fixture("llama"), ct::calibration_text(), 2, 48);
  const double base = ct::causal_loss(*rt::load_model(ct::fixture("llama")), windows);
  const double q3 = ct::causal_loss(*compressed, windows);
  auto out8 = ct::run_plugin("compress.rtn", {{"bits", 8}}, {{"model", {ct::fixture_artifact("llama")}}});
  const double q8 = ct::causal_loss(*rt::load_model(out8.artifact()), windows);
  BOOST_TEST_MESSAGE("llama loss fp32 " << base << " rtn8 " << q8 << " rtn4/3 " << q3);
  BOOST_TEST(std::isfinite(q3));
  BOOST_TEST(std::abs(q8 - base) < 1e-2);
  BOOST_TEST(std::abs(q8 - base) < std::abs(q3 - base));
}

BOOST_AUTO_TEST_CASE(gptq_reconstruction_error_below_rtn) {
  ct::isolate_data_cache();
  ops::register_compressed_formats();
  const std::int64_t n = 6, seqlen = 64;
  const json common = {{"bits", 3}, {"group_size", -1}};
  json gptq = common;
  gptq.update({{"calibration_data", ct::calibration_text().string()}, {"nsamples", n}, {"seqlen", seqlen},
               {"sampling", "contiguous"}, {"sequential", "none"}});
  auto g = ct::run_plugin("compress.gptq", gptq, {{"model", {ct::fixture_artifact("gpt_neox")}}});
  auto r = ct::run_plugin("compress.rtn", common, {{"model", {ct::fixture_artifact("gpt_neox")}}});
  BOOST_TEST(g.row("compress.calibration_samples").value == static_cast<double>(n));

  // Hessians of the original model on the same windows, recorded here.
  auto original = rt::load_model(ct::fixture("gpt_neox"));
  rc::CalibrationOptions options;
  options.hessian = true;
  rc::CalibrationRecorder recorder(options);
  for (auto* slot : original->linear_layers(false)) recorder.attach(*slot);
  for (const auto& w : ct::contiguous_windows(ct::fixture("gpt_neox"), ct::calibration_text(), n, seqlen))
    (void)original->forward(torch::tensor(w, torch::kInt64).unsqueeze(0));
  auto gm = rt::load_model(g.artifact());
  auto rm = rt::load_model(r.artifact());
  double total_g = 0, total_r = 0;
  for (auto* slot : original->linear_layers(false)) {
    const auto H = recorder.at(slot->name()).xtx.to(torch::kFloat64);
    const auto W = slot->kernel()->weight().to(torch::kFloat64);
    auto err = [&](const rt::LanguageModel& m) {
      const auto d = m.linear(slot->name()).kernel()->weight().to(torch::kFloat64) - W;
      return torch::trace(d.matmul(H).matmul(d.t())).item<double>();  // ||(W - Q) X^T||^2
    };
    const double eg = err(*gm), er = err(*rm);
    BOOST_TEST_MESSAGE(slot->name() << " gptq " << eg << " rtn " << er << " reported loss "
                                    << g.row("compress.gptq_loss", slot->name()).value);
    BOOST_TEST(eg <= er);
    BOOST_TEST(g.row("compress.gptq_loss", slot->name()).value > 0.0);
    total_g += eg;
    total_r += er;
  }
  BOOST_TEST(total_g < 0.9 * total_r);
  check_common_rows(g, ct::fixture("gpt_neox"), original->linear_layers(false).size());

  // Sequential (true-sequential) GPTQ: loss finite and no worse than RTN's on held-out windows.
  json seq = gptq;
  seq["sequential"] = "layer";
  auto s = ct::run_plugin("compress.gptq", seq, {{"model", {ct::fixture_artifact("gpt_neox")}}});
  auto windows = ct::contiguous_windows(ct::fixture("gpt_neox"), ct::calibration_text(), n + 2, seqlen);
  windows.erase(windows.begin(), windows.begin() + n);
  const double base = ct::causal_loss(*original, windows);
  const double ls = ct::causal_loss(*rt::load_model(s.artifact()), windows);
  const double lr = ct::causal_loss(*rm, windows);
  BOOST_TEST_MESSAGE("gpt_neox held-out loss fp32 " << base << " gptq(seq) " << ls << " rtn " << lr);
  BOOST_TEST(std::isfinite(ls));
  BOOST_TEST(std::abs(ls - base) < 0.1);
  BOOST_TEST(ct::read_json(s.dir / "artifact.json").at("method").at("calibration_passes").get<int>() == 8);  // 4 per block
  BOOST_TEST(ct::read_json(g.dir / "artifact.json").at("method").at("calibration_passes").get<int>() == 1);

  // Llama: q/k/v and gate/up read the same tensors, so "layer" mode needs 4 passes per block, not 7.
  json llama = seq;
  llama["nsamples"] = 2;
  auto l = ct::run_plugin("compress.gptq", llama, {{"model", {ct::fixture_artifact("llama")}}});
  BOOST_TEST(ct::read_json(l.dir / "artifact.json").at("method").at("calibration_passes").get<int>() == 8);
  json block = llama;
  block["sequential"] = "block";
  auto b = ct::run_plugin("compress.gptq", block, {{"model", {ct::fixture_artifact("llama")}}});
  BOOST_TEST(ct::read_json(b.dir / "artifact.json").at("method").at("calibration_passes").get<int>() == 2);
  // the first group sees the original model in both orders: identical q/k/v
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"})
    BOOST_TEST(torch::equal(rt::load_model(l.artifact())->linear(name).kernel()->weight(),
                            rt::load_model(b.artifact())->linear(name).kernel()->weight()));
  // later layers of block 0 differ: in "layer" mode they were calibrated on quantized q/k/v outputs
  BOOST_TEST(!torch::equal(rt::load_model(l.artifact())->linear("model.layers.0.mlp.down_proj").kernel()->weight(),
                           rt::load_model(b.artifact())->linear("model.layers.0.mlp.down_proj").kernel()->weight()));
}

BOOST_AUTO_TEST_CASE(cast_dtypes_and_outputs) {
  for (const std::string fixture : {"gpt_neox", "llama"}) {
    BOOST_TEST_CONTEXT(fixture) {
      auto out = ct::run_plugin("compress.cast", {{"dtype", "bfloat16"}}, {{"model", {ct::fixture_artifact(fixture)}}});
      const auto header = ct::safetensors_header(out.dir / "model.safetensors");
      for (const auto& [name, t] : header) BOOST_TEST(t.dtype == "BF16", name);
      BOOST_TEST(header.count(fixture == "llama" ? "model.norm.weight" : "gpt_neox.final_layer_norm.weight") == 1u);
      BOOST_TEST(ct::read_json(out.dir / "config.json").at("torch_dtype").get<std::string>() == "bfloat16");
      // float16 (gpt_neox) or bfloat16 (llama) in, bfloat16 out: the same size.
      const auto stored = ct::stored_bytes(ct::safetensors_header(ct::fixture(fixture) / "model.safetensors"));
      BOOST_TEST(out.row("compress.bytes_before").value == static_cast<double>(stored));
      BOOST_TEST(2 * stored == fp32_bytes_of(ct::fixture(fixture)));
      BOOST_TEST(out.row("compress.bytes").value == out.row("compress.bytes_before").value);
      BOOST_TEST(out.row("compress.bits_per_weight").value == 16.0);
      rt::LoadOptions keep;
      keep.dtype = std::nullopt;
      auto cast = rt::load_model(out.artifact(), keep);
      BOOST_TEST(cast->dtype() == torch::kBFloat16);
      rt::LoadOptions bf16;
      bf16.dtype = torch::kBFloat16;
      auto reference = rt::load_model(ct::fixture(fixture), bf16);
      const auto ids = ids_for(reference->config().vocab_size);
      BOOST_TEST(torch::equal(cast->forward(ids), reference->forward(ids)));
    }
  }
  auto half = ct::run_plugin("compress.cast", {{"dtype", "float16"}}, {{"model", {ct::fixture_artifact("gpt2")}}});
  for (const auto& [name, t] : ct::safetensors_header(half.dir / "model.safetensors")) BOOST_TEST(t.dtype == "F16", name);
}

// "bytes before" is the input checkpoint's stored size whatever dtype the compressor works in: a bfloat16
// checkpoint (compress.cast output) pruned in float32 reports its bfloat16 bytes, not twice them.
BOOST_AUTO_TEST_CASE(bytes_before_is_the_stored_size_of_a_bf16_checkpoint) {
  auto cast = ct::run_plugin("compress.cast", {{"dtype", "bfloat16"}}, {{"model", {ct::fixture_artifact("gpt2")}}});
  const auto cast_header = ct::safetensors_header(cast.dir / "model.safetensors");
  const auto stored = ct::stored_bytes(cast_header);
  for (const auto& [name, t] : cast_header) BOOST_TEST(t.dtype == "BF16", name);
  auto pruned = ct::run_plugin("compress.prune", {{"method", "magnitude"}, {"sparsity", 0.5}},
                               {{"model", {ct::model_artifact(cast.dir, "cast")}}});
  BOOST_TEST(pruned.row("compress.bytes_before").value == static_cast<double>(stored));
  // the pruned model is written in float32, the working dtype: twice the stored input
  BOOST_TEST(pruned.row("compress.bytes").value == 2.0 * static_cast<double>(stored));
  auto int8 = ct::run_plugin("compress.dynamic_int8", json::object(), {{"model", {ct::model_artifact(cast.dir, "cast")}}});
  BOOST_TEST(int8.row("compress.bytes_before").value == static_cast<double>(stored));
}

BOOST_AUTO_TEST_CASE(smoothquant_folds_into_norms) {
  ct::isolate_data_cache();
  ops::register_compressed_formats();
  const json calib = {{"calibration_data", ct::calibration_text().string()}, {"nsamples", 4}, {"seqlen", 48}, {"sampling", "contiguous"}};
  for (const std::string fixture : {"gpt_neox", "llama", "gpt2"}) {
    BOOST_TEST_CONTEXT(fixture) {
      json smooth_only = calib;
      smooth_only["quantize"] = false;
      smooth_only["alpha"] = 0.8;
      auto s = ct::run_plugin("compress.smoothquant", smooth_only, {{"model", {ct::fixture_artifact(fixture)}}});
      auto original = rt::load_model(ct::fixture(fixture));
      auto smoothed = rt::load_model(s.artifact());
      const auto ids = ids_for(original->config().vocab_size);
      const auto expected = original->forward(ids);
      // same function, different weights
      BOOST_TEST(torch::allclose(smoothed->forward(ids), expected, 1e-4, 1e-4));
      const auto first = original->linear_layers(false).front()->name();
      BOOST_TEST(!torch::equal(smoothed->linear(first).kernel()->weight(), original->linear(first).kernel()->weight()));

      auto q = ct::run_plugin("compress.smoothquant", calib, {{"model", {ct::fixture_artifact(fixture)}}});
      auto quantized = rt::load_model(q.artifact());
      for (auto* slot : quantized->linear_layers(false)) {
        BOOST_TEST(slot->kernel()->format() == "dynamic_int8");
        // The paper's W8A8 defaults: per-token activation ranges (O1), all 8 bits.
        const auto* int8 = dynamic_cast<const ops::DynamicInt8Linear*>(slot->kernel().get());
        BOOST_REQUIRE(int8 != nullptr);
        BOOST_TEST((int8->options().activation_range == ops::ActivationRange::per_token));
        BOOST_TEST(!int8->options().reduce_range);
      }
      const auto got = quantized->forward(ids);
      const double rel = ((got - expected).norm() / expected.norm()).item<double>();
      BOOST_TEST_MESSAGE(fixture << " smoothquant W8A8 relative logit error " << rel);
      BOOST_TEST(rel < 0.1);
      BOOST_TEST(q.row("compress.calibration_samples").value == 4.0);
      check_common_rows(q, ct::fixture(fixture), original->linear_layers(false).size());
    }
  }
  BOOST_CHECK_EXCEPTION(ct::run_plugin("compress.smoothquant", calib, {{"model", {ct::fixture_artifact("bert")}}}),
                        std::invalid_argument,
                        [](const std::exception& e) { return std::string(e.what()).find("not supported for architecture 'bert'") != std::string::npos; });
}

BOOST_AUTO_TEST_SUITE_END()
