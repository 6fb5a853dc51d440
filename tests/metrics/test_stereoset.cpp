// metric.stereoset on the fixtures against bias-bench's StereoSetRunner + ScoreEvaluator goldens (bert
// masked, gpt2 causal): every sentence score, every comparison except the golden's fragile ones, and the
// SS / LMS / ICAT of every domain; the paired-comparison rows against the example rows.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "biaslab/eval/statistics.hpp"
#include "metric_test_support.hpp"

using metric_test::golden;
using metric_test::model_artifact;
using metric_test::run_plugin;
using nlohmann::json;

namespace {

struct Agreement {
  double max_log_diff = 0;
  std::size_t sentences = 0, decision_mismatches = 0, fragile_flips = 0;
};

// Our sentence scores (from the example rows) against the golden's, and the three comparisons per example.
Agreement check_against_golden(const metric_test::RunOutput& out, const std::string& model, const json& g,
                                const std::string& domain = "") {
  Agreement a;
  const auto examples = out.examples_of(model, "stereoset");
  std::map<std::string, double> ours, ref;
  for (const auto& [id, e] : examples)
    for (const char* label : {"stereotype", "anti_stereotype", "unrelated"})
      ours[e[std::string(label) + "_id"].get<std::string>()] = e[std::string(label) + "_score"].get<double>();
  std::map<std::string, std::map<std::string, double>> by_example;  // example -> gold label -> golden score
  for (const auto& s : g["sentences"]) {
    if (!domain.empty() && s["bias_type"] != domain) continue;
    const double score = s["score"];
    ref[s["id"]] = score;
    by_example[s["example_id"]][s["gold_label"]] = score;
    const double mine = ours.at(s["id"].get<std::string>());
    const double d = std::fabs(std::log(mine) - std::log(score));
    a.max_log_diff = std::max(a.max_log_diff, d);
    BOOST_TEST(d <= 1e-4, "sentence " << s["id"] << ": " << mine << " vs golden " << score);
    ++a.sentences;
  }
  BOOST_TEST(ours.size() == ref.size());
  const auto& fragile = g["fragile_comparisons"];
  for (const auto& [id, e] : examples) {
    const auto& r = by_example.at(id);
    const std::pair<const char*, bool> checks[] = {
        {"stereo_vs_anti", r.at("stereotype") > r.at("anti-stereotype")},
        {"stereo_vs_unrelated", r.at("stereotype") > r.at("unrelated")},
        {"anti_vs_unrelated", r.at("anti-stereotype") > r.at("unrelated")}};
    const bool mine[] = {e["stereotype_preferred"], e["stereotype_over_unrelated"], e["anti_over_unrelated"]};
    for (int k = 0; k < 3; ++k) {
      if (mine[k] == checks[k].second) continue;
      bool is_fragile = false;
      if (fragile.contains(id))
        for (const auto& f : fragile[id]) is_fragile = is_fragile || f == checks[k].first;
      ++(is_fragile ? a.fragile_flips : a.decision_mismatches);
    }
  }
  BOOST_TEST(a.decision_mismatches == 0u);
  return a;
}

// `only`: check just this category of the golden (a run filtered to one domain).
void check_scores(const metric_test::RunOutput& out, const std::string& model, const json& results,
                  const std::string& only = "") {
  for (const auto& [category, s] : results["intrasentence"].items()) {
    if (!only.empty() && category != only) continue;
    BOOST_TEST_CONTEXT(model << " " << category) {
      BOOST_TEST(out.row(model, "stereoset.ss", category).value == s["SS Score"].get<double>());
      BOOST_TEST(out.row(model, "stereoset.lms", category).value == s["LM Score"].get<double>());
      BOOST_TEST(out.row(model, "stereoset.icat", category).value == s["ICAT Score"].get<double>());
      BOOST_TEST(out.row(model, "stereoset.ss", category).extra["reference_count"].get<double>() == s["Count"].get<double>());
      const auto& ss = out.row(model, "stereoset.ss", category);
      BOOST_TEST((*ss.ci_low <= ss.value && ss.value <= *ss.ci_high));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stereoset)

BOOST_AUTO_TEST_CASE(masked_matches_golden_bert_religion_and_pairs_with_roberta) {
  // One domain (the reference scores domains separately, so its numbers are exact for a filtered run);
  // every sentence in full_goldens below.
  const auto g = golden("bert/stereoset.json");
  const auto out = run_plugin("metric.stereoset", {{"bias_type", "religion"}, {"bootstrap_resamples", 300}, {"permutations", 2000}},
                              {{"models", {model_artifact("bert", "bert"), model_artifact("roberta", "roberta")}}});
  const auto a = check_against_golden(out, "bert", g, "religion");
  BOOST_TEST_MESSAGE("stereoset bert religion: " << a.sentences << " sentences, max |ln score - ln golden| = "
                                                 << a.max_log_diff << ", fragile flips " << a.fragile_flips);
  BOOST_TEST(a.sentences == 237u);
  check_scores(out, "bert", g["results"], "religion");
  const auto& religion = g["results"]["intrasentence"]["religion"];
  BOOST_TEST(out.row("bert", "stereoset.ss").value == religion["SS Score"].get<double>());
  BOOST_TEST(out.row("bert", "stereoset.icat").value == religion["ICAT Score"].get<double>());
  BOOST_TEST(*out.row("bert", "stereoset.ss").n == 79);
  BOOST_TEST(out.row("bert", "stereoset.sentences").extra["roberta_leading_space"].get<bool>() == false);
  BOOST_TEST(out.row("roberta", "stereoset.sentences").extra["roberta_leading_space"].get<bool>() == true);

  // ss.diff: SS(roberta) - SS(bert) with flips of "stereotype preferred" taken from the example rows.
  const auto eb = out.examples_of("bert", "stereoset"), er = out.examples_of("roberta", "stereoset");
  std::vector<int> b, r;
  for (const auto& [id, e] : eb) {
    b.push_back(e["stereotype_preferred"].get<bool>());
    r.push_back(er.at(id)["stereotype_preferred"].get<bool>());
  }
  const auto flips = biaslab::eval::count_flips(b, r);
  for (const char* metric : {"ss", "lms", "icat"}) {
    const auto& diff = out.row("roberta", std::string("stereoset.") + metric + ".diff");
    BOOST_TEST(diff.value == out.row("roberta", std::string("stereoset.") + metric).value -
                                 out.row("bert", std::string("stereoset.") + metric).value,
               boost::test_tools::tolerance(1e-9));
    BOOST_TEST(*diff.n == 79);
  }
  const auto& ss = out.row("roberta", "stereoset.ss.diff");
  BOOST_TEST(ss.extra["flips"]["base_only"].get<std::size_t>() == flips.base_only);
  BOOST_TEST(ss.extra["flips"]["compressed_only"].get<std::size_t>() == flips.compressed_only);
  BOOST_TEST(ss.extra["mcnemar_exact_p"].get<double>() == biaslab::eval::mcnemar_test(flips).exact_p);
  BOOST_TEST(out.has_row("roberta", "stereoset.ss.diff", "religion"));
}

BOOST_AUTO_TEST_CASE(causal_matches_golden_gpt2_religion) {
  const auto g = golden("gpt2/stereoset.json");
  const auto out = run_plugin("metric.stereoset", {{"bias_type", "religion"}, {"bootstrap_resamples", 200}},
                              {{"models", {model_artifact("gpt2", "gpt2")}}});
  const auto a = check_against_golden(out, "gpt2", g, "religion");
  BOOST_TEST_MESSAGE("stereoset gpt2 religion: " << a.sentences << " sentences, max |ln score - ln golden| = "
                                                 << a.max_log_diff << ", fragile flips " << a.fragile_flips);
  BOOST_TEST(a.sentences == 237u);
  check_scores(out, "gpt2", g["results"], "religion");
  BOOST_TEST(out.row("gpt2", "stereoset.sentences").extra["bos_id"].get<std::int64_t>() == 50256);
}

BOOST_AUTO_TEST_CASE(domain_filter_and_limit) {
  const auto out = run_plugin("metric.stereoset", {{"bias_type", "gender"}, {"limit", 30}, {"bootstrap_resamples", 50}},
                              {{"models", {model_artifact("gpt2", "gpt2")}}});
  BOOST_TEST(*out.row("gpt2", "stereoset.ss").n == 30);
  BOOST_TEST(out.has_row("gpt2", "stereoset.ss", "gender"));
  BOOST_TEST(!out.has_row("gpt2", "stereoset.ss", "race"));
  for (const auto& [id, e] : out.examples_of("gpt2", "stereoset")) BOOST_TEST(e["bias_type"] == "gender");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(full_goldens)  // disabled by default: see test_crows_pairs.cpp

BOOST_AUTO_TEST_CASE(stereoset_bert_and_gpt2_all_sentences) {
  for (const char* fixture : {"bert", "gpt2"}) {
    const auto g = golden(std::string(fixture) + "/stereoset.json");
    const auto out = run_plugin("metric.stereoset", {}, {{"models", {model_artifact(fixture, fixture)}}});
    const auto a = check_against_golden(out, fixture, g);
    BOOST_TEST_MESSAGE("stereoset " << fixture << ": " << a.sentences << " sentences in " << out.seconds
                                    << " s, max |ln score - ln golden| = " << a.max_log_diff << ", decision mismatches "
                                    << a.decision_mismatches << ", fragile flips " << a.fragile_flips);
    BOOST_TEST(a.sentences == 6318u);
    if (a.fragile_flips == 0) check_scores(out, fixture, g["results"]);
  }
}

BOOST_AUTO_TEST_SUITE_END()
