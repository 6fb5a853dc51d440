// Per-example scores of dynamic int8 models (compress.dynamic_int8, default per-sequence activation
// ranges) do not depend on how they were computed: batch_size 1, 7, 32, 64 and 1 vs 2 threads give the
// same values up to float rounding (<= 1e-6 in the log domain), for causal CrowS-Pairs (bias-bench),
// masked CrowS-Pairs (bias-bench and Nangia), StereoSet and SEAT. Under the old per-batch ranges they
// did not (checked too, so the test shows what it guards against).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "metric_test_support.hpp"

using metric_test::model_artifact;
using metric_test::run_plugin;
using nlohmann::json;

namespace {

biaslab::Artifact int8_model(const std::string& fixture, const std::string& activation_range) {
  const auto out = run_plugin("compress.dynamic_int8", {{"activation_range", activation_range}},
                              {{"model", {model_artifact(fixture, "base")}}});
  biaslab::Artifact a;
  a.type = "model";
  a.path = out.output_dir;
  a.key = "int8-" + fixture + "-" + activation_range;
  a.producer = fixture + "_int8";
  a.meta = metric_test::read_json(out.output_dir / "artifact.json");
  return a;
}

struct MetricCase {
  std::string plugin, fixture, example_metric;
  json params;
  std::vector<std::string> score_keys;  // per-example fields compared
  bool log_domain;                      // causal probabilities: compare logarithms
};

std::vector<MetricCase> cases() {
  const json quick = {{"bootstrap_resamples", 0}, {"permutations", 0}, {"noise_floor", false}};
  auto with = [&](json extra) {
    json p = quick;
    p.update(extra);
    return p;
  };
  return {
      {"metric.crows_pairs", "gpt_neox", "crows_pairs", with({{"scoring", "bias-bench"}, {"limit", 80}}),
       {"sent_more_score", "sent_less_score"}, true},
      {"metric.crows_pairs", "bert", "crows_pairs", with({{"scoring", "bias-bench"}, {"bias_type", "religion"}, {"limit", 60}}),
       {"sent_more_score", "sent_less_score"}, false},
      {"metric.crows_pairs", "bert", "crows_pairs", with({{"scoring", "nangia"}, {"bias_type", "religion"}, {"limit", 40}}),
       {"sent_more_score", "sent_less_score"}, false},
      {"metric.stereoset", "gpt2", "stereoset", with({{"bias_type", "religion"}}), {}, true},
      {"metric.seat", "bert", "seat", with({{"tests", {"weat1"}}, {"n_samples", 100}}), {}, false},
  };
}

// Every numeric field of each example (when `keys` is empty), or the named ones.
std::map<std::string, double> values(const std::map<std::string, json>& examples, const std::vector<std::string>& keys) {
  std::map<std::string, double> out;
  for (const auto& [id, e] : examples) {
    for (const auto& [k, v] : e.items()) {
      if (!v.is_number_float()) continue;
      if (!keys.empty() && std::find(keys.begin(), keys.end(), k) == keys.end()) continue;
      out[id + "." + k] = v.get<double>();
    }
  }
  return out;
}

double max_difference(const std::map<std::string, double>& a, const std::map<std::string, double>& b, bool log_domain) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  double worst = 0;
  for (const auto& [k, va] : a) {
    const double vb = b.at(k);
    const double d = log_domain && va > 0 && vb > 0 ? std::fabs(std::log(va) - std::log(vb)) : std::fabs(va - vb);
    worst = std::max(worst, std::isnan(d) ? INFINITY : d);
  }
  return worst;
}

std::map<std::string, double> scores(const MetricCase& c, const biaslab::Artifact& model, int batch, int threads) {
  json p = c.params;
  p["batch_size"] = batch;
  p["threads"] = threads;
  const auto out = run_plugin(c.plugin, p, {{"models", {model}}});
  const auto v = values(out.examples_of(model.producer, c.example_metric), c.score_keys);
  BOOST_REQUIRE(!v.empty());
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(int8_invariance)

BOOST_AUTO_TEST_CASE(per_sequence_scores_do_not_depend_on_batch_size_or_threads) {
  std::map<std::string, biaslab::Artifact> models;
  for (const auto& c : cases()) {
    if (!models.count(c.fixture)) models.emplace(c.fixture, int8_model(c.fixture, "per_sequence"));
    const auto& model = models.at(c.fixture);
    BOOST_TEST_CONTEXT(c.plugin << " " << c.params.dump() << " on " << c.fixture) {
      const auto reference = scores(c, model, 1, 1);
      for (int batch : {1, 7, 32, 64}) {
        const double d = max_difference(scores(c, model, batch, 2), reference, c.log_domain);
        BOOST_TEST_MESSAGE(c.plugin << " " << c.fixture << " batch " << batch << " / 2 threads vs batch 1 / 1 thread: "
                                    << d);
        BOOST_TEST(d <= 1e-6, "batch_size " << batch << ": max difference " << d);
      }
    }
  }
}

// The behaviour the default replaced: one range over the padded batch changes the scores.
BOOST_AUTO_TEST_CASE(per_batch_scores_depend_on_batch_size) {
  const auto c = cases().front();  // causal CrowS-Pairs on GPT-NeoX
  const auto model = int8_model(c.fixture, "per_batch");
  const double d = max_difference(scores(c, model, 32, 1), scores(c, model, 1, 1), c.log_domain);
  BOOST_TEST_MESSAGE("per_batch, batch 32 vs 1: max log difference " << d);
  BOOST_TEST(d > 1e-4);
}

BOOST_AUTO_TEST_SUITE_END()
