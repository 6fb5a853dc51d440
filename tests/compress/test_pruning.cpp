// Magnitude, N:M, Wanda and SparseGPT pruning.
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "biaslab/runtime/compress/calibration.hpp"
#include "biaslab/runtime/compress/pruning.hpp"
#include "biaslab/runtime/compress/sparsegpt.hpp"
#include "biaslab/runtime/compress/stats.hpp"
#include "test_util.hpp"

namespace compress = biaslab::runtime::compress;
namespace bt = biaslab::test;
using biaslab::runtime::FloatLinear;
using biaslab::runtime::Linear;

namespace {
torch::Tensor t2(std::vector<std::vector<float>> rows) {
  std::vector<torch::Tensor> out;
  for (auto& r : rows) out.push_back(torch::tensor(r));
  return torch::stack(out);
}
double sparsity(const biaslab::runtime::LinearKernel& k) { return compress::layer_compression_stats("", k).sparsity(); }
}  // namespace

BOOST_AUTO_TEST_SUITE(pruning)

BOOST_AUTO_TEST_CASE(magnitude_hand_computed) {
  FloatLinear layer(t2({{1, -5, 3, 0.5}, {2, -0.1f, 4, -3}}), torch::tensor({1.0f, 2.0f}));
  auto pruned = compress::prune_magnitude(layer, compress::SparsityTarget::unstructured(0.5));
  BOOST_TEST(torch::equal(pruned->weight(), t2({{0, -5, 3, 0}, {0, 0, 4, -3}})));
  BOOST_TEST(torch::equal(*pruned->bias(), torch::tensor({1.0f, 2.0f})));
  BOOST_TEST(pruned->format() == "float");
  BOOST_TEST(sparsity(*pruned) == 0.5);
  // Ties: exactly floor(4 * 0.5) = 2 pruned, lower index first.
  FloatLinear ties(t2({{1, 1, 1, 1}}), std::nullopt);
  BOOST_TEST(torch::equal(compress::prune_magnitude(ties, compress::SparsityTarget::unstructured(0.5))->weight(),
                          t2({{0, 0, 1, 1}})));
  // floor(8 * 0.3) = 2
  BOOST_TEST(sparsity(*compress::prune_magnitude(layer, compress::SparsityTarget::unstructured(0.3))) == 0.25);
  // Keeps the stored dtype.
  FloatLinear bf(layer.weight().to(torch::kBFloat16), std::nullopt);
  auto pbf = compress::prune_magnitude(bf, compress::SparsityTarget::unstructured(0.5));
  BOOST_TEST(pbf->raw_weight().scalar_type() == torch::kBFloat16);
}

BOOST_AUTO_TEST_CASE(n_m_hand_computed) {
  FloatLinear layer(t2({{1, -3, 2, 0.5, 0.1f, 0.2f, -0.3f, 0.4f}}), std::nullopt);
  auto p24 = compress::prune_magnitude(layer, compress::SparsityTarget::n_m(2, 4));
  BOOST_TEST(torch::equal(p24->weight(), t2({{0, -3, 2, 0, 0, 0, -0.3f, 0.4f}})));
  auto p14 = compress::prune_magnitude(layer, compress::SparsityTarget::n_m(1, 4));
  BOOST_TEST(torch::equal(p14->weight(), t2({{0, -3, 0, 0, 0, 0, 0, 0.4f}})));
  BOOST_TEST(compress::SparsityTarget::n_m(2, 4).effective_ratio() == 0.5);
  FloatLinear odd(torch::randn({2, 6}), std::nullopt);
  BOOST_CHECK_EXCEPTION(compress::prune_magnitude(odd, compress::SparsityTarget::n_m(2, 4)), std::invalid_argument,
                        [](const std::exception& e) { return std::string(e.what()).find("not a multiple of m=4") != std::string::npos; });
}

BOOST_AUTO_TEST_CASE(global_magnitude_spans_layers) {
  FloatLinear a(t2({{0.1f, 0.15f}}), std::nullopt);
  FloatLinear b(t2({{0.2f, 0.3f, 4, 6}}), std::nullopt);
  auto pruned = compress::prune_magnitude_global({&a, &b}, 0.5);
  BOOST_TEST(torch::equal(pruned[0]->weight(), t2({{0, 0}})));
  BOOST_TEST(torch::equal(pruned[1]->weight(), t2({{0, 0.3f, 4, 6}})));
}

BOOST_AUTO_TEST_CASE(wanda_uses_activation_norms) {
  auto w = t2({{1.0f, 0.5f, -2.0f, 0.25f}, {0.3f, -1.0f, 0.2f, 4.0f}});
  auto layer = std::make_shared<FloatLinear>(w, std::nullopt);
  // One calibration token with these values: ||X_j||_2 = |x_j|.
  compress::CalibrationRecorder recorder;
  Linear slot("fc", layer);
  recorder.attach(slot);
  slot(torch::tensor({{1.0f, 10.0f, 0.1f, 2.0f}}));
  const auto norms = recorder.at("fc").column_norms();
  BOOST_TEST(bt::max_abs_diff(norms, torch::tensor({1.0f, 10.0f, 0.1f, 2.0f})) < 1e-6);
  // Scores row 0: [1, 5, 0.2, 0.5] -> prune cols 2, 3; row 1: [0.3, 10, 0.02, 8] -> cols 2, 0.
  auto wanda = compress::prune_wanda(*layer, norms, compress::SparsityTarget::unstructured(0.5));
  BOOST_TEST(torch::equal(wanda->weight(), t2({{1.0f, 0.5f, 0, 0}, {0, -1.0f, 0, 4.0f}})));
  auto magnitude = compress::prune_magnitude(*layer, compress::SparsityTarget::unstructured(0.5));
  BOOST_TEST(torch::equal(magnitude->weight(), t2({{1.0f, 0, -2.0f, 0}, {0, -1.0f, 0, 4.0f}})));
  BOOST_TEST(!torch::equal(wanda->weight(), magnitude->weight()));
  // 2:4 with the same scores keeps the two largest per group of four.
  auto wanda24 = compress::prune_wanda(*layer, norms, compress::SparsityTarget::n_m(2, 4));
  BOOST_TEST(torch::equal(wanda24->weight(), wanda->weight()));
}

