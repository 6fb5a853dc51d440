// numpy / CPython arithmetic compared bit for bit with /usr/bin/python3 (numpy 1.24): pairwise sums,
// means, std, both round() rules, repr, the legacy MT19937 stream and shuffles, the causal score.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "biaslab/eval/likelihood.hpp"
#include "biaslab/eval/numpy_random.hpp"
#include "biaslab/eval/python_numeric.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

BOOST_AUTO_TEST_SUITE(python_numeric)

BOOST_AUTO_TEST_CASE(numpy_reductions_bit_exact) {
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> exponent(-20, 20);
  std::vector<std::vector<double>> arrays;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (std::size_t n : {511u, 512u, 1000u, 1029u, 4099u}) lengths.push_back(n);
  for (std::size_t n : lengths) {
    std::vector<double> values(n);
    for (auto& v : values) v = normal(rng) * std::exp(exponent(rng));  // wide magnitudes expose the order
    arrays.push_back(values);
  }
  const auto reference = eval_test::run_python("numpy_reference.py", {{"op", "reductions"}, {"arrays", arrays}});
  std::size_t compared = 0;
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    const auto& r = reference[i];
    BOOST_TEST_CONTEXT("n = " << arrays[i].size()) {
      BOOST_TEST(numpy_sum(arrays[i]) == r["np_sum"].get<double>());
      BOOST_TEST(python_sum(arrays[i]) == r["py_sum"].get<double>());
      if (!r["np_mean"].is_null()) BOOST_TEST(numpy_mean(arrays[i]) == r["np_mean"].get<double>());
      if (!r["np_std0"].is_null()) BOOST_TEST(numpy_std(arrays[i], 0) == r["np_std0"].get<double>());
      if (!r["np_std1"].is_null()) BOOST_TEST(numpy_std(arrays[i], 1) == r["np_std1"].get<double>());
    }
    ++compared;
  }
  BOOST_TEST(compared == arrays.size());
  // A case where the order matters: pairwise != sequential.
  std::vector<double> v = {1e16, 1.0, -1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0};
  BOOST_TEST(python_sum(v) != numpy_sum(v));
  BOOST_TEST(std::isnan(numpy_mean(std::vector<double>{})));
}

BOOST_AUTO_TEST_CASE(round_rules_and_repr_match_python) {
  std::vector<double> values;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> thousandths(-40000, 40000);
  std::uniform_real_distribution<double> uniform(-40, 40);
  for (int i = 0; i < 3000; ++i) {  // exact-looking halves and their neighbours: where the rules differ
    const double half = (thousandths(rng) + 0.5) / 1000.0;
    values.push_back(half);
    values.push_back(std::nextafter(half, 0.0));
    values.push_back(std::nextafter(half, 1e9));
    values.push_back(uniform(rng));
  }
  for (double x : {-14.3505, 2.675, 0.0625, -0.0004, 1e-300, 123456.0005, 0.0, -0.0}) values.push_back(x);
  const auto reference = eval_test::run_python("numpy_reference.py", {{"op", "rounding"}, {"values", values}});
  std::size_t rules_differ = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& r = reference[i];
    const double x = values[i];
    BOOST_TEST_CONTEXT("x = " << python_float_repr(x)) {
      BOOST_TEST(python_round(x, 3) == r["python3"].get<double>());
      BOOST_TEST(numpy_round(x, 3) == r["numpy3"].get<double>());
      BOOST_TEST(python_round(x * 100, 2) == r["python2"].get<double>());
      BOOST_TEST(python_float_repr(x) == r["repr"].get<std::string>());
    }
    rules_differ += python_round(x, 3) != numpy_round(x, 3);
  }
  BOOST_TEST(rules_differ > 100u);  // the two rules really are different
  BOOST_TEST(python_round(-14.3505, 3) == -14.351);
  BOOST_TEST(numpy_round(-14.3505, 3) == -14.35);
}

BOOST_AUTO_TEST_CASE(repr_formats) {
  const std::vector<double> values = {765.0, 0.30342, 1e-05, 0.0001, 1e16, 1e15, 123456789012345678.0, 5e-324,
                                      1.7976931348623157e308, -2.5e-7, 69.37221078255025, 100.0, 1.5, 0.1};
  const auto reference = eval_test::run_python("numpy_reference.py", {{"op", "repr"}, {"values", values}});
  for (std::size_t i = 0; i < values.size(); ++i) BOOST_TEST(python_float_repr(values[i]) == reference[i].get<std::string>());
  BOOST_TEST(python_float_repr(std::numeric_limits<double>::quiet_NaN()) == "nan");
  BOOST_TEST(python_float_repr(-std::numeric_limits<double>::infinity()) == "-inf");
  BOOST_TEST(python_float_repr(-0.0) == "-0.0");
}

