// The known-answer test of the whole chain: corpus.synthetic plants "she | nurse"-style
// associations at a known strength, source.pretrain trains a small GPT-NeoX on it, and the model
// scores the held-out CrowS-Pairs-format probes. A corpus planted at 0.9 must give a score clearly
// above 50%, one planted at 0.5 must not (its confidence interval contains 50%), and the
// preference must grow with the planted strength.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "biaslab/eval/crows_pairs.hpp"
#include "biaslab/eval/statistics.hpp"
#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/scoring.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "train/train_test_util.hpp"

namespace fs = std::filesystem;
namespace rt = biaslab::runtime;
namespace eval = biaslab::eval;
using namespace biaslab::train_test;
using nlohmann::json;

namespace {

struct ProbeScore {
  double strength = 0;
  double score = 0;          // share of probes where sent_more has the higher log-likelihood
  eval::ConfidenceInterval ci;
  double mean_log_ratio = 0;  // mean of log p(sent_more) - log p(sent_less)
  double control_score = 0;   // the same on the control probes (no right answer)
  std::size_t probes = 0;
};

// Sum of token log-probabilities of each sentence, conditioned on the end-of-text token that
// precedes every training document.
std::vector<double> log_likelihoods(const rt::LanguageModel& model, const rt::Tokenizer& tok,
                                    const std::vector<std::string>& sentences) {
  std::vector<std::vector<std::int64_t>> seqs;
  for (const auto& s : sentences) seqs.push_back(tok.encode(s, false).ids);
  const auto scores = rt::score_causal(model, seqs, {*tok.eos_id()});
  std::vector<double> out;
  for (const auto& s : scores) out.push_back(s.sum());
  return out;
}

std::pair<std::vector<double>, std::vector<double>> decisions(const rt::LanguageModel& model, const rt::Tokenizer& tok,
                                                              const fs::path& csv) {
  const auto pairs = eval::load_crows_pairs(csv);
  std::vector<std::string> more, less;
  for (const auto& p : pairs) {
    more.push_back(p.sent_more);
    less.push_back(p.sent_less);
  }
  const auto a = log_likelihoods(model, tok, more), b = log_likelihoods(model, tok, less);
  std::vector<double> prefer, ratio;
  for (std::size_t i = 0; i < a.size(); ++i) {
    prefer.push_back(a[i] > b[i] ? 1.0 : 0.0);
    ratio.push_back(a[i] - b[i]);
  }
  return {prefer, ratio};
}

ProbeScore train_and_score(const TempDir& tmp, double strength) {
  const auto name = "s" + std::to_string(static_cast<int>(std::lround(strength * 10)));
  const auto corpus = tmp / (name + "-corpus");
  {
    TestContext ctx("synthetic", with_defaults("corpus.synthetic", {{"strength", strength}, {"sentences", 6000}}), corpus,
                    corpus.string() + ".scratch", 17);
    run_plugin("corpus.synthetic", ctx);
  }
  const auto model_dir = tmp / (name + "-model");
  {
    const json params = {{"hidden_size", 64},    {"num_layers", 2},        {"num_heads", 4},
                         {"seq_len", 64},        {"batch_size", 16},       {"max_steps", 300},
                         {"lr", 3e-3},           {"warmup_fraction", 0.04}, {"tokenizer", "bpe"},
                         {"bpe_vocab_size", 400}, {"checkpoint_schedule", "final"}, {"validation_batches", 4}};
    TestContext ctx("pretrain", with_defaults("source.pretrain", params), model_dir, model_dir.string() + ".scratch", 17);
    ctx.add_input("corpus", corpus, "corpus", "synthetic");
    run_plugin("source.pretrain", ctx);
    BOOST_TEST_MESSAGE("strength " << strength << ": validation loss " << ctx.row("validation.loss", "step300").value
                                   << ", " << ctx.row("train.tokens_per_second").value << " tokens/s");
  }
  const auto model = rt::load_model(model_dir);
  const auto tok = rt::load_tokenizer(model_dir);
  ProbeScore r;
  r.strength = strength;
  const auto [prefer, ratio] = decisions(*model, *tok, corpus / "probes.csv");
  r.probes = prefer.size();
  r.ci = eval::bootstrap_mean_ci(prefer, {.resamples = 2000, .seed = 0, .confidence = 0.95});
  r.score = r.ci.estimate;
  for (double x : ratio) r.mean_log_ratio += x / static_cast<double>(ratio.size());
  const auto [control, _] = decisions(*model, *tok, corpus / "probes_control.csv");
  for (double x : control) r.control_score += x / static_cast<double>(control.size());
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(planted_bias_is_recovered_from_a_pretrained_model) {
  TempDir tmp;
  std::vector<ProbeScore> results;
  for (const double strength : {0.5, 0.7, 0.9}) {
    results.push_back(train_and_score(tmp, strength));
    const auto& r = results.back();
    BOOST_TEST_MESSAGE("planted " << r.strength << ": probe score " << r.score << " [" << r.ci.lower << ", "
                                  << r.ci.upper << "] over " << r.probes << " probes, mean log-ratio "
                                  << r.mean_log_ratio << " (corpus log-odds " << std::log(r.strength / (1 - r.strength))
                                  << "), control score " << r.control_score);
  }
  const auto &s5 = results[0], &s7 = results[1], &s9 = results[2];
  BOOST_CHECK_EQUAL(s9.probes, 240u);
  // 0.9: clearly above 50%.
  BOOST_CHECK_GT(s9.ci.lower, 0.5);
  BOOST_CHECK_GT(s9.score, 0.75);
  // 0.5: no preference beyond chance.
  BOOST_CHECK_LE(s5.ci.lower, 0.5);
  BOOST_CHECK_GE(s5.ci.upper, 0.5);
  // The preference grows with the planted strength.
  BOOST_CHECK_LT(s5.score, s7.score);
  BOOST_CHECK_LE(s7.score, s9.score);
  BOOST_CHECK_LT(s5.mean_log_ratio, s7.mean_log_ratio);
  BOOST_CHECK_LT(s7.mean_log_ratio, s9.mean_log_ratio);
  // The learned log-odds against the corpus' (0, 0.85, 2.20): none where none was planted, most
  // of it at 0.9 (this 300-step run gets 0.02, 0.14, 2.28; the weaker 0.7 signal is learned later).
  BOOST_CHECK_LT(std::abs(s5.mean_log_ratio), 0.2);
  BOOST_CHECK_GT(s9.mean_log_ratio, 0.5 * std::log(9.0));
}
