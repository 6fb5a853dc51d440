#define BOOST_TEST_MODULE biaslab_runtime_cli
#include <boost/test/unit_test.hpp>
// `biaslab score` and `biaslab model info`, run in-process (the command functions are compiled
// into this test) on the HF fixtures, checked against their goldens.
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "biaslab/runtime/safetensors.hpp"
#include "cli/commands.hpp"
#include "test_util.hpp"

namespace t = biaslab::runtime::test;
using biaslab::cli::Args;
using nlohmann::json;

namespace {

struct Run {
  int rc = 0;
  std::string out, err;
  std::vector<json> lines() const {
    std::vector<json> v;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) v.push_back(json::parse(line));
    return v;
  }
};

// Runs a command with `input` on stdin, capturing stdout and stderr.
Run run(int (*command)(const Args&, const biaslab::cli::GlobalOptions&), const Args& args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  auto* old_in = std::cin.rdbuf(in.rdbuf());
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  Run r;
  try {
    r.rc = command(args, biaslab::cli::GlobalOptions{});
  } catch (...) {
    std::cin.rdbuf(old_in);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cin.rdbuf(old_in);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(score_causal_lines) {
  const auto model = t::fixture("gpt2").string();
  auto r = run(biaslab::cli::cmd_score, {"--model", model, "--batch-size", "2"},
               "Hello world\nThey called a meeting at my job today, as I was turning out of my driveway I looked at "
               "my Mexican neighbor with a smile, he can't get a job no one wants or needs him.\n\nHello\n");
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.err);
  const auto lines = r.lines();
  BOOST_REQUIRE_EQUAL(lines.size(), 4u);
  BOOST_TEST(lines[0]["ids"] == json({15496, 995}));
  BOOST_TEST(lines[0]["tokens"] == json({"Hello", "\xc4\xa0world"}));
  BOOST_TEST(lines[0]["logprobs"][0].is_null());
  biaslab::runtime::SafetensorsFile g(t::fixture("gpt2") / "golden" / "goldens.safetensors");
  const auto golden_short = g.load("short.token_logprobs");
  BOOST_TEST(lines[0]["logprobs"][1].get<double>() == golden_short[0][0].item<double>(),
             boost::test_tools::tolerance(1e-4));
  const auto golden_long = g.load("long_text.token_logprobs");
  const auto& long_line = lines[1];
  BOOST_REQUIRE_EQUAL(long_line["ids"].size(), 40u);
  double sum = 0;
  for (int k = 1; k < 40; ++k) {
    const double v = long_line["logprobs"][k].get<double>();
    BOOST_TEST(std::abs(v - golden_long[0][k - 1].item<double>()) <= 1e-4);
    sum += v;
  }
  BOOST_TEST(long_line["sum"].get<double>() == sum, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(lines[2]["ids"].empty());
  BOOST_TEST(lines[2]["sum"].get<double>() == 0.0);
  BOOST_TEST(lines[3]["logprobs"] == json::array({nullptr}));

  // --prefix-bos: every token is scored, conditioned on <|endoftext|>.
  auto p = run(biaslab::cli::cmd_score, {"--model", model, "--prefix-bos"}, "Hello world\n");
  BOOST_REQUIRE_MESSAGE(p.rc == 0, p.err);
  const auto with_bos = p.lines().at(0);
  BOOST_TEST(with_bos["prefix_ids"] == json({50256}));
  BOOST_TEST(with_bos["logprobs"][0].is_number());
  BOOST_TEST(with_bos["logprobs"][0].get<double>() < 0.0);
}

BOOST_AUTO_TEST_CASE(score_masked_pseudo_log_likelihood) {
  const auto model = t::fixture("bert").string();
  auto r = run(biaslab::cli::cmd_score, {"--model", model, "--masked"}, "Jerome owned a winery in Napa Valley.\n");
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.err);
  const auto line = r.lines().at(0);
  BOOST_TEST(line["ids"] == json({101, 11120, 3079, 1037, 23910, 1999, 18996, 2050, 3028, 1012, 102}));
  BOOST_TEST(line["logprobs"][0].is_null());   // [CLS]
  BOOST_TEST(line["logprobs"][10].is_null());  // [SEP]
  // Position 3 masked alone: the golden log-probability of the original token "a".
  BOOST_TEST(line["logprobs"][3].get<double>() == -12.21266, boost::test_tools::tolerance(1e-5));
  double sum = 0;
  for (int k = 1; k < 10; ++k) sum += line["logprobs"][k].get<double>();
  BOOST_TEST(line["sum"].get<double>() == sum, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(score_usage_errors) {
  BOOST_TEST(run(biaslab::cli::cmd_score, {}).rc == 2);
  BOOST_TEST(run(biaslab::cli::cmd_score, {"--model", t::fixture("bert").string()}, "x\n").rc == 2);  // needs --masked
  BOOST_TEST(run(biaslab::cli::cmd_score, {"--model", t::fixture("gpt2").string(), "--masked"}, "x\n").rc == 2);
  BOOST_TEST(run(biaslab::cli::cmd_score, {"--model", "/nonexistent"}, "x\n").rc == 1);
  BOOST_TEST(run(biaslab::cli::cmd_score, {"--model", t::fixture("gpt2").string(), "--batch-size", "0"}).rc == 2);
  BOOST_TEST(run(biaslab::cli::cmd_score, {"--help"}).rc == 0);
}

BOOST_AUTO_TEST_CASE(model_info) {
  auto r = run(biaslab::cli::cmd_model, {"info", t::fixture("gpt_neox").string(), "--json"});
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.err);
  const auto info = r.lines().at(0);
  BOOST_TEST(info["architecture"] == "GPTNeoXForCausalLM");
  BOOST_TEST(info["dtype"] == "float16");
  // embed_in + embed_out 2 x 50304 x 64, 2 layers of (4 x 64 + 64x192+192 + 64x64+64 + 64x256+256 + 256x64+64), final LN.
  const std::int64_t layer = 4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64;
  const std::int64_t params = 2 * 50304 * 64 + 2 * layer + 2 * 64;
  BOOST_TEST(info["parameter_count"].get<std::int64_t>() == params);
  BOOST_TEST(info["storage_bytes"].get<std::int64_t>() == 2 * params);
  BOOST_TEST(info["linear_layers"].size() == 9u);
  BOOST_TEST(info["linear_layers"][0]["name"] == "gpt_neox.layers.0.attention.query_key_value");
  BOOST_TEST(info["linear_layers"][8]["output_head"] == true);
  auto text = run(biaslab::cli::cmd_model, {"info", t::fixture("bert").string()});
  BOOST_REQUIRE_EQUAL(text.rc, 0);
  BOOST_TEST(text.out.find("BertForMaskedLM") != std::string::npos);
  BOOST_TEST(text.out.find("bert.encoder.layer.1.output.dense") != std::string::npos);
  BOOST_TEST(run(biaslab::cli::cmd_model, {"info"}).rc == 2);
  BOOST_TEST(run(biaslab::cli::cmd_model, {"info", "/nonexistent"}).rc == 1);
}