BOOST_AUTO_TEST_CASE(sparsegpt_matches_reference_and_beats_magnitude) {
  at::set_num_threads(1);
  torch::manual_seed(31);
  const std::int64_t out = 64, in = 128, tokens = 1024;
  auto mixing = torch::randn({in, in}) / std::sqrt(static_cast<double>(in));
  auto x = torch::randn({tokens, in}).matmul(mixing) * torch::exp(torch::randn({in}));
  auto layer = std::make_shared<FloatLinear>(torch::randn({out, in}) * 0.1, torch::randn({out}));
  compress::CalibrationRecorder recorder({.abs_max = false, .sq_norm = true, .hessian = true});
  recorder.observe("fc", x);
  const auto hessian = recorder.at("fc").hessian();
  const auto norms = recorder.at("fc").column_norms();
  const auto w = layer->weight();
  auto error = [&](const biaslab::runtime::LinearKernel& k) {
    return (x.matmul(w.t()) - x.matmul(k.weight().t())).norm().item<double>();
  };

  struct Named {
    std::string name;
    compress::SparseGptConfig config;
  };
  std::vector<Named> configs;
  for (double r : {0.5, 0.7}) {
    compress::SparseGptConfig c;
    c.target = compress::SparsityTarget::unstructured(r);
    c.block_size = 32;
    configs.push_back({"unstructured_" + std::to_string(static_cast<int>(r * 100)), c});
  }
  compress::SparseGptConfig nm;
  nm.target = compress::SparsityTarget::n_m(2, 4);
  configs.push_back({"nm_2_4", nm});

  const auto dir = bt::make_temp_dir("biaslab-sparsegpt");
  std::map<std::string, torch::Tensor> inputs;
  nlohmann::json cases = nlohmann::json::array();
  for (const auto& [name, c] : configs) {
    inputs[name + ".weight"] = w;
    inputs[name + ".hessian"] = hessian;
    nlohmann::json j{{"name", name}, {"method", "sparsegpt"}, {"percdamp", c.percdamp}, {"block_size", c.block_size}};
    if (c.target.pattern) {
      j["n"] = c.target.pattern->kept;
      j["m"] = c.target.pattern->group;
    } else {
      j["sparsity"] = c.target.ratio;
    }
    cases.push_back(j);
  }
  bt::write_tensors(dir / "in", inputs);
  std::ofstream(dir / "in" / "cases.json") << cases.dump();
  bt::run_reference_script("hessian_methods_reference.py", {(dir / "in").string(), (dir / "out").string()});
  const auto ref = bt::read_tensors(dir / "out");

  for (const auto& [name, c] : configs) {
    BOOST_TEST_CONTEXT(name) {
      auto result = compress::sparsegpt_prune(*layer, hessian, c, name);
      BOOST_TEST(bt::max_abs_diff(result.kernel->weight(), ref.at(name + ".q")) == 0.0);
      // Unstructured: floor(rows * block * ratio) per block of columns; N:M: exactly 1 - n/m.
      const double expected_zeros =
          c.target.pattern ? out * in * c.target.effective_ratio()
                           : static_cast<double>(in / c.block_size) *
                                 std::floor(static_cast<double>(out * c.block_size) * c.target.ratio);
      BOOST_TEST(sparsity(*result.kernel) == expected_zeros / static_cast<double>(out * in));
      if (c.target.pattern) {
        auto nonzero_per_group = (result.kernel->weight() != 0).reshape({out, in / 4, 4}).sum(-1);
        BOOST_TEST((nonzero_per_group <= 2).all().item<bool>());
      }
      const double e_sparse = error(*result.kernel);
      const double e_magnitude = error(*compress::prune_magnitude(*layer, c.target));
      const double e_wanda = error(*compress::prune_wanda(*layer, norms, c.target));
      BOOST_TEST_MESSAGE(name << ": ||XW^T - XW_p^T|| sparsegpt " << e_sparse << " wanda " << e_wanda << " magnitude "
                              << e_magnitude);
      BOOST_TEST(e_sparse < 0.9 * e_magnitude);
      BOOST_TEST(e_wanda < e_magnitude);
    }
  }
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(targets_from_json) {
  auto t = compress::SparsityTarget::from_json({{"sparsity", 0.6}});
  BOOST_TEST(!t.pattern.has_value());
  BOOST_TEST(t.ratio == 0.6);
  auto nm = compress::SparsityTarget::from_json({{"n", 2}, {"m", 4}});
  BOOST_TEST(nm.pattern->kept == 2);
  BOOST_CHECK_THROW(compress::SparsityTarget::from_json({{"sparsity", 0.5}, {"n", 2}, {"m", 4}}), std::invalid_argument);
  BOOST_CHECK_THROW(compress::SparsityTarget::from_json({{"sparsity", 1.5}}), std::invalid_argument);
  BOOST_CHECK_THROW(compress::SparsityTarget::from_json({{"n", 5}, {"m", 4}}), std::invalid_argument);
  auto sg = compress::SparseGptConfig::from_json({{"n", 2}, {"m", 4}, {"block_size", 64}});
  BOOST_TEST(sg.block_size == 64);
  BOOST_CHECK_THROW(compress::SparseGptConfig::from_json({{"n", 2}, {"m", 4}, {"block_size", 66}}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
