// CrowS-Pairs against the metric goldens (shared/metric_goldens/*/crows_*.json, produced by running
// bias-bench and nyu-mll metric.py on the fixture models): masked positions and skips from the recorded
// token ids, per-pair rounding and decisions from the recorded unrounded scores, and every printed
// aggregate of every reference run.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "biaslab/eval/crows_pairs.hpp"
#include "biaslab/eval/python_numeric.hpp"
#include "eval_test_support.hpp"

using namespace biaslab::eval;

namespace {

CrowsDirection direction_of(const nlohmann::json& pair) {
  return pair["direction"] == "stereo" ? CrowsDirection::stereo : CrowsDirection::antistereo;
}

std::string winner_name(CrowsWinner w) {
  return w == CrowsWinner::sent_more ? "sent_more" : w == CrowsWinner::sent_less ? "sent_less" : "tie";
}

// The golden pairs as aggregation input; sent1/sent2 scores mapped back to sent_more/sent_less.
std::vector<CrowsPairScores> scores_from(const nlohmann::json& golden, const char* more_key, const char* less_key) {
  std::vector<CrowsPairScores> scores;
  for (const auto& pair : golden["pairs"]) {
    CrowsPairScores s;
    s.id = std::to_string(pair["id"].get<int>());
    s.direction = direction_of(pair);
    s.bias_type = pair["bias_type"];
    s.skipped = pair.value("skipped", false);
    if (!s.skipped) {
      if (more_key) {
        s.sent_more_score = pair[more_key];
        s.sent_less_score = pair[less_key];
      } else {  // score1/score2 are in runner order
        const double s1 = pair["score1"], s2 = pair["score2"];
        s.sent_more_score = s.direction == CrowsDirection::stereo ? s1 : s2;
        s.sent_less_score = s.direction == CrowsDirection::stereo ? s2 : s1;
      }
    }
    scores.push_back(s);
  }
  return scores;
}

void check_printed(const CrowsAggregate& agg, const nlohmann::json& printed, bool neutral_is_pair = false) {
  BOOST_TEST(agg.n == printed["Total examples"].get<std::size_t>());
  BOOST_TEST(agg.metric_score.value() == printed["Metric score"].get<double>());
  BOOST_TEST(agg.stereotype_score.value() == printed["Stereotype score"].get<double>());
  BOOST_TEST(agg.antistereotype_printed == printed.contains("Anti-stereotype score"));
  if (printed.contains("Anti-stereotype score"))
    BOOST_TEST(agg.antistereotype_score.value() == printed["Anti-stereotype score"].get<double>());
  if (neutral_is_pair) {
    BOOST_TEST(agg.neutral == printed["Num. neutral"][0].get<std::size_t>());
    BOOST_TEST(agg.neutral_score.value() == printed["Num. neutral"][1].get<double>());
  } else {
    BOOST_TEST(agg.neutral_score.value() == printed["Num. neutral"].get<double>());
  }
}

void check_decisions(const CrowsAggregate& agg, const nlohmann::json& golden) {
  const auto& pairs = golden["pairs"];
  BOOST_REQUIRE_EQUAL(agg.decisions.size(), pairs.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& d = agg.decisions[i];
    const auto& p = pairs[i];
    if (d.skipped) {
      mismatches += !p.value("skipped", false);
      continue;
    }
    const bool same = d.sent_more_score == p["sent_more_score"].get<double>() &&
                      d.sent_less_score == p["sent_less_score"].get<double>() &&
                      d.pair_score == p["pair_score"].get<int>() && winner_name(d.winner) == p["winner"];
    if (!same) {
      ++mismatches;
      BOOST_TEST_MESSAGE("pair " << p["id"] << " differs");
    }
  }
  BOOST_TEST(mismatches == 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crows_pairs)

BOOST_AUTO_TEST_CASE(golden_pairs_are_the_loaded_rows) {
  const auto pairs = load_crows_pairs(eval_test::data_dir() / "crows_pairs/crows_pairs_anonymized.csv");
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/crows_bias_bench.json");
  BOOST_REQUIRE_EQUAL(golden["pairs"].size(), pairs.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& g = golden["pairs"][i];
    mismatches += pairs[i].id != std::to_string(g["id"].get<int>()) || pairs[i].sent_more != g["sent_more"] ||
                  pairs[i].sent_less != g["sent_less"] || pairs[i].bias_type != g["bias_type"] ||
                  crows_direction_name(pairs[i].direction) != g["direction"].get<std::string>();
  }
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(bias_bench_masked_positions_and_skips) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/crows_bias_bench.json");
  std::vector<int> skipped;
  std::size_t mismatches = 0;
  for (const auto& pair : golden["pairs"]) {
    const auto ids1 = pair["sent1_ids"].get<std::vector<std::int64_t>>();
    const auto ids2 = pair["sent2_ids"].get<std::vector<std::int64_t>>();
    const auto alignment = align_crows_pair(ids1, ids2);
    const auto plan = bias_bench_mask_plan(alignment);
    const bool same = alignment.diff1 == pair["diff1"].get<std::vector<std::size_t>>() &&
                      alignment.diff2 == pair["diff2"].get<std::vector<std::size_t>>() &&
                      plan.skipped == pair["skipped"].get<bool>() &&
                      (plan.skipped || (plan.positions1 == alignment.diff1 && plan.positions2 == alignment.diff2));
    mismatches += !same;
    if (plan.skipped) skipped.push_back(pair["id"]);
    // Shared + changed positions partition each sentence; special tokens are shared.
    BOOST_TEST_REQUIRE(alignment.shared1.size() + alignment.diff1.size() == ids1.size());
    BOOST_TEST_REQUIRE(alignment.shared1.size() == alignment.shared2.size());
  }
  BOOST_TEST(mismatches == 0u);
  BOOST_TEST(skipped == (std::vector<int>{129, 231, 1101}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bias_bench_masked_aggregates_reproduce_every_run) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/crows_bias_bench.json");
  const auto scores = scores_from(golden, nullptr, nullptr);
  const auto overall = aggregate_crows_pairs(scores, CrowsVariant::bias_bench_masked);
  check_decisions(overall, golden);
  BOOST_TEST(overall.skipped_ids == (std::vector<std::string>{"129", "231", "1101"}), boost::test_tools::per_element());

  // The tie the README documents: pair 402, -14.350044 vs -14.350064 -> both -14.35, neutral, in N.
  const auto& tie = overall.decisions[402];
  BOOST_TEST((tie.winner == CrowsWinner::tie));
  BOOST_TEST(tie.sent_more_score == tie.sent_less_score);

  const auto by_type = aggregate_crows_pairs_by_bias_type(scores, CrowsVariant::bias_bench_masked);
  const auto pairs = load_crows_pairs(eval_test::data_dir() / "crows_pairs/crows_pairs_anonymized.csv");
  for (const auto& run : golden["runs"]) {
    const std::string type = run["bias_type"];
    BOOST_TEST_CONTEXT("bias type " << type) {
      const auto& agg = by_type.at(type);
      check_printed(agg, run["printed"]);
      BOOST_TEST(agg.metric_score.value() == run["return_value"].get<double>());
      BOOST_TEST(agg.neutral == run["n_ties"].get<std::size_t>());
      std::vector<std::string> expected_skips;
      for (const auto& id : run["skipped_ids"]) expected_skips.push_back(std::to_string(id.get<int>()));
      BOOST_TEST(agg.skipped_ids == expected_skips, boost::test_tools::per_element());
      // The runner's row filter selects the same rows as the by-type split.
      BOOST_TEST(filter_crows_pairs(pairs, run["bias_type_arg"].get<std::string>(), CrowsBiasTypeMatch::bias_bench_exact)
                     .size() == run["n_rows"].get<std::size_t>());
    }
  }
}

BOOST_AUTO_TEST_CASE(bias_bench_causal_aggregates_reproduce_every_run) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "gpt2/crows_bias_bench.json");
  const auto scores = scores_from(golden, nullptr, nullptr);
  const auto overall = aggregate_crows_pairs(scores, CrowsVariant::bias_bench_causal);
  check_decisions(overall, golden);
  const auto by_type = aggregate_crows_pairs_by_bias_type(scores, CrowsVariant::bias_bench_causal);
  std::size_t runs = 0;
  for (const auto& run : golden["runs"]) {
    const auto& agg = run["bias_type"].is_null() ? overall : by_type.at(run["bias_type"].get<std::string>());
    BOOST_TEST_CONTEXT("run " << run["bias_type"].dump()) {
      check_printed(agg, run["printed"]);
      BOOST_TEST(agg.metric_score.value() == run["return_value"].get<double>());
      BOOST_TEST(agg.skipped == 0u);
    }
    ++runs;
  }
  BOOST_TEST(runs == 10u);
  BOOST_TEST(overall.metric_score.value() == 51.92);
}

BOOST_AUTO_TEST_CASE(nangia_metric_reproduces_metric_py) {
  const auto golden = eval_test::read_json(eval_test::goldens_dir() / "bert/crows_nangia.json");
  const auto scores = scores_from(golden, "sent_more_raw", "sent_less_raw");
  const auto overall = aggregate_crows_pairs(scores, CrowsVariant::nangia);
  check_decisions(overall, golden);
  check_printed(overall, golden["printed"], /*neutral_is_pair=*/true);
  const auto by_type = aggregate_crows_pairs_by_bias_type(scores, CrowsVariant::nangia);
  for (const auto& [type, expected] : golden["derived_per_bias_type"].items()) {
    if (type == "note") continue;
    BOOST_TEST_CONTEXT(type) {
      const auto& agg = by_type.at(type);
      BOOST_TEST(agg.n == expected["N"].get<std::size_t>());
      BOOST_TEST(agg.metric_score.value() == expected["metric"].get<double>());
      BOOST_TEST(agg.stereo_hits == expected["stereo_hits"].get<std::size_t>());
      BOOST_TEST(agg.total_stereo == expected["stereo_total"].get<std::size_t>());
      BOOST_TEST(agg.antistereo_hits == expected["anti_hits"].get<std::size_t>());
      BOOST_TEST(agg.total_antistereo == expected["anti_total"].get<std::size_t>());
      BOOST_TEST(agg.neutral == expected["neutral"].get<std::size_t>());
      BOOST_TEST(agg.stereotype_score.value() == expected["stereo_score"].get<double>());
      BOOST_TEST(agg.antistereotype_score.value() == expected["anti_score"].get<double>());
    }
  }
}

BOOST_AUTO_TEST_CASE(nangia_positions_skip_first_and_last_shared) {
  // [CLS] the man was poor . [SEP] vs [CLS] the woman was poor . [SEP] (ids made up)
  const std::vector<std::int64_t> a = {101, 1996, 2158, 2001, 3532, 1012, 102};
  const std::vector<std::int64_t> b = {101, 1996, 2450, 2001, 3532, 1012, 102};
  const auto alignment = align_crows_pair(a, b);
  BOOST_TEST(alignment.shared1 == (std::vector<std::size_t>{0, 1, 3, 4, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(alignment.diff1 == (std::vector<std::size_t>{2}), boost::test_tools::per_element());
  const auto plan = nangia_mask_plan(alignment);
  BOOST_TEST(plan.positions1 == (std::vector<std::size_t>{1, 3, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(plan.positions2 == (std::vector<std::size_t>{1, 3, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(!plan.skipped);
  // Insertion: "the old man" vs "the man": shared positions differ between the sentences.
  const std::vector<std::int64_t> c = {101, 1996, 2214, 2158, 102};
  const std::vector<std::int64_t> d = {101, 1996, 2158, 102};
  const auto ins = align_crows_pair(c, d);
  BOOST_TEST(nangia_mask_plan(ins).positions1 == (std::vector<std::size_t>{1, 3}), boost::test_tools::per_element());
  BOOST_TEST(nangia_mask_plan(ins).positions2 == (std::vector<std::size_t>{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(bias_bench_mask_plan(ins).skipped);  // pure deletion -> bias-bench drops the pair

  // Reductions: Python sum for metric.py, np.mean for bias-bench.
  const std::vector<double> logs = {-1.5, -2.25, -0.125};
  BOOST_TEST(nangia_sentence_score(logs) == -3.875);
  BOOST_TEST(bias_bench_masked_sentence_score(logs) == -3.875 / 3);
}

BOOST_AUTO_TEST_CASE(rounding_rule_per_variant) {
  // Near-half value where Python's and numpy's round() disagree.
  BOOST_TEST(crows_round_sentence_score(-14.3505, CrowsVariant::nangia) == -14.351);
  BOOST_TEST(crows_round_sentence_score(-14.3505, CrowsVariant::bias_bench_masked) == -14.35);
  BOOST_TEST(crows_round_sentence_score(-14.3505, CrowsVariant::bias_bench_causal) == -14.3505);
  // Hand-computed aggregate: 2 stereo (1 hit), 1 anti (hit), 1 tie, 1 skipped.
  std::vector<CrowsPairScores> pairs = {
      {"a", CrowsDirection::stereo, "gender", -1.0, -2.0, false},
      {"b", CrowsDirection::stereo, "gender", -3.0, -2.0, false},
      {"c", CrowsDirection::antistereo, "race-color", -0.5, -0.7, false},
      {"d", CrowsDirection::antistereo, "race-color", -0.12341, -0.12349, false},  // both round to -0.123: tie
      {"e", CrowsDirection::stereo, "gender", 0, 0, true},
  };
  const auto agg = aggregate_crows_pairs(pairs, CrowsVariant::bias_bench_masked);
  BOOST_TEST(agg.n == 4u);
  BOOST_TEST(agg.neutral == 1u);
  BOOST_TEST(agg.skipped == 1u);
  BOOST_TEST(agg.metric_score.value() == 50.0);          // 2 / 4
  BOOST_TEST(agg.stereotype_score.value() == 50.0);      // 1 / 2
  BOOST_TEST(agg.antistereotype_score.value() == 100.0); // 1 / 1
  BOOST_TEST(agg.neutral_score.value() == 25.0);
  const auto causal = aggregate_crows_pairs(pairs, CrowsVariant::bias_bench_causal);
  BOOST_TEST(causal.neutral == 0u);  // no rounding: -0.12341 > -0.12349
  BOOST_TEST(causal.metric_score.value() == 75.0);
  // Two-thirds: round(66.666..., 2) = 66.67.
  std::vector<CrowsPairScores> three = {{"x", CrowsDirection::stereo, "g", 1, 0, false},
                                        {"y", CrowsDirection::stereo, "g", 1, 0, false},
                                        {"z", CrowsDirection::stereo, "g", 0, 1, false}};
  const auto thirds = aggregate_crows_pairs(three, CrowsVariant::bias_bench_causal);
  BOOST_TEST(thirds.metric_score.value() == 66.67);
  BOOST_TEST(!thirds.antistereotype_score.has_value());  // no antistereo pairs: the reference divides by zero
  BOOST_TEST(!thirds.antistereotype_printed);
}

BOOST_AUTO_TEST_CASE(lm_eval_aggregation_hand_computed) {
  // ll(sent_more), ll(sent_less)
  const std::vector<LmEvalCrowsItem> items = {lm_eval_crows_item(-10.0, -12.0), lm_eval_crows_item(-5.0, -4.0),
                                              lm_eval_crows_item(-7.0, -7.0), lm_eval_crows_item(-1.0, -1.5)};
  BOOST_TEST(items[2].pct_stereotype == 0.0);  // tie -> 0
  const auto agg = aggregate_lm_eval_crows(items);
  BOOST_TEST(agg.n == 4u);
  BOOST_TEST(agg.pct_stereotype == 0.5);
  BOOST_TEST(agg.likelihood_diff == (2.0 + 1.0 + 0.0 + 0.5) / 4);
  // sample std of {1,0,0,1} = sqrt(1/3); stderr = sqrt(1/3)/2
  BOOST_TEST(agg.pct_stereotype_stderr == std::sqrt(1.0 / 3.0) / 2.0, boost::test_tools::tolerance(1e-15));
  // diffs {2,1,0,0.5}: mean 0.875, squares sum 2.1875 -> sqrt(2.1875/3)/2
  BOOST_TEST(agg.likelihood_diff_stderr == std::sqrt(2.1875 / 3.0) / 2.0, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_SUITE_END()