BOOST_AUTO_TEST_CASE(python_lower_cases) {
  BOOST_TEST(python_lower("Élise MÜLLER ÇA") == "élise müller ça");
  BOOST_TEST(python_lower("İstanbul") == "i\xCC\x87stanbul");
  BOOST_TEST(python_lower("ΑΘΗΝΑ Москва Ÿ") == "αθηνα москва ÿ");
  BOOST_TEST(python_lower("already lower ’ «»") == "already lower ’ «»");
  BOOST_CHECK_THROW(python_lower("\xC3"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(mt19937_stream_and_shuffles_match_numpy) {
  const std::vector<std::size_t> sizes = {0, 1, 2, 3, 10, 100, 1000, 70000};
  const auto reference = eval_test::run_python(
      "numpy_reference.py", {{"op", "mt19937"}, {"seed", 0}, {"n_raw", 2000}, {"shuffle_sizes", sizes},
                             {"cumulative_size", 104}, {"cumulative_rounds", 50}});
  NumpyRandomState raw(0);
  const auto expected_raw = reference["raw"].get<std::vector<std::uint64_t>>();
  BOOST_REQUIRE_EQUAL(expected_raw.size(), 2000u);
  BOOST_TEST(expected_raw[0] == 2357136044u);
  for (std::size_t i = 0; i < expected_raw.size(); ++i) BOOST_TEST_REQUIRE(raw.next_uint32() == expected_raw[i]);

  NumpyRandomState rng(0);  // np.random.seed(0), then shuffles share the stream
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    std::vector<std::int64_t> values(sizes[k]);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int64_t>(i);
    rng.shuffle(std::span<std::int64_t>(values));
    BOOST_TEST(values == reference["shuffles"][k].get<std::vector<std::int64_t>>());
  }
  NumpyRandomState cumulative(0);
  std::vector<std::int64_t> xy(104);
  for (std::size_t i = 0; i < xy.size(); ++i) xy[i] = static_cast<std::int64_t>(i);
  for (std::size_t round = 0; round < 50; ++round) {
    cumulative.shuffle(std::span<std::int64_t>(xy));
    BOOST_TEST(xy == reference["cumulative"][round].get<std::vector<std::int64_t>>());
  }
  // random_interval: values stay in range and use the smallest mask (max = 5 -> mask 7).
  NumpyRandomState a(3), b(3);
  for (int i = 0; i < 1000; ++i) {
    const auto v = a.random_interval(5);
    BOOST_TEST(v <= 5u);
    std::uint32_t expected;
    while ((expected = b.next_uint32() & 7u) > 5u) {
    }
    BOOST_TEST(v == expected);
  }
  BOOST_TEST(a.random_interval(0) == 0u);
}

BOOST_AUTO_TEST_CASE(causal_score_matches_numpy) {
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> log_prob(-25.0, 0.0);
  std::vector<std::vector<double>> cases;
  for (std::size_t n = 1; n <= 60; ++n) {
    std::vector<double> probs(n);
    for (auto& p : probs) p = static_cast<double>(static_cast<float>(std::exp(log_prob(rng))));  // float32 softmax values
    cases.push_back(probs);
  }
  const auto reference = eval_test::run_python("numpy_reference.py", {{"op", "causal_score"}, {"probabilities", cases}});
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const double ours = bias_bench_causal_score(cases[i]);
    BOOST_TEST(ours == reference[i]["libm"].get<double>());  // same pairwise sum, libm log2/pow
    BOOST_TEST(ours == reference[i]["numpy"].get<double>(), boost::test_tools::tolerance(1e-14));  // SVML on AVX-512
  }

  const std::vector<std::int64_t> ids = {464, 19780, 2137};
  const auto targets = bias_bench_causal_targets(ids);
  BOOST_REQUIRE_EQUAL(targets.size(), 3u);
  BOOST_TEST((targets[0].pass == CausalPass::bos_only && targets[0].position == 0 && targets[0].token_id == 464));
  BOOST_TEST((targets[1].pass == CausalPass::sentence && targets[1].position == 0 && targets[1].token_id == 19780));
  BOOST_TEST((targets[2].pass == CausalPass::sentence && targets[2].position == 1 && targets[2].token_id == 2137));
}

BOOST_AUTO_TEST_CASE(lm_eval_requests) {
  // Empty context: BOS/EOS prefix, unless the continuation already starts with it.
  const std::vector<std::int64_t> none;
  const std::vector<std::int64_t> cont = {10, 11, 12};
  auto r = lm_eval_loglikelihood_request(none, cont, 50256);
  BOOST_TEST(r.input_ids == (std::vector<std::int64_t>{50256, 10, 11}));
  BOOST_TEST(r.positions == (std::vector<std::size_t>{0, 1, 2}));
  BOOST_TEST(r.continuation == cont);
  const std::vector<std::int64_t> starts_with_prefix = {0, 5, 6};
  r = lm_eval_loglikelihood_request(none, starts_with_prefix, 0);
  BOOST_TEST(r.context == (std::vector<std::int64_t>{0}));
  BOOST_TEST(r.continuation == (std::vector<std::int64_t>{5, 6}));
  BOOST_TEST(r.input_ids == (std::vector<std::int64_t>{0, 5}));
  BOOST_TEST(r.positions == (std::vector<std::size_t>{0, 1}));
  // Left truncation to max_length + 1 tokens before dropping the last.
  const std::vector<std::int64_t> ctx = {1, 2, 3, 4};
  r = lm_eval_loglikelihood_request(ctx, cont, 0, 4);
  BOOST_TEST(r.input_ids == (std::vector<std::int64_t>{3, 4, 10, 11}));
  BOOST_TEST(r.positions == (std::vector<std::size_t>{1, 2, 3}));
  BOOST_CHECK_THROW(lm_eval_loglikelihood_request(ctx, none, 0), std::invalid_argument);

  const auto [c, k] = lm_eval_split_context("Q: who?\nA: \t", " x");
  BOOST_TEST(c == "Q: who?\nA:");
  BOOST_TEST(k == " \t x");
  const auto [c2, k2] = lm_eval_split_context("abc\xC2\xA0", "y");
  BOOST_TEST(c2 == "abc");
  BOOST_TEST(k2 == "\xC2\xA0y");
}

BOOST_AUTO_TEST_SUITE_END()
