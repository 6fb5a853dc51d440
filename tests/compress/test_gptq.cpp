// GPTQ: equality with RTN when H = I, column-exact agreement with a PyTorch transcription of the
// reference algorithm, and lower reconstruction error than RTN on correlated inputs.
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "biaslab/runtime/compress/calibration.hpp"
#include "biaslab/runtime/compress/gptq.hpp"
#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "test_util.hpp"

namespace compress = biaslab::runtime::compress;
namespace ops = biaslab::runtime::ops;
namespace bt = biaslab::test;
using biaslab::runtime::FloatLinear;
using biaslab::runtime::Linear;

namespace {

// Inputs with strongly correlated features of very different scales (as in transformer
// activations), recorded through a Linear slot.
struct Problem {
  std::shared_ptr<FloatLinear> layer;
  torch::Tensor x;        // [tokens, in]
  torch::Tensor hessian;  // 2 X^T X / tokens
};

Problem make_problem(std::int64_t out, std::int64_t in, std::int64_t tokens, std::uint64_t seed) {
  torch::manual_seed(seed);
  auto mixing = torch::randn({in, in}) / std::sqrt(static_cast<double>(in));
  auto scales = torch::exp(torch::randn({in}));
  auto x = torch::randn({tokens, in}).matmul(mixing) * scales + 0.3 * torch::randn({1, in});
  x.select(1, 3).zero_();  // a dead input column
  Problem p;
  p.layer = std::make_shared<FloatLinear>(torch::randn({out, in}) * 0.1, torch::randn({out}) * 0.1);
  p.x = x;
  compress::CalibrationRecorder recorder({.abs_max = false, .sq_norm = false, .hessian = true});
  Linear slot("mlp.fc", p.layer);
  recorder.attach(slot);
  for (const auto& chunk : x.split(64)) slot(chunk.unsqueeze(0));  // batches of [1, 64, in]
  compress::CalibrationRecorder::detach(slot);
  const auto& stats = recorder.at("mlp.fc");
  BOOST_REQUIRE(stats.rows == tokens);
  p.hessian = stats.hessian();
  return p;
}

double reconstruction_error(const Problem& p, const biaslab::runtime::LinearKernel& q) {
  const auto w = p.layer->weight();
  return (p.x.matmul(w.t()) - p.x.matmul(q.weight().t())).norm().item<double>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gptq)

BOOST_AUTO_TEST_CASE(hessian_matches_definition) {
  auto p = make_problem(8, 16, 256, 5);
  auto expected = 2.0 * p.x.to(torch::kDouble).t().matmul(p.x.to(torch::kDouble)) / 256.0;
  BOOST_TEST(bt::max_abs_diff(p.hessian, expected) / expected.abs().max().item<double>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(identity_hessian_equals_rtn) {
  torch::manual_seed(2);
  FloatLinear layer(torch::randn({16, 64}), std::nullopt);
  for (auto config : {ops::WeightQuantConfig{4, 16, false}, ops::WeightQuantConfig{3, -1, true},
                      ops::WeightQuantConfig{2, 32, false}}) {
    compress::GptqConfig g;
    g.quant = config;
    g.block_size = 32;
    auto result = compress::gptq_quantize(layer, torch::eye(64), g, "fc");
    auto rtn = compress::quantize_rtn(layer, config);
    BOOST_TEST(torch::equal(result.kernel->codes(), rtn->codes()));
    BOOST_TEST(torch::equal(result.kernel->weight(), rtn->weight()));
  }
}

BOOST_AUTO_TEST_CASE(matches_reference_transcription) {
  at::set_num_threads(1);
  const auto p = make_problem(48, 96, 512, 9);
  struct Named {
    std::string name;
    compress::GptqConfig config;
  };
  std::vector<Named> configs;
  auto add = [&](std::string name, ops::WeightQuantConfig q, std::int64_t block, bool act_order, bool static_groups) {
    compress::GptqConfig c;
    c.quant = q;
    c.block_size = block;
    c.act_order = act_order;
    c.static_groups = static_groups;
    configs.push_back({std::move(name), c});
  };
  add("g4_perchannel", {4, -1, false}, 128, false, false);
  add("g3_group32_block32", {3, 32, false}, 32, false, false);
  add("g4_group24_block32_unaligned_sym", {4, 24, true}, 32, false, false);
  add("g4_group32_actorder", {4, 32, false}, 128, true, false);
  add("g2_group16_actorder_static", {2, 16, false}, 32, true, true);
  add("g8_sym_actorder_perchannel", {8, -1, true}, 64, true, false);

  const auto dir = bt::make_temp_dir("biaslab-gptq");
  std::map<std::string, torch::Tensor> inputs;
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& [name, c] : configs) {
    inputs[name + ".weight"] = p.layer->weight();
    inputs[name + ".hessian"] = p.hessian;
    cases.push_back({{"name", name},
                     {"method", "gptq"},
                     {"bits", c.quant.bits},
                     {"group_size", c.quant.group_size},
                     {"symmetric", c.quant.symmetric},
                     {"percdamp", c.percdamp},
                     {"block_size", c.block_size},
                     {"act_order", c.act_order},
                     {"static_groups", c.static_groups}});
  }
  bt::write_tensors(dir / "in", inputs);
  std::ofstream(dir / "in" / "cases.json") << cases.dump();
  bt::run_reference_script("hessian_methods_reference.py", {(dir / "in").string(), (dir / "out").string()});
  const auto ref = bt::read_tensors(dir / "out");
  ops::register_compressed_formats();
  for (const auto& [name, c] : configs) {
    BOOST_TEST_CONTEXT(name) {
      const auto result = compress::gptq_quantize(*p.layer, p.hessian, c, name);
      const auto q = result.kernel->weight();
      const double diff = bt::max_abs_diff(q, ref.at(name + ".q"));
      BOOST_TEST_MESSAGE(name << ": max |Q - Q_reference| = " << diff << ", loss " << result.loss);
      if (diff != 0.0) {
        const auto delta = (q - ref.at(name + ".q")).abs();
        const auto flat = delta.argmax().item<std::int64_t>();
        const auto r = flat / q.size(1), col = flat % q.size(1);
        const auto g = result.kernel->group_index()[col].item<std::int64_t>();
        BOOST_TEST_MESSAGE("first difference at [" << r << ", " << col << "]: " << q[r][col].item<float>() << " vs "
                                                   << ref.at(name + ".q")[r][col].item<float>() << " scale "
                                                   << result.kernel->scales()[r][g].item<float>() << " code "
                                                   << result.kernel->codes()[r][col].item<int>() << " zero "
                                                   << result.kernel->zero_points()[r][g].item<float>());
        BOOST_TEST_MESSAGE("row of differences: " << (delta[r] > 0).nonzero().flatten());
      }
      BOOST_TEST(diff == 0.0);
      BOOST_TEST((q.select(1, 3) == 0).all().item<bool>());  // dead column
      // The kernel reloads with its group index.
      std::map<std::string, torch::Tensor> tensors;
      nlohmann::json meta;
      result.kernel->serialize(tensors, meta);
      const bool permuted_groups = c.act_order && !c.static_groups && c.quant.group_size != -1;
      BOOST_TEST(tensors.count("g_idx") == (permuted_groups ? 1u : 0u));
      auto loaded = biaslab::runtime::load_linear_kernel("weight_only", tensors, meta);
      BOOST_TEST(torch::equal(loaded->weight(), q));
    }
  }
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(lower_reconstruction_error_than_rtn) {
  const auto p = make_problem(64, 256, 2048, 21);
  for (auto q : {ops::WeightQuantConfig{4, -1, false}, ops::WeightQuantConfig{4, 128, false},
                 ops::WeightQuantConfig{3, 128, false}, ops::WeightQuantConfig{3, 64, true},
                 ops::WeightQuantConfig{2, 64, false}}) {
    for (bool act_order : {false, true}) {
      // At 2 bits GPTQ needs act-order on these inputs (feature scales spread over e^{+-3}):
      // without it the error feedback overshoots the coarse grid and ends near RTN (ratio ~1.0
      // in the reference algorithm too), so only the act-order variant is asserted there.
      if (q.bits == 2 && !act_order) continue;
      compress::GptqConfig c;
      c.quant = q;
      c.act_order = act_order;
      const double e_gptq = reconstruction_error(p, *compress::gptq_quantize(*p.layer, p.hessian, c).kernel);
      const double e_rtn = reconstruction_error(p, *compress::quantize_rtn(*p.layer, q));
      BOOST_TEST_MESSAGE("bits " << q.bits << " group " << q.group_size << (q.symmetric ? " sym" : " asym")
                                 << (act_order ? " act_order" : "") << ": ||XW^T - XQ^T|| gptq " << e_gptq
                                 << " rtn " << e_rtn << " ratio " << e_gptq / e_rtn);
      BOOST_TEST(e_gptq < 0.9 * e_rtn);
    }
  }
}

BOOST_AUTO_TEST_CASE(config_and_errors) {
  auto c = compress::GptqConfig::from_json({{"bits", 3}, {"group_size", 64}, {"act_order", true}, {"percdamp", 0.05}});
  BOOST_TEST(c.quant.bits == 3);
  BOOST_TEST(c.quant.group_size == 64);
  BOOST_TEST(c.act_order);
  BOOST_TEST(c.percdamp == 0.05);
  auto message = [](const std::function<void()>& fn) -> std::string {
    try {
      fn();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no exception";
  };
  BOOST_TEST(message([] { compress::GptqConfig::from_json({{"bitz", 3}}); }).find("unknown key 'bitz'") !=
             std::string::npos);
  BOOST_TEST(message([] { compress::GptqConfig::from_json({{"bits", 5}}); }).find("bits must be") != std::string::npos);
  FloatLinear layer(torch::randn({4, 8}), std::nullopt);
  BOOST_TEST(message([&] { compress::gptq_quantize(layer, torch::eye(7), {}, "blocks.0.fc"); })
                 .find("gptq (layer 'blocks.0.fc'): Hessian must be [8, 8]") != std::string::npos);
  // A negative-definite Hessian cannot be dampened into a Cholesky factorisation.
  BOOST_TEST(message([&] { compress::gptq_quantize(layer, -torch::eye(8), {}, "fc"); }).find("not positive definite") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
