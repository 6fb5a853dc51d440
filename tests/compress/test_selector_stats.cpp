// LayerSelector globs/overrides and compression statistics.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/compress/layer_selector.hpp"
#include "biaslab/runtime/compress/pruning.hpp"
#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/compress/stats.hpp"
#include "biaslab/runtime/ops/dynamic_int8_linear.hpp"

namespace compress = biaslab::runtime::compress;
using biaslab::runtime::FloatLinear;
using biaslab::runtime::Linear;

BOOST_AUTO_TEST_SUITE(selector_and_stats)

BOOST_AUTO_TEST_CASE(include_exclude_globs) {
  const std::vector<std::string> names{"gpt_neox.layers.0.attention.query_key_value", "gpt_neox.layers.0.mlp.dense_h_to_4h",
                                       "gpt_neox.layers.11.mlp.dense_4h_to_h", "embed_out", "lm_head"};
  compress::LayerSelector all;
  BOOST_TEST(all.filter(names) == names);
  compress::LayerSelector keep_heads({"*"}, {"embed_out", "lm_head"});
  BOOST_TEST(keep_heads.filter(names) == std::vector<std::string>(names.begin(), names.begin() + 3));
  auto mlp = compress::LayerSelector::from_json({{"include", {"*.mlp.*"}}, {"exclude", {"*.layers.1?.*"}}});
  BOOST_TEST(mlp.filter(names) == std::vector<std::string>{names[1]});
  BOOST_TEST(compress::LayerSelector::glob_match("gpt_neox.layers.[0-3].*", names[0]));
  BOOST_TEST(!compress::LayerSelector::glob_match("gpt_neox.layers.[0-3].*", names[2]));
  BOOST_TEST(!compress::LayerSelector::glob_match("mlp", names[1]));  // whole-name match
}

BOOST_AUTO_TEST_CASE(overrides_merge_in_order) {
  auto selector = compress::LayerSelector::from_json(
      {{"exclude", {"embed_out"}},
       {"overrides",
        {{{"pattern", "*.mlp.*"}, {"settings", {{"bits", 3}}}},
         {{"pattern", "*.layers.0.*"}, {"settings", {{"bits", 8}, {"group_size", -1}}}}}}});
  const nlohmann::json defaults{{"bits", 4}, {"group_size", 128}};
  BOOST_TEST(selector.settings_for("gpt_neox.layers.3.attention.dense", defaults) == defaults);
  BOOST_TEST(selector.settings_for("gpt_neox.layers.3.mlp.dense_h_to_4h", defaults) ==
             (nlohmann::json{{"bits", 3}, {"group_size", 128}}));
  BOOST_TEST(selector.settings_for("gpt_neox.layers.0.mlp.dense_h_to_4h", defaults) ==
             (nlohmann::json{{"bits", 8}, {"group_size", -1}}));
  BOOST_CHECK_THROW(compress::LayerSelector::from_json({{"includes", {"*"}}}), std::invalid_argument);
  BOOST_CHECK_THROW(compress::LayerSelector::from_json({{"overrides", {{{"pattern", "*"}}}}}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(statistics) {
  torch::manual_seed(1);
  auto float_layer = std::make_shared<FloatLinear>(torch::randn({256, 512}), torch::randn({256}));
  Linear dense("dense", float_layer);
  Linear pruned("pruned", compress::prune_magnitude(*float_layer, compress::SparsityTarget::n_m(2, 4)));
  Linear int4("int4", compress::quantize_rtn(*float_layer, {4, 128, false}));
  Linear int8("int8", biaslab::runtime::ops::DynamicInt8Linear::quantize(float_layer->weight(), float_layer->bias(), {}));

  auto s = compress::layer_compression_stats("dense", *float_layer);
  BOOST_TEST(s.weights == 256 * 512);
  BOOST_TEST(s.bits_per_weight() == 32.0);
  BOOST_TEST(s.bias_bytes == 1024);
  BOOST_TEST(s.sparsity() == 0.0);
  auto p = compress::layer_compression_stats("pruned", *pruned.kernel());
  BOOST_TEST(p.sparsity() == 0.5);
  auto q4 = compress::layer_compression_stats("int4", *int4.kernel());
  // 4 bits + a 32-bit scale and a 4-bit zero point per 128 weights.
  BOOST_TEST(q4.bits_per_weight() == 4.0 + 36.0 / 128.0);
  auto q8 = compress::layer_compression_stats("int8", *int8.kernel());
  BOOST_TEST(q8.bits_per_weight() == 8.0 + 64.0 / (256.0 * 512.0));

  auto summary = compress::summarize_compression({&dense, &pruned, &int4, &int8});
  BOOST_TEST(summary.layers.size() == 4u);
  BOOST_TEST(summary.weights == 4 * 256 * 512);
  BOOST_TEST(summary.storage_bytes == s.storage_bytes + p.storage_bytes + q4.storage_bytes + q8.storage_bytes);
  const auto json = summary.to_json();
  BOOST_TEST(json["layers"][2]["format"] == "weight_only");
  BOOST_TEST(json["layers"][1]["sparsity"].get<double>() == 0.5);
}

BOOST_AUTO_TEST_SUITE_END()
