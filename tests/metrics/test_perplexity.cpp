// metric.perplexity: one window against HF's own token log-probabilities (fixture golden), the strided windows
// of HF's guide against direct forward passes (both reductions), text sources (data file rows, raw file,
// corpus artifact) giving the same tokens, pseudo-perplexity of a masked LM against direct masking, and the
// paired comparison of two models sharing a tokenizer.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "biaslab/runtime/model.hpp"
#include "biaslab/runtime/tokenizers/tokenizer.hpp"
#include "metric_test_support.hpp"

using metric_test::model_artifact;
using metric_test::run_plugin;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path write_text(const std::string& name, const std::string& text) {
  const auto path = metric_test::temp_dir("texts") / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// The "long_text" case of the gpt2 fixture's HF goldens (text, ids, HF token log-probabilities).
json long_text_case() {
  const auto goldens = metric_test::read_json(metric_test::fixture("gpt2") / "golden/goldens.json");
  for (const auto& c : goldens["cases"])
    if (c["name"] == "long_text") return c;
  throw std::runtime_error("no long_text case");
}

std::string long_text() { return long_text_case()["text"]; }

}  // namespace

BOOST_AUTO_TEST_SUITE(perplexity)

BOOST_AUTO_TEST_CASE(single_window_equals_hf_token_logprobs_gpt2) {
  const json golden_case = long_text_case();
  double sum = 0;
  const auto& lps = golden_case["token_logprobs"][0];
  for (const auto& v : lps) sum += v.get<double>();
  const double expected = std::exp(-sum / static_cast<double>(lps.size()));
  const auto file = write_text("long_text.txt", golden_case["text"]);
  const auto out = run_plugin("metric.perplexity", {{"data", file.string()}, {"text_format", "raw"}, {"bootstrap_resamples", 0}},
                              {{"models", {model_artifact("gpt2", "gpt2")}}});
  const auto& row = out.row("gpt2", "perplexity.ppl");
  BOOST_TEST_MESSAGE("ppl gpt2 long_text: " << row.value << " vs HF " << expected);
  BOOST_TEST(std::fabs(row.value / expected - 1) <= 2e-5);
  BOOST_TEST(*row.n == 39);  // 40 tokens, the first has no context
  BOOST_TEST(row.extra["max_length"].get<std::size_t>() == 1024u);
  BOOST_TEST(out.row("gpt2", "perplexity.nll").value == std::log(row.value), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(strided_windows_match_direct_forward_passes) {
  const auto file = write_text("long_text.txt", long_text());
  const auto model = biaslab::runtime::load_model(metric_test::fixture("gpt2"));
  const auto tok = biaslab::runtime::load_tokenizer(metric_test::fixture("gpt2"));
  const auto ids = tok->encode(long_text(), true).ids;  // 40 tokens
  const std::size_t max_length = 16, stride = 6;
  // HF guide loop written out: windows [begin, min(begin + 16, n)); targets the last trg_len tokens.
  double token_nll = 0, guide_nll = 0, guide_weight = 0;
  std::size_t tokens = 0, windows = 0, prev_end = 0;
  for (std::size_t begin = 0; begin < ids.size(); begin += stride) {
    const std::size_t end = std::min(begin + max_length, ids.size());
    const std::size_t trg_len = end - prev_end;
    std::vector<std::int64_t> window(ids.begin() + begin, ids.begin() + end);
    const auto lp = torch::log_softmax(model->forward(torch::tensor(window).unsqueeze(0))[0], -1);
    const std::size_t len = end - begin;
    const std::size_t first_label = trg_len >= len ? 1 : len - trg_len;  // labels before it are -100 / shifted out
    double nll = 0;
    for (std::size_t j = first_label; j < len; ++j) nll -= lp[static_cast<std::int64_t>(j) - 1][window[j]].item<float>();
    const std::size_t scored = len - first_label;
    token_nll += nll;
    tokens += scored;
    const double valid = static_cast<double>(std::min(trg_len, len));
    guide_nll += nll / static_cast<double>(scored) * (valid - 1);
    guide_weight += valid - 1;
    ++windows;
    prev_end = end;
    if (end == ids.size()) break;
  }
  for (const char* reduction : {"tokens", "hf_guide"}) {
    const auto out = run_plugin("metric.perplexity",
                                {{"data", file.string()}, {"text_format", "raw"}, {"max_length", max_length},
                                 {"stride", stride}, {"reduction", reduction}, {"batch_size", 3}, {"bootstrap_resamples", 100}},
                                {{"models", {model_artifact("gpt2", "gpt2")}}});
    const auto& row = out.row("gpt2", "perplexity.ppl");
    const double expected = std::string(reduction) == "tokens" ? std::exp(token_nll / tokens) : std::exp(guide_nll / guide_weight);
    BOOST_TEST_CONTEXT(reduction) {
      BOOST_TEST(std::fabs(row.value / expected - 1) <= 1e-5);
      BOOST_TEST(*row.n == static_cast<std::int64_t>(tokens));
      BOOST_TEST(row.extra["windows"].get<std::size_t>() == windows);
      BOOST_TEST(out.examples_of("gpt2", "perplexity").size() == windows);
      BOOST_TEST((*row.ci_low <= row.value && row.value <= *row.ci_high));
    }
  }
  BOOST_TEST(tokens == ids.size() - 1);  // every token but the first scored exactly once
}

BOOST_AUTO_TEST_CASE(text_sources_give_the_same_tokens) {
  // Rows as HF datasets reads a text file (blank lines -> ""), joined with "\n\n".
  const auto lines = write_text("lines.txt", "The first line.\n\n A second one \n  \nlast line without newline");
  const auto joined = write_text("joined.txt",
                                 "The first line.\n\n\n\n\n A second one \n\n\n\n\nlast line without newline");
  const auto corpus_dir = metric_test::temp_dir("corpus");
  std::ofstream(corpus_dir / "validation.jsonl") << json{{"text", "The first line.\n"}}.dump() << "\n"
                                                 << json{{"text", ""}}.dump() << "\n"
                                                 << json{{"text", " A second one \n"}}.dump() << "\n"
                                                 << json{{"text", ""}}.dump() << "\n"
                                                 << json{{"text", "last line without newline"}}.dump() << "\n";
  biaslab::Artifact corpus{.type = "corpus", .path = corpus_dir, .key = "corpus", .producer = "corpus"};
  const json common = {{"bootstrap_resamples", 0}};
  auto ppl = [&](json params, bool with_corpus) {
    params.update(common);
    std::map<std::string, std::vector<biaslab::Artifact>> inputs = {{"models", {model_artifact("gpt2", "gpt2")}}};
    if (with_corpus) inputs["corpus"] = {corpus};
    const auto out = run_plugin("metric.perplexity", params, inputs);
    return out.row("gpt2", "perplexity.ppl");
  };
  const auto a = ppl({{"data", lines.string()}}, false);
  const auto b = ppl({{"data", joined.string()}, {"text_format", "raw"}}, false);
  const auto c = ppl({}, true);
  BOOST_TEST(a.value == b.value);
  BOOST_TEST(*a.n == *b.n);
  BOOST_TEST(c.value == b.value);
  BOOST_TEST(c.extra["corpus"] == "corpus");
  // The default data file: wikitext-2-raw-v1 test from the data mirror (first 1,000 tokens).
  const auto wiki = ppl({{"max_tokens", 1000}, {"max_length", 256}, {"stride", 128}}, false);
  BOOST_TEST(wiki.extra["tokens"].get<std::size_t>() == 1000u);
  BOOST_TEST(*wiki.n == 999);
  BOOST_TEST((wiki.value > 1.0 && wiki.value < 50257.0 * 10));
}

BOOST_AUTO_TEST_CASE(pseudo_perplexity_of_a_masked_lm) {
  const std::string text = "Jerome owned a winery in Napa Valley.";
  const auto file = write_text("short.txt", text);
  const auto out = run_plugin("metric.perplexity", {{"data", file.string()}, {"text_format", "raw"}, {"bootstrap_resamples", 0}},
                              {{"models", {model_artifact("bert", "bert")}}});
  const auto model = biaslab::runtime::load_model(metric_test::fixture("bert"));
  const auto tok = biaslab::runtime::load_tokenizer(metric_test::fixture("bert"));
  const auto ids = tok->encode(text, true).ids;  // [CLS] ... [SEP]
  double nll = 0;
  for (std::size_t p = 1; p + 1 < ids.size(); ++p) {
    auto masked = ids;
    masked[p] = *tok->mask_id();
    const auto lp = torch::log_softmax(model->forward(torch::tensor(masked).unsqueeze(0))[0][static_cast<std::int64_t>(p)], -1);
    nll -= lp[ids[p]].item<float>();
  }
  const double expected = std::exp(nll / static_cast<double>(ids.size() - 2));
  const auto& row = out.row("bert", "perplexity.pseudo_ppl");
  BOOST_TEST(std::fabs(row.value / expected - 1) <= 1e-5);
  BOOST_TEST(*row.n == static_cast<std::int64_t>(ids.size() - 2));
}

BOOST_AUTO_TEST_CASE(models_sharing_a_tokenizer_are_compared_window_by_window) {
  std::string text;
  for (int i = 0; i < 10; ++i) text += long_text() + "\n";
  const auto file = write_text("repeated.txt", text);
  const auto out = run_plugin("metric.perplexity",
                              {{"data", file.string()}, {"text_format", "raw"}, {"max_length", 96}, {"stride", 48},
                               {"bootstrap_resamples", 200}, {"permutations", 1000}},
                              {{"models", {model_artifact("gpt_neox", "neox"), model_artifact("llama", "llama")}}});
  const auto& diff = out.row("llama", "perplexity.ppl.diff");
  BOOST_TEST(diff.value == out.row("llama", "perplexity.ppl").value - out.row("neox", "perplexity.ppl").value,
             boost::test_tools::tolerance(1e-9));
  BOOST_TEST(*diff.n == static_cast<std::int64_t>(out.row("neox", "perplexity.ppl").extra["windows"].get<std::size_t>()));
  BOOST_TEST((*diff.ci_low <= diff.value && diff.value <= *diff.ci_high));
  // gpt2 tokenizes differently: no paired row.
  const auto mixed = run_plugin("metric.perplexity",
                                {{"data", file.string()}, {"text_format", "raw"}, {"max_length", 64}, {"stride", 32},
                                 {"bootstrap_resamples", 0}},
                                {{"models", {model_artifact("gpt2", "gpt2"), model_artifact("gpt_neox", "neox")}}});
  BOOST_TEST(!mixed.has_row("neox", "perplexity.ppl.diff"));
}

BOOST_AUTO_TEST_SUITE_END()
