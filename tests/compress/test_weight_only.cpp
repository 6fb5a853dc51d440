// Bit packing, the RTN grid and the weight_only kernel, on hand-computed cases.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/compress/rtn.hpp"
#include "biaslab/runtime/ops/bit_packing.hpp"
#include "biaslab/runtime/ops/compressed_formats.hpp"
#include "biaslab/runtime/ops/weight_only_linear.hpp"
#include "biaslab/runtime/ops/weight_quantizer.hpp"
#include "test_util.hpp"

namespace ops = biaslab::runtime::ops;
namespace bt = biaslab::test;
using biaslab::runtime::FloatLinear;

namespace {
torch::Tensor bytes(std::vector<int> v) {
  return torch::tensor(std::vector<std::int64_t>(v.begin(), v.end())).to(torch::kByte).unsqueeze(0);
}
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no exception";
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

BOOST_AUTO_TEST_SUITE(weight_only)

BOOST_AUTO_TEST_CASE(bit_packing_layout) {
  // 4-bit: two codes per byte, low nibble first; 6 codes pad to 8 -> 4 bytes.
  auto p4 = ops::pack_codes(bytes({1, 2, 3, 15, 0, 5}), 4);
  BOOST_TEST(torch::equal(p4, bytes({0x21, 0xF3, 0x50, 0x00})));
  // 3-bit: 8 codes in 3 bytes; word = sum code_k << 3k = 2054353.
  auto p3 = ops::pack_codes(bytes({1, 2, 3, 4, 5, 6, 7, 0}), 3);
  BOOST_TEST(torch::equal(p3, bytes({209, 88, 31})));
  // 2-bit: four per byte.
  auto p2 = ops::pack_codes(bytes({3, 0, 1, 2}), 2);
  BOOST_TEST(torch::equal(p2, bytes({147, 0})));
  BOOST_TEST(ops::packed_row_bytes(512, 4) == 256);
  BOOST_TEST(ops::packed_row_bytes(512, 3) == 192);
  BOOST_TEST(ops::packed_row_bytes(13, 2) == 4);
  BOOST_TEST(ops::packed_row_bytes(13, 8) == 13);
  torch::manual_seed(7);
  for (int bits : {2, 3, 4, 8}) {
    for (std::int64_t cols : {1, 7, 8, 13, 128}) {
      auto codes = torch::randint(0, 1 << bits, {5, cols}, torch::kLong);
      auto packed = ops::pack_codes(codes, bits);
      BOOST_TEST(packed.size(1) == ops::packed_row_bytes(cols, bits));
      BOOST_TEST(torch::equal(ops::unpack_codes(packed, bits, cols), codes.to(torch::kByte)));
    }
  }
  BOOST_TEST(contains(error_of([] { ops::pack_codes(bytes({4}), 2); }), "out of range"));
  BOOST_TEST(contains(error_of([] { ops::pack_codes(bytes({1}), 5); }), "unsupported code width 5"));
  BOOST_TEST(contains(error_of([] { ops::unpack_codes(bytes({1, 2}), 4, 8); }), "expected uint8 [rows, 4]"));
}

BOOST_AUTO_TEST_CASE(quant_grid_hand_computed) {
  // Asymmetric 2-bit: [-1, 0, 0.5, 2] -> scale 1, zero 1, codes [0, 1, 1 (0.5 rounds to even 0), 3].
  ops::WeightQuantConfig a2{2, -1, false};
  auto row = torch::tensor({{-1.0f, 0.0f, 0.5f, 2.0f}});
  auto grid = ops::fit_quant_grid(row, a2);
  BOOST_TEST(grid.scale.item<float>() == 1.0f);
  BOOST_TEST(grid.zero.item<float>() == 1.0f);
  auto codes = ops::quantize_to_codes(row, grid, a2.max_code());
  BOOST_TEST(torch::equal(codes, torch::tensor({{0.0f, 1.0f, 1.0f, 3.0f}})));
  BOOST_TEST(torch::equal(ops::dequantize_codes(codes, grid), torch::tensor({{-1.0f, 0.0f, 0.0f, 2.0f}})));
  // Symmetric 4-bit: max|w| 3.75 -> scale 7.5/15 = 0.5, zero 8; -7.5 rounds to -8 -> code 0.
  ops::WeightQuantConfig s4{4, -1, true};
  auto srow = torch::tensor({{-3.75f, 0.3f, 1.25f, 2.0f}});
  auto sgrid = ops::fit_quant_grid(srow, s4);
  BOOST_TEST(sgrid.scale.item<float>() == 0.5f);
  BOOST_TEST(sgrid.zero.item<float>() == 8.0f);
  auto scodes = ops::quantize_to_codes(srow, sgrid, s4.max_code());
  BOOST_TEST(torch::equal(scodes, torch::tensor({{0.0f, 9.0f, 10.0f, 12.0f}})));
  BOOST_TEST(torch::equal(ops::dequantize_codes(scodes, sgrid), torch::tensor({{-4.0f, 0.5f, 1.0f, 2.0f}})));
  // GPTQ's symmetric quirk: no negative value -> xmin stays 0, scale = max / maxq, zero mid-range.
  auto pos = torch::tensor({{0.0f, 1.5f}});
  auto pgrid = ops::fit_quant_grid(pos, s4);
  BOOST_TEST(pgrid.scale.item<float>() == 0.1f);
  BOOST_TEST(ops::dequantize_codes(ops::quantize_to_codes(pos, pgrid, 15), pgrid)[0][1].item<float>() ==
             7 * 0.1f);
}

BOOST_AUTO_TEST_CASE(rtn_groups_hand_computed) {
  // 3-bit asymmetric, groups of 2 columns.
  auto w = torch::tensor({{0.0f, 1.0f, -2.0f, 5.0f}, {0.7f, 0.7f, 0.0f, 0.0f}});
  auto layer = FloatLinear(w, torch::tensor({0.5f, -0.5f}));
  auto q = biaslab::runtime::compress::quantize_rtn(layer, {3, 2, false});
  BOOST_TEST(q->groups() == 2);
  // row 0: [0,1] -> scale 1/7 zero 0 codes [0,7]; [-2,5] -> scale 1 zero 2 codes [0,7]
  // row 1: [.7,.7] -> scale .1 zero 0 codes [7,7]; [0,0] -> range [-1,1], scale 2/7 and
  // zero round(1 / float(2/7)) = round(3.4999998) = 3 (float32 arithmetic, as in torch)
  BOOST_TEST(torch::equal(q->codes(), torch::tensor({{0, 7, 0, 7}, {7, 7, 3, 3}}).to(torch::kByte)));
  BOOST_TEST(torch::equal(q->zero_points(), torch::tensor({{0.0f, 2.0f}, {0.0f, 3.0f}})));
  BOOST_TEST(bt::max_abs_diff(q->scales(), torch::tensor({{1.0 / 7, 1.0}, {0.1, 2.0 / 7}})) < 1e-7);
  BOOST_TEST(bt::max_abs_diff(q->weight(), w) < 1e-6);
  // Storage: qweight 2 rows x 3 bytes, scales 2x2 float32, qzeros 4 codes of 3 bits (padded to
  // 8 codes = 3 bytes), bias 8 bytes.
  BOOST_TEST(q->storage_bytes() == 6 + 16 + 3 + 8);
  auto x = torch::tensor({{1.0f, 2.0f, 3.0f, 4.0f}});
  BOOST_TEST(bt::max_abs_diff(q->forward(x), bt::reference_linear(x, q->weight(), torch::tensor({0.5f, -0.5f}))) <
             1e-5);
}

BOOST_AUTO_TEST_CASE(storage_is_packed_bits) {
  // Pythia-70m MLP shape, int4 asymmetric, group 128: 4 bits + (32 + 4) / 128 bits per weight.
  torch::manual_seed(3);
  auto layer = FloatLinear(torch::randn({2048, 512}), std::nullopt);
  auto q = biaslab::runtime::compress::quantize_rtn(layer, {4, 128, false});
  BOOST_TEST(q->storage_bytes() == 2048 * 256 + 2048 * 4 * 4 + 2048 * 4 / 2);
  BOOST_TEST(8.0 * static_cast<double>(q->storage_bytes()) / (2048.0 * 512.0) == 4.0 + 36.0 / 128.0);
  auto q3 = biaslab::runtime::compress::quantize_rtn(layer, {3, -1, true});
  BOOST_TEST(q3->storage_bytes() == 2048 * 192 + 2048 * 4);
  auto q2 = biaslab::runtime::compress::quantize_rtn(layer, {2, 64, true});
  BOOST_TEST(q2->storage_bytes() == 2048 * 128 + 2048 * 8 * 4);
}

BOOST_AUTO_TEST_CASE(forward_cache_and_reload) {
  ops::register_compressed_formats();
  torch::manual_seed(11);
  auto w = torch::randn({24, 40});
  auto b = torch::randn({24});
  auto layer = FloatLinear(w, b);
  auto x = torch::randn({3, 5, 40});
  for (int bits : {2, 3, 4, 8}) {
    for (std::int64_t group : {std::int64_t{-1}, std::int64_t{16}}) {
      for (bool sym : {false, true}) {
        ops::WeightQuantConfig config{bits, group, sym};
        auto q = biaslab::runtime::compress::quantize_rtn(layer, config);
        auto cached = biaslab::runtime::compress::quantize_rtn(layer, config, /*cache_dequantized=*/true);
        BOOST_TEST(cached->caches_dequantized());
        auto y = q->forward(x);
        BOOST_TEST(torch::equal(y, cached->forward(x)));
        BOOST_TEST(bt::max_abs_diff(y, bt::reference_linear(x, q->weight(), b)) < 1e-4);
        std::map<std::string, torch::Tensor> tensors;
        nlohmann::json meta;
        q->serialize(tensors, meta);
        BOOST_TEST(tensors.count("qzeros") == (sym ? 0u : 1u));
        auto loaded = biaslab::runtime::load_linear_kernel("weight_only", tensors, meta);
        BOOST_TEST(torch::equal(loaded->weight(), q->weight()));
        BOOST_TEST(torch::equal(loaded->forward(x), y));
        BOOST_TEST(loaded->storage_bytes() == q->storage_bytes());
      }
    }
  }
  // bf16 activations: output dtype follows the input.
  auto q = biaslab::runtime::compress::quantize_rtn(layer, {4, 16, false});
  BOOST_TEST(q->forward(x.to(torch::kBFloat16)).scalar_type() == torch::kBFloat16);
}

BOOST_AUTO_TEST_CASE(explicit_group_index_round_trips) {
  ops::register_compressed_formats();
  // Columns 0 and 3 share group 1, columns 1 and 2 group 0 (the act-order layout).
  ops::WeightOnlyLinear::Parts parts;
  parts.codes = torch::tensor({{1, 2, 3, 4}, {15, 0, 7, 8}}).to(torch::kByte);
  parts.scales = torch::tensor({{0.5f, 2.0f}, {1.0f, 0.25f}});
  parts.zeros = torch::tensor({{8, 1}, {0, 8}}).to(torch::kByte);
  parts.group_index = torch::tensor({1, 0, 0, 1}, torch::kInt);
  ops::WeightOnlyLinear q({4, 2, false}, parts);
  auto expected = torch::tensor({{(1 - 1) * 2.0f, (2 - 8) * 0.5f, (3 - 8) * 0.5f, (4 - 1) * 2.0f},
                                 {(15 - 8) * 0.25f, (0 - 0) * 1.0f, (7 - 0) * 1.0f, (8 - 8) * 0.25f}});
  BOOST_TEST(torch::equal(q.weight(), expected));
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;
  q.serialize(tensors, meta);
  BOOST_TEST(tensors.count("g_idx") == 1u);
  auto loaded = biaslab::runtime::load_linear_kernel("weight_only", tensors, meta);
  BOOST_TEST(torch::equal(loaded->weight(), expected));
}

BOOST_AUTO_TEST_CASE(clear_errors) {
  auto layer = FloatLinear(torch::randn({4, 8}), std::nullopt);
  BOOST_TEST(contains(error_of([&] { biaslab::runtime::compress::quantize_rtn(layer, {5, -1, false}); }),
                      "bits must be 2, 3, 4 or 8"));
  BOOST_TEST(contains(error_of([&] { biaslab::runtime::compress::quantize_rtn(layer, {4, 0, false}); }), "group_size"));
  auto q = biaslab::runtime::compress::quantize_rtn(layer, {4, 4, false});
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json meta;
  q->serialize(tensors, meta);
  auto bad = tensors;
  bad["qweight"] = bad["qweight"].narrow(1, 0, 2);
  BOOST_TEST(contains(error_of([&] { ops::WeightOnlyLinear::load(bad, meta); }), "tensor 'qweight' must be uint8"));
  bad = tensors;
  bad.erase("qzeros");
  BOOST_TEST(contains(error_of([&] { ops::WeightOnlyLinear::load(bad, meta); }), "missing tensor 'qzeros'"));
  auto bad_meta = meta;
  bad_meta.erase("bits");
  BOOST_TEST(contains(error_of([&] { ops::WeightOnlyLinear::load(tensors, bad_meta); }), "'bits'"));
  bad = tensors;
  bad["g_idx"] = torch::tensor({0, 0, 5, 1, 1, 1, 1, 1}, torch::kInt);
  BOOST_TEST(contains(error_of([&] { ops::WeightOnlyLinear::load(bad, meta); }), "group index values"));
  BOOST_TEST(contains(error_of([&] { q->forward(torch::randn({2, 3})); }), "must be 8"));
}

BOOST_AUTO_TEST_SUITE_END()
