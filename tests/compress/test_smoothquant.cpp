// SmoothQuant: scales, the folding identity, and W8A8 with the dynamic int8 kernel.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/compress/calibration.hpp"
#include "biaslab/runtime/compress/smoothquant.hpp"
#include "test_util.hpp"

namespace compress = biaslab::runtime::compress;
namespace bt = biaslab::test;
using biaslab::runtime::FloatLinear;
using biaslab::runtime::Linear;

namespace {

struct Block {
  torch::Tensor norm_weight, norm_bias;
  std::vector<std::unique_ptr<Linear>> slots;
  torch::Tensor x;  // pre-norm input [tokens, hidden]

  torch::Tensor normed() const {
    return torch::layer_norm(x, {x.size(1)}, norm_weight, norm_bias, 1e-5);
  }
  std::vector<torch::Tensor> outputs() const {
    std::vector<torch::Tensor> out;
    const auto h = normed();
    for (const auto& s : slots) out.push_back((*s)(h));
    return out;
  }
  std::vector<Linear*> pointers() {
    std::vector<Linear*> out;
    for (auto& s : slots) out.push_back(s.get());
    return out;
  }
};

// A pre-LN attention input with a few outlier channels, feeding q, k, v.
Block make_block(std::uint64_t seed) {
  torch::manual_seed(seed);
  const std::int64_t hidden = 64;
  Block b;
  b.norm_weight = 1 + 0.1 * torch::randn({hidden});
  b.norm_bias = 0.1 * torch::randn({hidden});
  b.norm_weight.index_put_({torch::tensor({5, 17, 40}, torch::kLong)}, torch::tensor({30.0f, -25.0f, 40.0f}));
  for (const char* name : {"attn.q", "attn.k", "attn.v"})
    b.slots.push_back(std::make_unique<Linear>(
        name, std::make_shared<FloatLinear>(torch::randn({hidden, hidden}) * 0.05, torch::randn({hidden}) * 0.1)));
  b.x = torch::randn({256, hidden});
  return b;
}

torch::Tensor record_abs_max(Block& b) {
  compress::CalibrationRecorder recorder({.abs_max = true, .sq_norm = false, .hessian = false});
  for (auto* s : b.pointers()) recorder.attach(*s);
  b.outputs();
  for (auto* s : b.pointers()) compress::CalibrationRecorder::detach(*s);
  return recorder.at("attn.q").abs_max;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smoothquant)

BOOST_AUTO_TEST_CASE(scales_hand_computed) {
  FloatLinear a(torch::tensor({{1.0f, -2.0f}, {0.5f, 1.0f}}), std::nullopt);
  FloatLinear b(torch::tensor({{-0.25f, 4.0f}}), std::nullopt);
  // max|X| = [4, 1], max|W| per column over both layers = [1, 4].
  auto s = compress::smoothquant_scales(torch::tensor({4.0f, 1.0f}), {&a, &b}, 0.5);
  BOOST_TEST(bt::max_abs_diff(s, torch::tensor({2.0f, 0.5f})) < 1e-7);
  auto s75 = compress::smoothquant_scales(torch::tensor({4.0f, 1.0f}), {&a, &b}, 0.75);
  BOOST_TEST(bt::max_abs_diff(s75, torch::tensor({std::pow(4.0f, 0.75f), std::pow(4.0f, -0.25f)})) < 1e-6);
  // Zero weights and activations are clamped at 1e-5.
  FloatLinear z(torch::zeros({1, 2}), std::nullopt);
  auto sz = compress::smoothquant_scales(torch::tensor({0.0f, 1.0f}), {&z}, 0.5);
  BOOST_TEST(bt::max_abs_diff(sz, torch::tensor({1e-5f, 1.0f / std::sqrt(1e-5f)})) < 1e-3);
}

BOOST_AUTO_TEST_CASE(folding_preserves_the_float_function) {
  auto b = make_block(3);
  const auto before = b.outputs();
  const auto act_max = record_abs_max(b);
  BOOST_TEST(act_max.size(0) == 64);
  const auto norm_weight_alias = b.norm_weight;  // the model's tensor, changed in place
  compress::SmoothQuantConfig config;
  config.quantize = false;
  const auto scales = compress::smooth_quant(b.norm_weight, b.norm_bias, b.pointers(), act_max, config);
  BOOST_TEST(scales.size(0) == 64);
  BOOST_TEST(norm_weight_alias.data_ptr() == b.norm_weight.data_ptr());
  const auto after = b.outputs();
  for (std::size_t i = 0; i < before.size(); ++i) {
    const double rel = bt::max_abs_diff(before[i], after[i]) / before[i].abs().max().item<double>();
    BOOST_TEST_MESSAGE("folding identity, layer " << i << ": max relative difference " << rel);
    BOOST_TEST(rel < 1e-5);
  }
  // Smoothing flattened the activation outliers.
  const auto smoothed_max = std::get<0>(b.normed().abs().max(0));
  BOOST_TEST((smoothed_max.max() / smoothed_max.median()).item<double>() <
             (act_max.max() / act_max.median()).item<double>());
}

BOOST_AUTO_TEST_CASE(rms_norm_without_bias) {
  torch::manual_seed(4);
  auto gamma = 1 + torch::rand({32});
  auto slot = std::make_unique<Linear>("mlp.up", std::make_shared<FloatLinear>(torch::randn({48, 32}), std::nullopt));
  auto x = torch::randn({20, 32});
  auto rms = [&] { return x * torch::rsqrt(x.square().mean(-1, true) + 1e-6) * gamma; };
  const auto before = (*slot)(rms());
  const auto act_max = std::get<0>(rms().abs().max(0));
  auto scales = compress::smoothquant_scales(act_max, {slot->kernel().get()}, 0.8);
  compress::apply_smoothing(gamma, std::nullopt, {slot.get()}, scales);
  BOOST_TEST(bt::max_abs_diff((*slot)(rms()), before) / before.abs().max().item<double>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(w8a8_error_below_plain_int8_with_outliers) {
  auto reference_block = make_block(8);
  const auto reference = reference_block.outputs();

  // Plain W8A8 (per-tensor dynamic activations) without smoothing.
  auto plain = make_block(8);
  for (auto* s : plain.pointers())
    s->set_kernel(biaslab::runtime::ops::DynamicInt8Linear::quantize(s->kernel()->weight(), s->kernel()->bias(), {}));
  auto smooth = make_block(8);
  const auto act_max = record_abs_max(smooth);
  compress::smooth_quant(smooth.norm_weight, smooth.norm_bias, smooth.pointers(), act_max, {});
  BOOST_TEST(smooth.slots[0]->kernel()->format() == "dynamic_int8");
  const auto out_plain = plain.outputs();
  const auto out_smooth = smooth.outputs();
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double e_plain = (out_plain[i] - reference[i]).norm().item<double>();
    const double e_smooth = (out_smooth[i] - reference[i]).norm().item<double>();
    BOOST_TEST_MESSAGE("layer " << i << ": W8A8 error plain " << e_plain << ", smoothquant " << e_smooth);
    BOOST_TEST(e_smooth < 0.5 * e_plain);
  }
}

BOOST_AUTO_TEST_CASE(errors) {
  auto b = make_block(1);
  const auto act_max = record_abs_max(b);
  compress::smooth_quant(b.norm_weight, b.norm_bias, b.pointers(), act_max, {});
  try {
    compress::smooth_quant(b.norm_weight, b.norm_bias, b.pointers(), act_max, {});
    BOOST_FAIL("expected an error");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("layer 'attn.q' has format 'dynamic_int8'") != std::string::npos);
  }
  BOOST_CHECK_THROW(compress::SmoothQuantConfig::from_json({{"alpha", 1.5}}), std::invalid_argument);
  BOOST_CHECK_THROW(compress::SmoothQuantConfig::from_json({{"bits", 4}}), std::invalid_argument);
  auto c = compress::SmoothQuantConfig::from_json({{"alpha", 0.8}, {"scheme", "per_channel"}, {"reduce_range", false}});
  BOOST_TEST(c.alpha == 0.8);
  BOOST_TEST(!c.int8.reduce_range);
}

BOOST_AUTO_TEST_SUITE_END()
