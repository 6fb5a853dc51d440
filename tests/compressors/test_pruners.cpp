// compress.prune: measured sparsity of the saved models equals the target, per layer, per row,
// per N:M group and globally; Wanda / SparseGPT with calibration data.
#include <cmath>
#include <fstream>

#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/compress/pruning.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "compressor_test_support.hpp"

namespace ct = compressor_test;
namespace rt = biaslab::runtime;
namespace rc = biaslab::runtime::compress;
using nlohmann::json;

namespace {

std::int64_t zeros(const torch::Tensor& w) { return (w == 0).sum().item<std::int64_t>(); }

void check_rows_match_model(const ct::RunOutput& out, const rt::LanguageModel& model, const std::string& input_fixture) {
  std::int64_t total = 0, total_zero = 0;
  for (auto* slot : model.linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    BOOST_TEST(out.row("compress.sparsity", slot->name()).value ==
               static_cast<double>(zeros(w)) / static_cast<double>(w.numel()));
    total += w.numel();
    total_zero += zeros(w);
  }
  BOOST_TEST(out.row("compress.sparsity").value == static_cast<double>(total_zero) / static_cast<double>(total),
             boost::test_tools::tolerance(1e-12));
  // dense float storage: pruning saves no bytes, but the output is written in the float32 working dtype
  // while bytes_before is the input checkpoint as stored (float16 / bfloat16 fixtures: half as large)
  BOOST_TEST(out.row("compress.bytes").value == static_cast<double>(ct::stored_bytes(ct::safetensors_header(out.dir / "model.safetensors"))));
  const auto input_bytes = ct::stored_bytes(ct::safetensors_header(ct::fixture(input_fixture) / "model.safetensors"));
  BOOST_TEST(out.row("compress.bytes_before").value == static_cast<double>(input_bytes));
  BOOST_TEST(out.row("compress.bytes").value == 2.0 * out.row("compress.bytes_before").value);
  BOOST_TEST(out.row("compress.bits_per_weight").value == 32.0);
}

const json kCalibration = {{"nsamples", 4}, {"seqlen", 48}, {"sampling", "contiguous"}};

}  // namespace

BOOST_AUTO_TEST_SUITE(pruners)

