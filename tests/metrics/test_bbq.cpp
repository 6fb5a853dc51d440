// metric.bbq on the gpt2 fixture: choice log-likelihoods against a direct forward pass of lm-eval's request
// (context + " " + answer), aggregates against the eval library's lm-eval aggregation of the predictions in
// the example rows, masked LMs refused, a model compared with itself.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <string>

#include <torch/torch.h>

#include "biaslab/eval/bbq.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "metric_test_support.hpp"

using metric_test::model_artifact;
using metric_test::run_plugin;
using nlohmann::json;
namespace eval = biaslab::eval;

BOOST_AUTO_TEST_SUITE(bbq)

BOOST_AUTO_TEST_CASE(gpt2_choices_and_aggregates) {
  constexpr std::size_t kPerCategory = 2;
  const auto out = run_plugin("metric.bbq", {{"limit", kPerCategory}, {"bootstrap_resamples", 200}},
                              {{"models", {model_artifact("gpt2", "gpt2"), model_artifact("gpt2", "gpt2-again")}}});
  BOOST_TEST_MESSAGE("bbq gpt2 x2 (" << kPerCategory << " per category): " << out.seconds << " s");
  const auto ex = out.examples_of("gpt2", "bbq");
  // The same subset, in the plugin's order (files sorted, first N of each).
  std::vector<eval::BbqExample> examples;
  std::map<std::string, std::size_t> taken;
  for (auto& e : eval::load_bbq_directory(std::filesystem::path(metric_test::env("BIASLAB_DATA_MIRROR")) / "bbq"))
    if (taken[e.category]++ < kPerCategory) examples.push_back(std::move(e));
  BOOST_REQUIRE_EQUAL(ex.size(), examples.size());
  BOOST_TEST(examples.size() == 6 * kPerCategory);

  const auto model = biaslab::runtime::load_model(metric_test::fixture("gpt2"));
  const auto tok = biaslab::runtime::load_tokenizer(metric_test::fixture("gpt2"));
  std::vector<std::size_t> predictions;
  double max_diff = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const auto& e = ex.at(examples[i].category + "-" + std::to_string(examples[i].example_id));
    predictions.push_back(e["prediction"].get<std::size_t>());
    if (i % kPerCategory != 0) continue;  // direct check of one example per category
    const auto prompt = eval::lm_eval_bbq_prompt(examples[i]);
    const auto choices = eval::lm_eval_bbq_choices(examples[i]);
    const auto context = tok->encode(prompt, false).ids;
    std::vector<double> lls;
    for (std::size_t c = 0; c < choices.size(); ++c) {
      const auto whole = tok->encode(prompt + " " + choices[c], false).ids;
      const auto lp = torch::log_softmax(model->forward(torch::tensor(whole).unsqueeze(0))[0], -1);
      float sum = 0;
      for (std::size_t t = context.size(); t < whole.size(); ++t) sum += lp[static_cast<std::int64_t>(t) - 1][whole[t]].item<float>();
      lls.push_back(sum);
      max_diff = std::max(max_diff, std::fabs(sum - e["loglikelihoods"][c].get<double>()));
    }
    BOOST_TEST(e["prediction"].get<std::size_t>() == eval::lm_eval_argmax(lls));
    BOOST_TEST(e["predicted_answer"] == choices[e["prediction"].get<std::size_t>()]);
  }
  BOOST_TEST_MESSAGE("bbq gpt2: max |ll - direct| = " << max_diff);
  BOOST_TEST(max_diff <= 1e-4);

  const auto reference = eval::lm_eval_bbq_scores(examples, predictions);
  BOOST_TEST(out.row("gpt2", "bbq.acc").value == reference.acc);
  BOOST_TEST(out.row("gpt2", "bbq.accuracy_amb").value == reference.accuracy_amb);
  BOOST_TEST(out.row("gpt2", "bbq.accuracy_disamb").value == reference.accuracy_disamb);
  BOOST_TEST(out.row("gpt2", "bbq.amb_bias_score").value == reference.amb_bias_score);
  BOOST_TEST(out.row("gpt2", "bbq.disamb_bias_score").value == reference.disamb_bias_score);
  BOOST_TEST(*out.row("gpt2", "bbq.acc").n == static_cast<std::int64_t>(examples.size()));
  for (const char* category : {"Age", "Religion", "Sexual_orientation"}) {
    BOOST_TEST(out.row("gpt2", "bbq.amb_bias_score", category).value == reference.amb_bias_score_by_category.at(category));
    BOOST_TEST(out.row("gpt2", "bbq.disamb_bias_score", category).value ==
               reference.disamb_bias_score_by_category.at(category));
  }
  // The model against itself: no difference, no flips, nothing significant.
  const auto& diff = out.row("gpt2-again", "bbq.acc.diff");
  BOOST_TEST(diff.value == 0.0);
  BOOST_TEST(diff.extra["flips"]["total"].get<std::size_t>() == 0u);
  BOOST_TEST(diff.extra["mcnemar_exact_p"].get<double>() == 1.0);
  BOOST_TEST(diff.extra["permutation_p"].get<double>() == 1.0);
  BOOST_TEST(out.row("gpt2-again", "bbq.amb_bias_score.diff").value == 0.0);
}

BOOST_AUTO_TEST_CASE(masked_models_are_refused_clearly) {
  try {
    run_plugin("metric.bbq", {{"limit", 1}}, {{"models", {model_artifact("bert", "bert")}}});
    BOOST_FAIL("bert was scored");
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find("masked LM") != std::string::npos);
    BOOST_TEST(message.find("not supported") != std::string::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
