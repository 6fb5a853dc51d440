// metric.seat on the bert fixture against bias-bench's SEATRunner golden (17 tests, 100,000 samples,
// seed 0): effect sizes, p-values, the paper's mean |effect size| groups; test selection; the paired rows.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "biaslab/eval/numpy_random.hpp"
#include "biaslab/eval/seat.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "metric_test_support.hpp"

using metric_test::golden;
using metric_test::model_artifact;
using metric_test::run_plugin;
using nlohmann::json;

namespace {

namespace fs = std::filesystem;
namespace eval = biaslab::eval;

// text -> normalised encoding, from a file in the goldens' layout (tensor "encodings", metadata texts_json).
std::map<std::string, std::vector<float>> read_encodings(const fs::path& file) {
  biaslab::runtime::SafetensorsFile f(file);
  const auto t = f.load("encodings").contiguous();
  const auto texts = json::parse(f.metadata().at("texts_json"));
  BOOST_REQUIRE_EQUAL(static_cast<std::size_t>(t.size(0)), texts.size());
  const auto dim = t.size(1);
  std::map<std::string, std::vector<float>> out;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const float* row = t.data_ptr<float>() + static_cast<std::int64_t>(i) * dim;
    out[texts[i].get<std::string>()] = std::vector<float>(row, row + dim);
  }
  return out;
}

eval::EmbeddingMatrix matrix(const eval::SeatSet& set, const std::map<std::string, std::vector<float>>& enc) {
  eval::EmbeddingMatrix m;
  m.rows = set.examples.size();
  for (const auto& text : set.examples) {
    const auto& v = enc.at(text);
    m.dim = v.size();
    m.values.insert(m.values.end(), v.begin(), v.end());
  }
  return m;
}

// Replays the reference's permutation test (numpy legacy MT19937 seeded 0 once, n_samples - 1 in-place
// shuffles per test, tests in order) on our encodings and on the golden encodings side by side. Every
// sample where the two disagree on "statistic >= observed" must be a float-noise tie: |stat - observed|
// tiny. Returns, per test, the number of disagreeing samples (their signed count explains the p difference).
std::map<std::string, long> trace_p_value_differences(const std::vector<std::string>& tests,
                                                      const std::map<std::string, std::vector<float>>& ours,
                                                      const std::map<std::string, std::vector<float>>& golden_enc,
                                                      const json& golden_results, const metric_test::RunOutput& out) {
  const fs::path dir = fs::path(metric_test::env("BIASLAB_DATA_MIRROR")) / "seat";
  eval::NumpyRandomState rng(0);
  std::map<std::string, long> deltas;
  double max_gap = 0;
  for (std::size_t t = 0; t < tests.size(); ++t) {
    const auto test = eval::load_seat_test(dir / (tests[t] + ".jsonl"));
    const auto so = eval::weat_association_scores(matrix(test.targ1, ours), matrix(test.targ2, ours),
                                                  matrix(test.attr1, ours), matrix(test.attr2, ours));
    const auto sr = eval::weat_association_scores(matrix(test.targ1, golden_enc), matrix(test.targ2, golden_enc),
                                                  matrix(test.attr1, golden_enc), matrix(test.attr2, golden_enc));
    const std::size_t n = test.targ1.examples.size();
    // The eval library on the golden encodings reproduces the golden p-value; on ours, the plugin's.
    auto rng_ref = rng, rng_ours = rng;
    BOOST_TEST(eval::weat_p_value(sr, n, rng_ref, 100000).p_value == golden_results[t]["p_value"].get<double>(), tests[t]);
    BOOST_TEST(eval::weat_p_value(so, n, rng_ours, 100000).p_value == out.row("bert", "seat.p_value", tests[t]).value, tests[t]);
    double o0 = 0, r0 = 0;
    for (std::size_t i = 0; i < n; ++i) o0 += so[i], r0 += sr[i];
    std::vector<std::size_t> xy(2 * n);
    for (std::size_t i = 0; i < xy.size(); ++i) xy[i] = i;
    long delta = 0;
    for (std::size_t k = 1; k < 100000; ++k) {
      rng.shuffle(std::span<std::size_t>(xy));
      double o = 0, r = 0;
      for (std::size_t i = 0; i < n; ++i) o += so[xy[i]], r += sr[xy[i]];
      const bool ho = o >= o0, hr = r >= r0;
      if (ho == hr) continue;
      delta += ho ? 1 : -1;
      const double gap = std::fabs(r - r0);
      max_gap = std::max(max_gap, gap);
      BOOST_TEST(gap <= 1e-5, tests[t] << ": sample " << k << " decides differently " << r - r0 << " from the observed");
    }
    deltas[tests[t]] = delta;
    BOOST_TEST(std::fabs(out.row("bert", "seat.p_value", tests[t]).value - golden_results[t]["p_value"].get<double>() -
                         static_cast<double>(delta) / 100000.0) <= 1e-12,
               tests[t] << ": p difference not explained by the disagreeing samples");
  }
  BOOST_TEST_MESSAGE("seat p-value trace: max |statistic - observed| of a disagreeing sample = " << max_gap);
  return deltas;
}

}  // namespace