BOOST_AUTO_TEST_CASE(magnitude_per_layer_and_overrides) {
  biaslab::runtime::ops::register_compressed_formats();
  const json params = {{"method", "magnitude"}, {"sparsity", 0.3},
                       {"exclude", json::array({"*.attention.dense"})},
                       {"overrides", json::array({{{"pattern", "*.mlp.*"}, {"sparsity", 0.7}}})}};
  auto out = ct::run_plugin("compress.prune", params, {{"model", {ct::fixture_artifact("gpt_neox")}}});
  auto model = rt::load_model(out.artifact());
  auto original = rt::load_model(ct::fixture("gpt_neox"));
  std::size_t touched = 0;
  for (auto* slot : model->linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    const auto w0 = original->linear(slot->name()).kernel()->weight();
    BOOST_TEST_CONTEXT(slot->name()) {
      if (slot->name().ends_with("attention.dense")) {
        BOOST_TEST(torch::equal(w, w0));
        BOOST_TEST(!out.has_row("compress.sparsity", slot->name()));
        continue;
      }
      ++touched;
      const double ratio = slot->name().find(".mlp.") != std::string::npos ? 0.7 : 0.3;
      BOOST_TEST(zeros(w) == static_cast<std::int64_t>(std::floor(static_cast<double>(w.numel()) * ratio)));
      // the survivors are untouched and are the largest magnitudes
      const auto kept = w != 0;
      BOOST_TEST(torch::equal(w.masked_select(kept), w0.masked_select(kept)));
      BOOST_TEST(w0.abs().masked_select(kept).min().item<float>() >= w0.abs().masked_select(~kept).max().item<float>());
    }
  }
  BOOST_TEST(out.row("compress.layers_touched").value == static_cast<double>(touched));
  std::int64_t total = 0, zero = 0;
  for (auto* slot : model->linear_layers(false)) {
    if (slot->name().ends_with("attention.dense")) continue;
    total += slot->kernel()->weight().numel();
    zero += zeros(slot->kernel()->weight());
  }
  BOOST_TEST(out.row("compress.sparsity").value == static_cast<double>(zero) / static_cast<double>(total),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(nm_and_global) {
  biaslab::runtime::ops::register_compressed_formats();
  auto nm = ct::run_plugin("compress.prune", {{"method", "nm"}}, {{"model", {ct::fixture_artifact("gpt2")}}});
  auto model = rt::load_model(nm.artifact());
  for (auto* slot : model->linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    const auto groups = (w.reshape({w.size(0), -1, 4}) != 0).sum(-1);
    BOOST_TEST((groups <= 2).all().item<bool>(), slot->name());
    BOOST_TEST(nm.row("compress.sparsity", slot->name()).value == 0.5);
  }
  check_rows_match_model(nm, *model, "gpt2");

  auto g = ct::run_plugin("compress.prune", {{"method", "magnitude_global"}, {"sparsity", 0.4}},
                          {{"model", {ct::fixture_artifact("gpt_neox")}}});
  auto gm = rt::load_model(g.artifact());
  auto original = rt::load_model(ct::fixture("gpt_neox"));
  std::vector<torch::Tensor> all, all0;
  for (auto* slot : gm->linear_layers(false)) {
    all.push_back(slot->kernel()->weight().flatten());
    all0.push_back(original->linear(slot->name()).kernel()->weight().flatten());
  }
  const auto w = torch::cat(all), w0 = torch::cat(all0);
  BOOST_TEST(zeros(w) == static_cast<std::int64_t>(std::floor(static_cast<double>(w.numel()) * 0.4)));
  const auto kept = w != 0;
  BOOST_TEST(w0.abs().masked_select(kept).min().item<float>() >= w0.abs().masked_select(~kept).max().item<float>());
  // one threshold: layers end up with different sparsities
  double lo = 1, hi = 0;
  for (auto* slot : gm->linear_layers(false)) {
    lo = std::min(lo, g.row("compress.sparsity", slot->name()).value);
    hi = std::max(hi, g.row("compress.sparsity", slot->name()).value);
  }
  BOOST_TEST(hi > lo);
  check_rows_match_model(g, *gm, "gpt_neox");

  const std::map<std::string, std::vector<biaslab::Artifact>> input{{"model", {ct::fixture_artifact("gpt_neox")}}};
  BOOST_CHECK_THROW(ct::run_plugin("compress.prune", {{"method", "magnitude_global"}, {"nm", "2:4"}}, input), std::invalid_argument);
  BOOST_CHECK_EXCEPTION(ct::run_plugin("compress.prune", {{"method", "magnitude"}, {"nm", "2:3"}}, input), std::invalid_argument,
                        [](const std::exception& e) { return std::string(e.what()).find("divisible") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(wanda_and_sparsegpt) {
  ct::isolate_data_cache();
  biaslab::runtime::ops::register_compressed_formats();
  json wanda = kCalibration;
  wanda.update({{"method", "wanda"}, {"sparsity", 0.5}, {"calibration_data", ct::calibration_text().string()}});
  auto out = ct::run_plugin("compress.prune", wanda, {{"model", {ct::fixture_artifact("llama")}}});
  auto model = rt::load_model(out.artifact());
  for (auto* slot : model->linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    // Wanda compares weights within each output row
    BOOST_TEST(((w == 0).sum(1) == w.size(1) / 2).all().item<bool>(), slot->name());
  }
  check_rows_match_model(out, *model, "llama");
  BOOST_TEST(out.row("compress.calibration_samples").value == 4.0);

  // Wanda's mask differs from plain magnitude's (the activation norms matter)
  auto mag = ct::run_plugin("compress.prune", {{"method", "magnitude"}, {"sparsity", 0.5}}, {{"model", {ct::fixture_artifact("llama")}}});
  auto mm = rt::load_model(mag.artifact());
  const auto name = model->linear_layers(false).front()->name();
  BOOST_TEST(!torch::equal(model->linear(name).kernel()->weight() == 0, mm->linear(name).kernel()->weight() == 0));

  json sgpt = kCalibration;
  sgpt.update({{"method", "sparsegpt"}, {"sparsity", 0.5}, {"block_size", 32}, {"calibration_data", ct::calibration_text().string()}});
  auto s = ct::run_plugin("compress.prune", sgpt, {{"model", {ct::fixture_artifact("gpt_neox")}}});
  auto sm = rt::load_model(s.artifact());
  for (auto* slot : sm->linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    BOOST_TEST(zeros(w) == w.numel() / 2, slot->name());
    BOOST_TEST(s.row("compress.sparsegpt_loss", slot->name()).value > 0.0);
  }
  check_rows_match_model(s, *sm, "gpt_neox");
  // SparseGPT 2:4 with a corpus artifact on the calibration port
  const auto corpus_dir = ct::temp_dir("corpus");
  {
    std::ifstream in(ct::calibration_text());
    std::ofstream train(corpus_dir / "train.jsonl");
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) train << json{{"text", line}}.dump() << "\n";
  }
  biaslab::Artifact corpus{.type = "corpus", .path = corpus_dir, .key = "corpus", .producer = "corpus"};
  json nm = kCalibration;
  nm.update({{"method", "sparsegpt"}, {"nm", "2:4"}});
  auto n = ct::run_plugin("compress.prune", nm, {{"model", {ct::fixture_artifact("gpt_neox")}}, {"calibration", {corpus}}});
  auto nmm = rt::load_model(n.artifact());
  for (auto* slot : nmm->linear_layers(false)) {
    const auto w = slot->kernel()->weight();
    BOOST_TEST(((w.reshape({w.size(0), -1, 4}) != 0).sum(-1) <= 2).all().item<bool>(), slot->name());
  }
  BOOST_TEST(ct::read_json(n.dir / "artifact.json").at("method").at("calibration").at("corpus").get<std::string>() == "corpus");
  BOOST_CHECK_THROW(ct::run_plugin("compress.prune", {{"method", "magnitude"}},
                                   {{"model", {ct::fixture_artifact("gpt_neox")}}, {"calibration", {corpus}}}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
