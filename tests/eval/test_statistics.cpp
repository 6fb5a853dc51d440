// Statistics: percentiles and bootstrap CIs bit-identical to numpy.percentile, McNemar p-values against
// exact rational arithmetic (math.comb / fractions in /usr/bin/python3), permutation tests against
// hand-enumerated cases and against the full enumeration, determinism for a seed.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "biaslab/eval/statistics.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

BOOST_AUTO_TEST_SUITE(statistics)

BOOST_AUTO_TEST_CASE(engine_and_index_draws) {
  std::mt19937_64 standard;
  standard.discard(9999);
  BOOST_TEST(standard() == 9981545732273789042ULL);  // the C++ standard's check value for mt19937_64
  std::mt19937_64 a(1), b(1);
  for (int i = 0; i < 1000; ++i) {
    const auto index = uniform_index(a, 8);  // power of two: no rejection, r % 8
    BOOST_TEST(index == b() % 8);
  }
  std::mt19937_64 e(3);
  std::vector<std::size_t> counts(3);
  for (int i = 0; i < 30000; ++i) ++counts[uniform_index(e, 3)];
  for (auto c : counts) BOOST_TEST(std::abs(static_cast<double>(c) - 10000.0) < 400.0);
  BOOST_CHECK_THROW(uniform_index(e, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(percentile_and_mcnemar_match_python) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  std::vector<std::vector<double>> arrays;
  for (std::size_t n : {1u, 2u, 3u, 7u, 40u, 101u, 1000u, 9999u}) {
    std::vector<double> v(n);
    for (auto& x : v) x = normal(rng);
    arrays.push_back(v);
  }
  arrays.push_back({1, 1, 1, 2, 2, 5});  // ties
  const std::vector<double> qs = {0.0, 2.5, 5.0, 25.0, 50.0, 97.5, 99.9, 100.0};
  const std::vector<std::vector<std::size_t>> mcnemar_cases = {{0, 0},   {0, 5},     {5, 5},       {2, 8},     {3, 17},
                                                               {100, 130}, {1000, 1100}, {4000, 4100}, {1, 0}};
  const auto reference = eval_test::run_python(
      "stats_reference.py", {{"mcnemar", mcnemar_cases}, {"percentile", {{"arrays", arrays}, {"q", qs}}}});
  for (std::size_t i = 0; i < arrays.size(); ++i)
    for (std::size_t k = 0; k < qs.size(); ++k)
      BOOST_TEST(numpy_percentile(arrays[i], qs[k]) == reference["percentile"][i][k].get<double>());
  for (std::size_t i = 0; i < mcnemar_cases.size(); ++i) {
    const auto r = mcnemar_test(mcnemar_cases[i][0], mcnemar_cases[i][1]);
    const auto& e = reference["mcnemar"][i];
    BOOST_TEST_CONTEXT("b = " << mcnemar_cases[i][0] << ", c = " << mcnemar_cases[i][1]) {
      BOOST_TEST(r.exact_p == e["exact_p"].get<double>(), boost::test_tools::tolerance(1e-11));
      BOOST_TEST(r.mid_p == e["mid_p"].get<double>(), boost::test_tools::tolerance(1e-11));
      BOOST_TEST(r.chi_square == e["chi_square"].get<double>(), boost::test_tools::tolerance(1e-14));
      BOOST_TEST(r.chi_square_p == e["chi_square_p"].get<double>(), boost::test_tools::tolerance(1e-14));
    }
  }
  // By hand: b = 2, c = 8: P[X <= 2] = (1 + 10 + 45) / 1024.
  const auto hand = mcnemar_test(2, 8);
  BOOST_TEST(hand.exact_p == 112.0 / 1024.0, boost::test_tools::tolerance(1e-13));
  BOOST_TEST(hand.mid_p == 67.0 / 1024.0, boost::test_tools::tolerance(1e-13));
  BOOST_TEST(hand.chi_square == 2.5);
  BOOST_TEST(hand.chi_square_p == 0.11384629800665805, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(mcnemar_test(0, 0).exact_p == 1.0);
}

BOOST_AUTO_TEST_CASE(bootstrap_is_deterministic_and_numpy_percentile_based) {
  std::vector<double> values;
  std::mt19937_64 rng(21);
  std::bernoulli_distribution coin(0.6);
  for (int i = 0; i < 500; ++i) values.push_back(coin(rng) ? 1.0 : 0.0);
  BootstrapOptions options;
  options.resamples = 2000;
  options.seed = 42;
  const auto a = bootstrap_mean_ci(values, options);
  const auto b = bootstrap_mean_ci(values, options);
  BOOST_TEST(a.lower == b.lower);
  BOOST_TEST(a.upper == b.upper);
  options.seed = 43;
  const auto c = bootstrap_mean_ci(values, options);
  BOOST_TEST((c.lower != a.lower || c.upper != a.upper));
  BOOST_TEST(a.lower < a.estimate);
  BOOST_TEST(a.estimate < a.upper);
  BOOST_TEST(a.resamples == 2000u);
  // The interval is numpy.percentile([2.5, 97.5]) of the replicates (replicates drawn as documented).
  auto mean_of = [&](std::span<const std::size_t> items) {
    double sum = 0;
    for (auto i : items) sum += values[i];
    return sum / static_cast<double>(items.size());
  };
  const auto replicates = bootstrap_replicates(values.size(), mean_of, 2000, 42);
  const auto reference = eval_test::run_python(
      "stats_reference.py", {{"mcnemar", nlohmann::json::array()}, {"percentile", {{"arrays", {replicates}}, {"q", {2.5, 97.5}}}}});
  BOOST_TEST(a.lower == reference["percentile"][0][0].get<double>());
  BOOST_TEST(a.upper == reference["percentile"][0][1].get<double>());
  // Replicate 0 uses the first n draws of mt19937_64(42).
  std::mt19937_64 engine(42);
  double first = 0;
  for (std::size_t i = 0; i < values.size(); ++i) first += values[uniform_index(engine, values.size())];
  BOOST_TEST(replicates[0] == first / static_cast<double>(values.size()));
  // Binomial sanity: sd of a mean of 500 coin flips ~ sqrt(.6*.4/500) = 0.0219 -> width ~ 0.086.
  BOOST_TEST(a.upper - a.lower > 0.07);
  BOOST_TEST(a.upper - a.lower < 0.10);
  // NaN replicates are dropped and counted.
  std::size_t calls = 0;
  const auto with_nan = bootstrap_ci(
      10, [&](std::span<const std::size_t>) { return (calls++ % 2) ? 1.0 : std::nan(""); }, {100, 1, 0.9});
  BOOST_TEST(with_nan.invalid_resamples + with_nan.resamples == 100u);
  BOOST_TEST(with_nan.invalid_resamples > 0u);
}

BOOST_AUTO_TEST_CASE(paired_permutation_exact_by_hand) {
  const std::vector<double> base = {1, 1, 1, 0}, compressed = {0, 0, 0, 0};
  PermutationOptions options;
  options.permutations = 10000;  // 2^4 <= 10000: exact enumeration
  const auto cmp = compare_paired_scores(base, compressed, {}, {1000, 0, 0.95}, options);
  BOOST_TEST(cmp.permutation.exact);
  BOOST_TEST(cmp.permutation.permutations == 16u);
  BOOST_TEST(cmp.difference == -0.75);
  // |mean of signed differences| >= 0.75 only when the three -1 items keep one common sign: 2 * 2 of 16.
  BOOST_TEST(cmp.permutation.at_least_as_extreme == 4u);
  BOOST_TEST(cmp.permutation.p_value == 0.25);
  BOOST_TEST(*cmp.base_score == 0.75);
  BOOST_TEST(*cmp.compressed_score == 0.0);
  BOOST_REQUIRE(cmp.flips.has_value());
  BOOST_TEST(cmp.flips->base_only == 3u);
  BOOST_TEST(cmp.flips->compressed_only == 0u);
  BOOST_TEST(cmp.flips->both_negative == 1u);
  BOOST_TEST(cmp.flips->flips() == 3u);
  BOOST_TEST(cmp.mcnemar->exact_p == 0.25, boost::test_tools::tolerance(1e-13));  // 2 * (1/8)
  BOOST_TEST(cmp.difference_ci.estimate == -0.75);
  BOOST_TEST(cmp.difference_ci.upper <= 0.0);
}

BOOST_AUTO_TEST_CASE(monte_carlo_permutation_agrees_with_full_enumeration) {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> normal;
  std::vector<double> base(20), compressed(20);
  for (std::size_t i = 0; i < base.size(); ++i) {
    base[i] = normal(rng);
    compressed[i] = base[i] + 0.3 + 0.8 * normal(rng);
  }
  auto difference = [&](std::span<const std::size_t> items, std::span<const std::uint8_t> swapped) {
    double sum = 0;
    for (auto i : items) sum += swapped[i] ? base[i] - compressed[i] : compressed[i] - base[i];
    return sum / static_cast<double>(items.size());
  };
  PermutationOptions exact_options;
  exact_options.permutations = std::size_t{1} << 20;
  const auto exact = paired_permutation_test(base.size(), difference, exact_options);
  BOOST_TEST(exact.exact);
  PermutationOptions mc;
  mc.permutations = 20000;
  mc.seed = 5;
  const auto sampled = paired_permutation_test(base.size(), difference, mc);
  BOOST_TEST(!sampled.exact);
  const double se = std::sqrt(exact.p_value * (1 - exact.p_value) / 20000.0);
  BOOST_TEST(std::fabs(sampled.p_value - exact.p_value) < 4 * se + 1e-4);
  BOOST_TEST(exact.p_value > 0.0);
  BOOST_TEST(exact.p_value < 0.2);
  const auto again = paired_permutation_test(base.size(), difference, mc);
  BOOST_TEST(again.p_value == sampled.p_value);  // deterministic for a seed
}

BOOST_AUTO_TEST_CASE(flip_counting_validation) {
  const std::vector<int> a = {1, 0, 1, 1}, b = {1, 1, 0, 1};
  const auto flips = count_flips(a, b);
  BOOST_TEST(flips.both_positive == 2u);
  BOOST_TEST(flips.base_only == 1u);
  BOOST_TEST(flips.compressed_only == 1u);
  BOOST_TEST(count_changed(std::vector<int>{-1, 0, 1}, std::vector<int>{-1, 1, 1}) == 1u);
  BOOST_CHECK_THROW(count_flips(std::vector<int>{2}, std::vector<int>{0}), std::invalid_argument);
  BOOST_CHECK_THROW(count_flips(std::vector<int>{1}, std::vector<int>{0, 1}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