namespace {

// Runs the first `count` golden tests in the golden's order (the p-values of a prefix are reproducible: the
// RNG stream is the same up to there) and checks them; pairs bert with roberta.
void check_golden_prefix(std::size_t count) {
  const auto g = golden("bert/seat.json");
  json tests = json::array();
  for (std::size_t i = 0; i < count; ++i) tests.push_back(g["results"][i]["test"]);
  const auto out = run_plugin("metric.seat", {{"tests", tests}, {"bootstrap_resamples", 500}, {"permutations", 2000}},
                              {{"models", {model_artifact("bert", "bert"), model_artifact("roberta", "roberta")}}});
  BOOST_TEST_MESSAGE("seat bert+roberta, " << count << " tests: " << out.seconds << " s");
  double max_effect_diff = 0, max_p_diff = 0;
  std::size_t p_equal = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto& r = g["results"][i];
    const std::string test = r["test"];
    const auto& es = out.row("bert", "seat.effect_size", test);
    const auto& p = out.row("bert", "seat.p_value", test);
    const double de = std::fabs(es.value - r["effect_size"].get<double>());
    const double dp = std::fabs(p.value - r["p_value"].get<double>());
    max_effect_diff = std::max(max_effect_diff, de);
    max_p_diff = std::max(max_p_diff, dp);
    p_equal += p.value == r["p_value"].get<double>() ? 1 : 0;
    BOOST_TEST_CONTEXT(test) {
      BOOST_TEST(de <= 1e-4);
      // Exact when the cosines match to the bit; float32 encoder noise (~1e-6) may move a permutation
      // statistic across the observed one, i.e. a few samples of 99,999.
      BOOST_TEST(dp <= 3e-5);
      BOOST_TEST(*p.n == 100000);
      BOOST_TEST((*es.ci_low <= es.value && es.value <= *es.ci_high));
    }
  }
  BOOST_TEST_MESSAGE("seat bert: max |effect - golden| = " << max_effect_diff << ", p-values equal " << p_equal << "/"
                                                          << count << ", max |p - golden| = " << max_p_diff);
  // Encodings against the golden's (float32 encoder noise only), then the p-value differences traced.
  const auto ours = read_encodings(out.output_dir / out.row("bert", "seat.tests").extra["encodings_file"].get<std::string>());
  const auto golden_enc = read_encodings(fs::path(metric_test::env("BIASLAB_METRIC_GOLDENS")) / "bert/seat_encodings.safetensors");
  double max_enc_diff = 0;
  for (const auto& [text, v] : ours) {
    const auto& ref = golden_enc.at(text);
    for (std::size_t k = 0; k < v.size(); ++k) max_enc_diff = std::max(max_enc_diff, static_cast<double>(std::fabs(v[k] - ref[k])));
  }
  BOOST_TEST_MESSAGE("seat bert: " << ours.size() << " encodings, max |component - golden| = " << max_enc_diff);
  BOOST_TEST(max_enc_diff <= 1e-5);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < count; ++i) names.push_back(g["results"][i]["test"]);
  for (const auto& [test, delta] : trace_p_value_differences(names, ours, golden_enc, g["results"], out))
    if (delta != 0) BOOST_TEST_MESSAGE("seat " << test << ": p differs by " << delta << " sample(s), all float-noise ties");
  std::vector<std::string> groups = {"all"};
  if (count == 17) groups = {"gender", "race", "religion", "all"};
  if (count == 4) groups = {"religion"};  // the first four are the religion group
  for (const auto& group : groups)
    BOOST_TEST(std::fabs(out.row("bert", "seat.mean_abs_effect_size", group).value -
                         g["mean_abs_effect_size"][group].get<double>()) <= 1e-4,
               group);
  BOOST_TEST(*out.row("bert", "seat.mean_abs_effect_size", "all").n == static_cast<std::int64_t>(count));
  // Example rows carry the association scores.
  const auto ex = out.examples_of("bert", "seat");
  BOOST_TEST(ex.size() == count);
  const std::string first = g["results"][0]["test"];
  BOOST_TEST(ex.at(first)["association_scores"].size() ==
             2 * out.row("bert", "seat.effect_size", first).extra["n_targets_per_set"].get<std::size_t>());

  for (const auto& group : groups) {
    const auto& diff = out.row("roberta", "seat.mean_abs_effect_size.diff", group);
    BOOST_TEST(diff.value == out.row("roberta", "seat.mean_abs_effect_size", group).value -
                                 out.row("bert", "seat.mean_abs_effect_size", group).value,
               boost::test_tools::tolerance(1e-9));
    BOOST_TEST((*diff.ci_low <= diff.value && diff.value <= *diff.ci_high));
  }
  const auto& d = out.row("roberta", "seat.effect_size.diff", first);
  BOOST_TEST(d.value == out.row("roberta", "seat.effect_size", first).value - out.row("bert", "seat.effect_size", first).value,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(d.extra.contains("permutation_p"));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(seat)

BOOST_AUTO_TEST_CASE(matches_golden_bert_religion_tests_and_pairs_with_roberta) { check_golden_prefix(4); }

BOOST_AUTO_TEST_CASE(chosen_tests_run_in_the_given_order) {
  // weat1/weat2 have 25 words per target set: C(50, 25) > 1000 samples, so both tests are sampled.
  const auto out = run_plugin("metric.seat", {{"tests", {"weat2", "weat1"}}, {"n_samples", 1000}, {"bootstrap_resamples", 0}},
                              {{"models", {model_artifact("gpt2", "gpt2")}}});
  BOOST_TEST(out.has_row("gpt2", "seat.effect_size", "weat1"));
  BOOST_TEST(out.has_row("gpt2", "seat.effect_size", "weat2"));
  BOOST_TEST(*out.row("gpt2", "seat.p_value", "weat1").n == 1000);
  BOOST_TEST(!out.row("gpt2", "seat.effect_size", "weat1").ci_low.has_value());  // bootstrap off
  BOOST_TEST(!out.has_row("gpt2", "seat.mean_abs_effect_size", "gender"));
  BOOST_TEST(*out.row("gpt2", "seat.mean_abs_effect_size", "all").n == 2);
  BOOST_CHECK_THROW(run_plugin("metric.seat", {{"tests", {"sent-weat99"}}}, {{"models", {model_artifact("gpt2", "gpt2")}}}),
                    std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(full_goldens)  // disabled by default: see test_crows_pairs.cpp

BOOST_AUTO_TEST_CASE(seat_bert_all_17_tests) { check_golden_prefix(17); }

BOOST_AUTO_TEST_SUITE_END()
