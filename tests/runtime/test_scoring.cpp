// Scoring API against the HF goldens (token log-probs, masked log-probs, last hidden states) and
// batch-composition independence: a sequence scores the same alone or in any padded batch.
#include <boost/test/unit_test.hpp>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/safetensors.hpp"
#include "biaslab/runtime/scoring.hpp"
#include "test_util.hpp"

using namespace biaslab::runtime;
namespace t = biaslab::runtime::test;

namespace {

using Sequences = std::vector<std::vector<std::int64_t>>;

// Rows of a [B,T] golden input, each cut to its attention mask.
Sequences unpadded_rows(const SafetensorsFile& g, const std::string& c) {
  auto ids = g.load(c + ".input_ids");
  auto mask = g.load(c + ".attention_mask");
  Sequences out;
  for (std::int64_t b = 0; b < ids.size(0); ++b) {
    std::vector<std::int64_t> row;
    for (std::int64_t i = 0; i < ids.size(1); ++i) {
      if (mask[b][i].item<std::int64_t>()) row.push_back(ids[b][i].item<std::int64_t>());
    }
    out.push_back(row);
  }
  return out;
}

Sequences test_sequences(const SafetensorsFile& g) {
  Sequences seqs;
  for (const char* c : {"single", "short", "long_text", "random", "pair_right"}) {
    for (auto& s : unpadded_rows(g, c)) seqs.push_back(s);
  }
  // A few prefixes of the long ones, so lengths vary a lot within a batch.
  for (std::size_t n : {3, 7, 19, 64}) {
    seqs.push_back(std::vector<std::int64_t>(seqs[3].begin(), seqs[3].begin() + static_cast<std::ptrdiff_t>(n)));
  }
  return seqs;
}

double max_diff(const std::vector<CausalScore>& a, const std::vector<CausalScore>& b) {
  double d = 0;
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_REQUIRE_EQUAL(a[i].logprobs.size(), b[i].logprobs.size());
    BOOST_REQUIRE_EQUAL(a[i].first_scored, b[i].first_scored);
    for (std::size_t k = 0; k < a[i].logprobs.size(); ++k) {
      d = std::max(d, std::abs(static_cast<double>(a[i].logprobs[k]) - b[i].logprobs[k]));
    }
  }
  return d;
}

double max_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  double d = 0;
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_REQUIRE_EQUAL(a[i].size(), b[i].size());
    for (std::size_t k = 0; k < a[i].size(); ++k) d = std::max(d, std::abs(static_cast<double>(a[i][k]) - b[i][k]));
  }
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(scoring)

