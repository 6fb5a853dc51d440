// SEAT/WEAT: the 50 test files, and the BERT golden (metric_goldens/bert/seat.json + the encodings it was
// computed from) reproduced to the bit: every effect size and every p-value of bias-bench's 17-test run
// with its carried-over numpy RNG. The permutation machinery is also compared with numpy on synthetic
// association scores (exact and sampled branches, several tests sharing one RNG).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "biaslab/eval/seat.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

namespace {

struct GoldenEncodings {
  std::unordered_map<std::string, std::size_t> row_of;
  eval_test::Float32Tensor tensor;
};

const GoldenEncodings& golden_encodings() {
  static const GoldenEncodings enc = [] {
    auto file = eval_test::read_safetensors_f32(eval_test::goldens_dir() / "bert/seat_encodings.safetensors");
    GoldenEncodings e;
    e.tensor = file.tensors.at("encodings");
    const auto texts = nlohmann::json::parse(file.metadata.at("texts_json"));
    for (std::size_t i = 0; i < texts.size(); ++i) e.row_of[texts[i].get<std::string>()] = i;
    return e;
  }();
  return enc;
}

EmbeddingMatrix matrix_for(const SeatSet& set) {
  const auto& enc = golden_encodings();
  EmbeddingMatrix m;
  m.dim = static_cast<std::size_t>(enc.tensor.shape.at(1));
  for (const auto& text : set.examples) {
    const std::size_t row = enc.row_of.at(text);
    m.values.insert(m.values.end(), enc.tensor.values.begin() + static_cast<std::ptrdiff_t>(row * m.dim),
                    enc.tensor.values.begin() + static_cast<std::ptrdiff_t>((row + 1) * m.dim));
    ++m.rows;
  }
  return m;
}

SeatEncodedTest encoded(const std::string& name) {
  const auto test = load_seat_test(eval_test::data_dir() / "seat" / (name + ".jsonl"));
  return {name, matrix_for(test.targ1), matrix_for(test.targ2), matrix_for(test.attr1), matrix_for(test.attr2)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(seat)

BOOST_AUTO_TEST_CASE(all_fifty_test_files_load) {
  const auto names = list_seat_tests(eval_test::data_dir() / "seat");
  BOOST_TEST(names.size() == 50u);
  for (const auto& name : names) {
    const auto test = load_seat_test(eval_test::data_dir() / "seat" / (name + ".jsonl"));
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(!test.targ1.examples.empty());
      BOOST_TEST(test.targ1.examples.size() == test.targ2.examples.size());
      BOOST_TEST(!test.attr1.examples.empty());
      BOOST_TEST(!test.attr2.examples.empty());
      BOOST_TEST(test.duplicates_removed == 0u);
    }
  }
  const auto weat6b = load_seat_test(eval_test::data_dir() / "seat/sent-weat6b.jsonl");
  BOOST_TEST(weat6b.targ1.category == "MaleTerms");
  BOOST_TEST(weat6b.targ1.examples.size() == 80u);
  BOOST_TEST(weat6b.attr2.category == "Family");
  BOOST_TEST(weat6b.attr2.examples.size() == 112u);
  // bias-bench's _test_sort_key: numbers compare as integers.
  BOOST_TEST(seat_test_name_less("weat2", "weat10"));
  BOOST_TEST(seat_test_name_less("weat3", "weat3b"));
  BOOST_TEST(seat_test_name_less("weat3b", "weat4"));
  BOOST_TEST(!seat_test_name_less("weat10", "weat9"));
  BOOST_TEST(seat_test_name_less("heilman_double_bind_competent_1+3-", "heilman_double_bind_competent_1-"));
  BOOST_TEST(names.front() == "angry_black_woman_stereotype");
  BOOST_TEST(names.back() == "weat10");
}

BOOST_AUTO_TEST_CASE(bert_golden_effect_sizes_and_p_values_exact) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/seat.json");
  std::vector<SeatEncodedTest> tests;
  for (const auto& name : bias_bench_seat_tests()) tests.push_back(encoded(name));
  const auto results = run_seat(tests, 0);  // n_samples = 100000, seed 0, paper order
  BOOST_REQUIRE_EQUAL(results.size(), golden["results"].size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& expected = golden["results"][i];
    BOOST_TEST_CONTEXT(expected["test"].get<std::string>()) {
      BOOST_TEST(results[i].test == expected["test"].get<std::string>());
      BOOST_TEST(results[i].p_value == expected["p_value"].get<double>());
      BOOST_TEST(results[i].effect_size == expected["effect_size"].get<double>());  // bit-exact
      BOOST_TEST(std::fabs(results[i].effect_size - expected["effect_size"].get<double>()) <= 1e-4);
    }
  }
  const auto means = seat_mean_abs_effect_sizes(results);
  for (const char* group : {"gender", "race", "religion", "all"})
    BOOST_TEST(means.at(group) == golden["mean_abs_effect_size"][group].get<double>(), boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(float64_cosines_are_close_but_not_the_reference) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/seat.json");
  const auto test = encoded("sent-weat8");
  const auto s64 = weat_association_scores(test.targ1, test.targ2, test.attr1, test.attr2, CosineArithmetic::float64);
  const double effect = weat_effect_size(s64, test.targ1.rows);
  const double expected = golden["results"][15]["effect_size"];
  BOOST_TEST(golden["results"][15]["test"] == "sent-weat8");
  BOOST_TEST(std::fabs(effect - expected) < 1e-5);
  BOOST_TEST(effect != expected);
}

BOOST_AUTO_TEST_CASE(openblas_sdot_emulation_properties) {
  // Integer-valued vectors are summed exactly in every order: both kernels must give the exact dot.
  for (std::size_t n : {5u, 32u, 77u, 128u, 200u, 768u}) {
    std::vector<float> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(static_cast<int>(i % 13) - 6);
      y[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    }
    double exact = 0;
    for (std::size_t i = 0; i < n; ++i) exact += static_cast<double>(x[i]) * y[i];
    BOOST_TEST(openblas_sdot(x, y, OpenBlasSdotKernel::skylakex) == static_cast<float>(exact));
    BOOST_TEST(openblas_sdot(x, y, OpenBlasSdotKernel::haswell) == static_cast<float>(exact));
  }
  // Summation order. Lane 0 of the four 8-lane accumulators holds 2^24, 0, 1, 1 (elements 0, 8, 16, 24).
  // HASWELL adds (a0 + a1) + (a2 + a3) = 2^24 + 2 (exact); SKYLAKEX adds ((a0 + a1) + a2) + a3, where each
  // 2^24 + 1 rounds back to 2^24; a sequential sum also gives 2^24.
  std::vector<float> a(32, 0.0f), ones(32, 1.0f);
  a[0] = 16777216.0f;
  a[16] = 1.0f;
  a[24] = 1.0f;
  BOOST_TEST(openblas_sdot(a, ones, OpenBlasSdotKernel::haswell) == 16777218.0f);
  BOOST_TEST(openblas_sdot(a, ones, OpenBlasSdotKernel::skylakex) == 16777216.0f);
  // Lanes l and l + 4 meet in the 128-bit fold before the horizontal adds (both kernels).
  std::vector<float> b(32, 0.0f);
  b[0] = 16777216.0f;
  b[1] = 1.0f;
  b[5] = 1.0f;
  BOOST_TEST(openblas_sdot(b, ones, OpenBlasSdotKernel::haswell) == 16777218.0f);
  BOOST_TEST(openblas_sdot(b, ones, OpenBlasSdotKernel::skylakex) == 16777218.0f);
  BOOST_CHECK_THROW(openblas_sdot(a, std::vector<float>(3), OpenBlasSdotKernel::haswell), std::invalid_argument);

  // Normalisation: [3, 4] / 5 in float32.
  std::vector<float> e = {3.0f, 4.0f};
  seat_normalize_encoding(e);
  BOOST_TEST(e[0] == 3.0f / 5.0f);
  BOOST_TEST(e[1] == 4.0f / 5.0f);
}

BOOST_AUTO_TEST_CASE(haswell_kernel_shows_the_cross_machine_spread) {
  // On AVX2-only machines numpy's cosines differ in the last bits: effect sizes move by ~1e-6 and
  // some p-values by 1e-5 (statistics within float noise of the observed one).
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/seat.json");
  std::vector<SeatEncodedTest> tests;
  for (const auto& name : bias_bench_seat_tests()) tests.push_back(encoded(name));
  WeatOptions options;
  options.cosine = CosineArithmetic::openblas_haswell_float32;
  const auto results = run_seat(tests, 0, options);
  std::size_t p_differs = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& expected = golden["results"][i];
    BOOST_TEST(std::fabs(results[i].effect_size - expected["effect_size"].get<double>()) < 5e-6);
    const double dp = std::fabs(results[i].p_value - expected["p_value"].get<double>());
    BOOST_TEST(dp <= 2.1e-5);
    p_differs += dp > 0;
  }
  BOOST_TEST(p_differs == 3u);
}

BOOST_AUTO_TEST_CASE(permutation_test_matches_numpy_on_synthetic_scores) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, 0.05);
  nlohmann::json tests = nlohmann::json::array();
  std::vector<std::pair<std::vector<double>, std::size_t>> cases;
  // n = 5 and 8: exact test (C(16, 8) = 12870 <= 20000); n = 9, 20, 60: sampled, sharing one RNG.
  for (std::size_t n : {5u, 8u, 9u, 20u, 60u, 20u}) {
    std::vector<double> s(2 * n);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = normal(rng) + (i < n ? 0.01 : 0.0);
    tests.push_back({{"s", s}, {"n", n}});
    cases.emplace_back(s, n);
  }
  // Ties: duplicated values make equal statistics frequent (the conservative >= rule matters).
  std::vector<double> ties = {0.5, 0.25, 0.5, 0.25, 0.5, 0.25, 0.5, 0.25};
  tests.push_back({{"s", ties}, {"n", 4}});
  cases.emplace_back(ties, 4);
  const std::size_t n_samples = 20000;
  const auto reference = eval_test::run_python("weat_reference.py", {{"seed", 0}, {"n_samples", n_samples}, {"tests", tests}});
  NumpyRandomState state(0);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    BOOST_TEST_CONTEXT("case " << i << " n = " << cases[i].second) {
      const auto result = weat_p_value(cases[i].first, cases[i].second, state, n_samples);
      BOOST_TEST(result.p_value == reference[i]["p_value"].get<double>());
      BOOST_TEST(result.exact_test == reference[i]["exact"].get<bool>());
      BOOST_TEST(weat_effect_size(cases[i].first, cases[i].second) == reference[i]["effect_size"].get<double>());
    }
  }
  NumpyRandomState unused(0);
  const auto tie_result = weat_p_value(ties, 4, unused, n_samples);
  BOOST_TEST(tie_result.exact_test);
  BOOST_TEST(tie_result.total == 70u);  // C(8, 4)
  BOOST_TEST(tie_result.equalities > 0u);
}

BOOST_AUTO_TEST_CASE(input_validation) {
  EmbeddingMatrix x{2, 2, {1, 0, 0, 1}}, y{1, 2, {1, 1}}, a{1, 2, {1, 0}};
  NumpyRandomState rng(0);
  BOOST_CHECK_THROW(run_weat(x, y, a, a, rng), std::invalid_argument);  // |X| != |Y|
  EmbeddingMatrix bad{2, 2, {1, 0, 0}};
  BOOST_CHECK_THROW(run_weat(bad, x, a, a, rng), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