BOOST_AUTO_TEST_CASE(causal_token_logprobs_match_goldens) {
  for (const char* name : {"gpt_neox", "gpt2", "llama"}) {
    BOOST_TEST_CONTEXT(name) {
      auto model = load_model(t::fixture(name));
      SafetensorsFile g(t::fixture(name) / "golden" / "goldens.safetensors");
      for (const char* c : {"short", "long_text", "random", "pair_right"}) {
        const auto rows = unpadded_rows(g, c);
        const auto golden = g.load(std::string(c) + ".token_logprobs");
        const auto scores = score_causal(*model, rows, {}, ScoringOptions{4, 0});
        double diff = 0, tol = 0;
        for (std::size_t b = 0; b < rows.size(); ++b) {
          BOOST_REQUIRE_EQUAL(scores[b].first_scored, 1u);
          BOOST_REQUIRE_EQUAL(scores[b].logprobs.size(), rows[b].size() - 1);
          double sum = 0;
          for (std::size_t k = 0; k < scores[b].logprobs.size(); ++k) {
            const double gv = golden[static_cast<std::int64_t>(b)][static_cast<std::int64_t>(k)].item<double>();
            diff = std::max(diff, std::abs(scores[b].logprobs[k] - gv));
            tol = std::max(tol, std::abs(gv));
            sum += scores[b].logprobs[k];
          }
          BOOST_TEST(scores[b].sum() == sum, boost::test_tools::tolerance(1e-9));
        }
        tol = 1e-5 * std::max(1.0, tol);
        BOOST_TEST(diff <= tol, c << ": max |diff| " << diff);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(causal_scores_do_not_depend_on_batching) {
  for (const char* name : {"gpt_neox", "gpt2", "llama"}) {
    auto model = load_model(t::fixture(name));
    SafetensorsFile g(t::fixture(name) / "golden" / "goldens.safetensors");
    const auto seqs = test_sequences(g);
    const auto alone = score_causal(*model, seqs, {}, ScoringOptions{1, 0});
    double worst = 0;
    for (const auto& options : {ScoringOptions{16, 0}, ScoringOptions{3, 0}, ScoringOptions{16, 200}}) {
      worst = std::max(worst, max_diff(alone, score_causal(*model, seqs, {}, options)));
    }
    // Reversed input order gives reversed results.
    Sequences reversed(seqs.rbegin(), seqs.rend());
    auto back = score_causal(*model, reversed, {}, ScoringOptions{5, 0});
    std::reverse(back.begin(), back.end());
    worst = std::max(worst, max_diff(alone, back));
    BOOST_TEST_MESSAGE(name << ": causal scores alone vs batched, max |diff| " << worst);
    BOOST_TEST(worst <= 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(prefix_conditions_every_token) {
  auto model = load_model(t::fixture("gpt2"));
  const std::vector<std::int64_t> seq{15496, 995, 11, 40};
  const auto scores = score_causal(*model, {seq, {}}, {50256});
  BOOST_REQUIRE_EQUAL(scores[0].first_scored, 0u);
  BOOST_REQUIRE_EQUAL(scores[0].logprobs.size(), seq.size());
  BOOST_TEST(scores[1].logprobs.empty());
  // Reference: one forward pass over [bos] + seq.
  auto ids = torch::tensor({50256, 15496, 995, 11, 40}, torch::kLong).unsqueeze(0);
  auto lp = torch::log_softmax(model->forward(ids)[0], -1);
  for (std::size_t k = 0; k < seq.size(); ++k) {
    BOOST_TEST(scores[0].logprobs[k] == lp[static_cast<std::int64_t>(k)][seq[k]].item<float>(),
               boost::test_tools::tolerance(1e-5f));
  }
  // bias-bench's separate <|endoftext|> pass for the first token.
  auto next = next_token_logprobs(*model, {{50256}, {50256, 15496}});
  BOOST_TEST(next.sizes() == (std::vector<std::int64_t>{2, 50257}));
  BOOST_TEST(next[0][15496].item<float>() == scores[0].logprobs[0], boost::test_tools::tolerance(1e-5f));
  BOOST_TEST(t::max_abs_diff(next[1], lp[1]) < 1e-5);
  // A one-token sequence without prefix has nothing to score.
  BOOST_TEST(score_causal(*model, {{15496}})[0].logprobs.empty());
}

BOOST_AUTO_TEST_CASE(masked_logprobs_match_goldens) {
  for (const char* name : {"bert", "roberta"}) {
    BOOST_TEST_CONTEXT(name) {
      auto model = load_model(t::fixture(name));
      SafetensorsFile g(t::fixture(name) / "golden" / "goldens.safetensors");
      const auto meta = nlohmann::json::parse(t::read_file(t::fixture(name) / "golden" / "goldens.json"));
      nlohmann::json masked_case;
      for (const auto& c : meta["cases"]) {
        if (c["name"] == "masked") masked_case = c;
      }
      const auto p = masked_case["masked_position"].get<std::int64_t>();
      const auto original = masked_case["original_id"].get<std::int64_t>();
      const auto mask_id = meta["mask_id"].get<std::int64_t>();
      auto sentence = unpadded_rows(g, "masked")[0];
      sentence[static_cast<std::size_t>(p)] = original;  // the unmasked sentence
      const auto golden = torch::log_softmax(g.load("masked.mask_logits"), -1)[original].item<double>();
      // Pseudo-log-likelihood term of position p, alone and among all positions.
      const auto one = pseudo_log_likelihood(*model, {sentence}, mask_id, {{p}});
      const auto all = pseudo_log_likelihood(*model, {sentence, sentence}, mask_id);
      BOOST_TEST(std::abs(one[0][0] - golden) <= 1e-4, one[0][0] << " vs " << golden);
      BOOST_TEST(std::abs(all[1][static_cast<std::size_t>(p)] - golden) <= 1e-4);
      BOOST_TEST(std::abs(golden - masked_case["mask_logprob_of_original"].get<double>()) <= 1e-5);
      BOOST_TEST(all[0].size() == sentence.size());
      // Batch-composition independence of all PLL terms.
      auto alone = pseudo_log_likelihood(*model, {sentence, sentence}, mask_id, {}, ScoringOptions{1, 0});
      const double d = max_diff(alone, all);
      BOOST_TEST_MESSAGE(name << ": PLL terms alone vs batched, max |diff| " << d);
      BOOST_TEST(d <= 1e-5);
      // Several targets at one masked position.
      auto masked_ids = unpadded_rows(g, "masked")[0];
      auto multi = masked_logprobs(*model, {{masked_ids, {p, p}, {original, 0}}});
      BOOST_TEST(std::abs(multi[0][0] - golden) <= 1e-4);
      BOOST_TEST(std::abs(multi[0][1] - torch::log_softmax(g.load("masked.mask_logits"), -1)[0].item<double>()) <= 1e-4);
    }
  }
}

BOOST_AUTO_TEST_CASE(mean_pooled_hidden_states_match_goldens) {
  for (const char* name : {"bert", "roberta", "gpt2"}) {
    BOOST_TEST_CONTEXT(name) {
      auto model = load_model(t::fixture(name));
      SafetensorsFile g(t::fixture(name) / "golden" / "goldens.safetensors");
      const auto L = model->config().num_layers;
      Sequences seqs;
      std::vector<torch::Tensor> expected;
      for (const char* c : {"short", "long_text", "pair_right"}) {
        const auto rows = unpadded_rows(g, c);
        const auto hidden = g.load(std::string(c) + ".hidden_states." + std::to_string(L));
        for (std::size_t b = 0; b < rows.size(); ++b) {
          seqs.push_back(rows[b]);
          const auto n = static_cast<std::int64_t>(rows[b].size());
          // Right padding (or none): the real tokens come first.
          expected.push_back(hidden[static_cast<std::int64_t>(b)].narrow(0, 0, n).to(torch::kFloat64).mean(0));
        }
      }
      const auto pooled = mean_pooled_hidden_states(*model, seqs, ScoringOptions{3, 0});
      const auto want = torch::stack(expected);
      const double diff = t::max_abs_diff(pooled, want);
      BOOST_TEST(diff <= 1e-5 * std::max(1.0, t::max_abs(want)), "max |diff| " << diff);
      const auto alone = mean_pooled_hidden_states(*model, seqs, ScoringOptions{1, 0});
      BOOST_TEST(t::max_abs_diff(alone, pooled) <= 1e-5);
    }
  }
}

BOOST_AUTO_TEST_CASE(wrong_model_kind_or_ids_are_errors) {
  auto bert = load_model(t::fixture("bert"));
  auto gpt2 = load_model(t::fixture("gpt2"));
  BOOST_CHECK_THROW(score_causal(*bert, {{101, 102}}), std::invalid_argument);
  BOOST_CHECK_THROW(masked_logprobs(*gpt2, {{{1, 2}, {0}, {1}}}), std::invalid_argument);
  BOOST_CHECK_THROW(masked_logprobs(*bert, {{{101, 102}, {2}, {1}}}), std::invalid_argument);
  BOOST_CHECK_THROW(masked_logprobs(*bert, {{{101, 102}, {0, 1}, {1}}}), std::invalid_argument);
  BOOST_CHECK_THROW(score_causal(*gpt2, {{1, 50257}}), std::invalid_argument);
  BOOST_CHECK_THROW(score_causal(*gpt2, {{1, 2}}, {}, ScoringOptions{0, 0}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
